import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createEventBuffer, createSession, type Session } from 'better-sse';
import { isValidId } from '../storage/ids.js';
import { parseLastEventId } from './parse-last-event-id.js';

/** What the helper needs of an event: the fields that go on the wire. */
export interface StreamableEvent {
  /** Goes out as the SSE `id:`; the client sends it back as `Last-Event-ID`. */
  cursor: number;
  /** Goes out as the SSE `event:`. Must not contain line breaks (the event log refuses them). */
  type: string;
  /** Goes out as the SSE `data:`, serialised as JSON. */
  payload: unknown;
}

/**
 * The part of {@link AgentEventLog} the SSE helper uses. Any object with these methods works,
 * so a test can pass a stub and an application can pass a wrapper (for access checks, say).
 */
export interface RunEventSource {
  /** Replays the events after `after`, then yields live ones; ends after the terminal event or when `signal` aborts. */
  follow(runId: string, options?: { after?: number; signal?: AbortSignal }): AsyncIterable<StreamableEvent>;
  /** Cursor of the run's last event; 0 when it has none. */
  lastCursor(runId: string): Promise<number> | number;
  /** True once the run's log ends with a terminal event. */
  isSealed(runId: string): Promise<boolean> | boolean;
  /** Every run with a log (only used when `exists` is missing). */
  runIds(): Promise<readonly string[]> | readonly string[];
  /** True once the run has a log. Optional: without it, the helper looks for the run in `runIds()`. */
  exists?(runId: string): Promise<boolean> | boolean;
}

/** Options of {@link streamRunEvents}. */
export interface StreamRunEventsOptions {
  /** The event log to read from (an `AgentEventLog`). */
  events: RunEventSource;
  /** The run whose events are streamed. Checked against the id rule before any file is read. */
  runId: string;
  /**
   * How often, in milliseconds, a comment line (`:`) is sent while no event arrives, so proxies and
   * load balancers do not close an idle connection. `0` or `null` turns it off.
   * @defaultValue 15000
   */
  keepAliveMs?: number | null;
  /**
   * The reconnection delay, in milliseconds, the stream asks the client to wait after a dropped
   * connection (the SSE `retry:` field, see
   * {@link https://html.spec.whatwg.org/multipage/server-sent-events.html#concept-event-stream-reconnection-time}).
   * `null` sends none and leaves the choice to the client.
   * @defaultValue 2000
   */
  retryMs?: number | null;
}

/**
 * How a stream ended:
 * - `terminal`: every event through the run's terminal event was sent, then the response ended.
 * - `client_closed`: the client went away (or the server closed the connection) first.
 * - `nothing_new`: the run is sealed and the client already has its last event; answered `204`,
 *   which tells a standard `EventSource` to stop reconnecting.
 * - `invalid_run_id`: answered `400`. `not_found`: answered `404`.
 * - `error`: reading the log failed; answered `500`, or, once the stream had begun, the response was
 *   ended early so that the client reconnects and resumes from its last cursor.
 */
export type StreamOutcome = 'terminal' | 'client_closed' | 'nothing_new' | 'invalid_run_id' | 'not_found' | 'error';

/** What {@link streamRunEvents} resolves with once the response is finished. */
export interface StreamRunEventsResult {
  outcome: StreamOutcome;
  /** The HTTP status sent. */
  status: number;
  /** How many events were written to this client. */
  sent: number;
  /** The cursor the client resumed after (0 for a fresh client). */
  after: number;
  /** The cursor of the last event written, or `after` when none was. */
  lastSent: number;
  /** The failure, when `outcome` is `error`. */
  error?: unknown;
}

function sendJsonError(res: ServerResponse, status: number, code: string, message: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ error: { code, message } }));
}

async function runExists(events: RunEventSource, runId: string): Promise<boolean> {
  if (events.exists) return events.exists(runId);
  // A log with events answers from its cursor; only an empty or missing one needs the listing.
  if ((await events.lastCursor(runId)) > 0) return true;
  return (await events.runIds()).includes(runId);
}

/** Resolves when the socket can take more, or when the client is gone. */
async function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  if (!res.writableNeedDrain || signal.aborted) return;
  try {
    await once(res, 'drain', { signal });
  } catch {
    // Aborted: the caller sees `signal.aborted` and stops.
  }
}

