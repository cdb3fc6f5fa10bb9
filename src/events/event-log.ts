import type { AgentEventLog } from './agent-event-log.js';

/**
 * What every event log offers, whatever it stores on: the public methods of {@link AgentEventLog}.
 * `createStores()` gives the file-backed class; `createPostgresStores()` (from
 * `agent-stores/postgres`) gives another implementation with the same behaviour. Type your code
 * against this to take either.
 */
export type EventLog = Pick<
  AgentEventLog,
  'append' | 'read' | 'follow' | 'lastCursor' | 'isSealed' | 'exists' | 'runIds' | 'delete' | 'verify' | 'close'
>;
