export {
  type AgentEvent,
  AgentEventSchema,
  type AppendEventInput,
  AppendEventSchema,
  type EventLogVerifyReport,
  type EventLogWarning,
  EventTypeSchema,
  type ReadEventsOptions,
  ReadEventsOptionsSchema,
} from './agent-event.js';
export {
  AgentEventLog,
  type AgentEventLogOptions,
  AgentEventLogOptionsSchema,
  DEFAULT_TERMINAL_TYPES,
  type FollowEventsOptions,
  FollowEventsOptionsSchema,
  type InMemoryEventLogOptions,
} from './agent-event-log.js';
export type { EventLog } from './event-log.js';
// The seam's real implementation, nodeEventLogIO, is exported from `agent-stores/testing`.
export type { EventFileHandle, EventFileId, EventLogIO } from './event-log-io.js';