/**
 * Serves one run's events as a Server-Sent Events stream on a `node:http` (or Express) response.
 *
 * - Replays the events after the client's cursor (`Last-Event-ID`, or a legacy `?lastEventId=`,
 *   see {@link parseLastEventId}), then follows new events live, also those appended by another
 *   process.
 * - Each event goes out as `id: <cursor>`, `event: <type>`, `data: <payload as JSON>`. JSON text
 *   never holds a raw line break, so every event's data is one `data:` line and a payload with
 *   newlines in its strings arrives intact.
 * - The response ends after the run's terminal event. A client reconnecting after that gets
 *   `204 No Content`, which tells `EventSource` to stop.
 * - A client that disconnects aborts the follow: watchers and timers are released.
 * - An invalid run id answers `400` before any file is read; an unknown run `404`.
 *
 * The wire format (headers, `retry:`, field encoding) comes from `better-sse`.
 *
 * Never rejects: failures are reported in the result (and as a `500` when nothing was sent yet),
 * so a plain `node:http` handler can call it without `await` and without crashing the process.
 *
 * @example
 * ```ts
 * http.createServer((req, res) => {
 *   const match = /^\/runs\/([^/]+)\/events$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
 *   if (match) void streamRunEvents(req, res, { events: stores.events, runId: decodeURIComponent(match[1]!) });
 *   else res.writeHead(404).end();
 * });
 * ```
 */
export async function streamRunEvents(
  req: IncomingMessage,
  res: ServerResponse,
  options: StreamRunEventsOptions,
): Promise<StreamRunEventsResult> {
  const { events, runId } = options;
  const keepAliveMs = options.keepAliveMs === undefined ? 15_000 : options.keepAliveMs;
  const retryMs = options.retryMs === undefined ? 2_000 : options.retryMs;
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams.get('lastEventId');
  const after = parseLastEventId(req.headers['last-event-id'], query) ?? 0;
  const result = (outcome: StreamOutcome, status: number, sent = 0, lastSent = after, error?: unknown) =>
    error === undefined
      ? { outcome, status, sent, after, lastSent }
      : { outcome, status, sent, after, lastSent, error };

  if (!isValidId(runId)) {
    sendJsonError(res, 400, 'INVALID_ID', `run id ${JSON.stringify(String(runId)).slice(0, 150)} is not valid`);
    return result('invalid_run_id', 400);
  }

  try {
    if (!(await runExists(events, runId))) {
      sendJsonError(res, 404, 'NOT_FOUND', `run '${runId}' has no event log`);
      return result('not_found', 404);
    }
    if ((await events.isSealed(runId)) && after >= (await events.lastCursor(runId))) {
      res.writeHead(204).end();
      return result('nothing_new', 204);
    }
  } catch (error) {
    sendJsonError(res, 500, 'INTERNAL', 'the run events could not be read');
    return result('error', 500, 0, after, error);
  }

  // The client may have left while the log was being checked; a session opened on a closed
  // connection would never hear its 'close' event.
  if (req.destroyed || res.destroyed || res.writableEnded) return result('client_closed', 200);

  const stop = new AbortController();
  const { signal } = stop;
  const abort = () => stop.abort();
  req.once('close', abort);
  res.once('close', abort);

  let keepAlive: NodeJS.Timeout | undefined;
  let sent = 0;
  let lastSent = after;
  let session: Session | undefined;
  try {
    // The keep-alive timer is ours, not the library's, so that it is cleared on every path out.
    session = await createSession(req, res, { retry: retryMs, keepAlive: null, trustClientEventId: false });
    if (keepAliveMs) {
      const ping = createEventBuffer().comment().dispatch();
      keepAlive = setInterval(() => {
        if (!signal.aborted) void session?.batch(ping);
      }, keepAliveMs);
      keepAlive.unref();
    }
    for await (const event of events.follow(runId, { after, signal })) {
      if (signal.aborted) break;
      session.push(event.payload, event.type, String(event.cursor));
      sent += 1;
      lastSent = event.cursor;
      await drained(res, signal);
    }
    if (signal.aborted) return result('client_closed', 200, sent, lastSent);
    res.end();
    return result('terminal', 200, sent, lastSent);
  } catch (error) {
    if (signal.aborted) return result('client_closed', 200, sent, lastSent);
    // The stream has begun, so no status can be sent any more. End it (which also delivers the
    // events already written): an SSE client reconnects and resumes from its last cursor.
    res.end();
    return result('error', 200, sent, lastSent, error);
  } finally {
    clearInterval(keepAlive);
    req.off('close', abort);
    res.off('close', abort);
    stop.abort();
  }
}
