/**
 * `agent-stores/sse`: serve a run's events to browsers and other SSE clients, with replay on reconnect.
 * {@link streamRunEvents} for `node:http` (Express, Fastify, …), {@link runEventsResponse} for
 * Fetch API handlers (Hono, Next.js route handlers, …).
 * @packageDocumentation
 */
export { type HeaderValue, parseLastEventId } from './parse-last-event-id.js';
export type {
  RunEventSource,
  RunEventsError,
  RunEventsOptions,
  RunRecordSource,
  SseHeaders,
  StreamableEvent,
  StreamOutcome,
  StreamRunEventsResult,
} from './run-events.js';
export { type RunEventsResponseOptions, runEventsResponse } from './run-events-response.js';
export { type StreamRunEventsOptions, streamRunEvents } from './stream-run-events.js';
