/**
 * `agent-stores/sse`: serve a run's events to browsers and other SSE clients, with replay on reconnect.
 * @packageDocumentation
 */
export { type HeaderValue, parseLastEventId } from './parse-last-event-id.js';
export {
  type RunEventSource,
  type StreamableEvent,
  type StreamOutcome,
  type StreamRunEventsOptions,
  type StreamRunEventsResult,
  streamRunEvents,
} from './stream-run-events.js';
