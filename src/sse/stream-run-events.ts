import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Session } from 'better-sse';
import { chunkSocket } from './chunk-socket.js';
import { loadBetterSse } from './load-better-sse.js';
import { parseLastEventId } from './parse-last-event-id.js';
import {
  answerResult,
  DEFAULT_KEEP_ALIVE_MS,
  DEFAULT_RETRY_MS,
  ERROR_HEADERS,
  endOfFollow,
  errorBodyText,
  normalizeHeaders,
  preflight,
  type RunEventsOptions,
  type StreamOutcome,
  type StreamRunEventsResult,
} from './run-events.js';
import { type FrameBatch, runFrames } from './run-fanout.js';

/** Options of {@link streamRunEvents}: see {@link RunEventsOptions}. */
export type StreamRunEventsOptions = RunEventsOptions;

/** The caller's headers, each checked as node checks them when it sends them (throws the same errors). */
function checkedHeaders(headers: RunEventsOptions['headers']): Record<string, string | string[]> {
  const out = normalizeHeaders(headers);
  // node:http is taken here rather than imported at the top: loading it costs every process that
  // imports the library, and only a process that streams needs it (where the server has it loaded).
  const { validateHeaderName, validateHeaderValue } = process.getBuiltinModule('node:http');
  for (const [name, value] of Object.entries(out)) {
    validateHeaderName(name);
    for (const one of Array.isArray(value) ? value : [value]) validateHeaderValue(name, one);
  }
  return out;
}

/** Resolves when the response (or its socket, written to directly) can take more, or when the client is gone. */
async function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  const full = res.writableNeedDrain ? res : res.socket?.writableNeedDrain ? res.socket : undefined;
  if (full === undefined) return;
  try {
    await once(full, 'drain', { signal });
  } catch {
    // Aborted: the caller sees `signal.aborted` and stops.
  }
}

/**
 * Writes a batch of frames in one write: as a ready chunk straight to the socket when
 * {@link chunkSocket} allows it (the batch's chunk is built once for all its clients), else
 * through `res`. Returns `false` when the client must drain before it gets more.
 */
function writeBatch(res: ServerResponse, batch: FrameBatch): boolean {
  const socket = chunkSocket(res);
  if (socket) return socket.write(batch.chunk);
  return res.write(batch.bytes);
}

/**
 * Serves one run's events as a Server-Sent Events stream on a `node:http` response: plain
 * `node:http`, Express, Fastify after `reply.hijack()` (with `request.raw` and `reply.raw`), and
 * anything else that hands out node's `req` and `res`. For `Request → Response` handlers, see
 * {@link runEventsResponse}.
 *
 * - Replays the events after the client's cursor (`Last-Event-ID`, or a legacy `?lastEventId=`,
 *   see {@link parseLastEventId}), then follows new events live, also those appended by another
 *   process.
 * - Each event goes out as `id: <cursor>`, `event: <type>`, `data: <payload as JSON>`. JSON text
 *   never holds a raw line break, so every event's data is one `data:` line and a payload with
 *   newlines in its strings arrives intact.
 * - The response ends after the run's terminal event. A client reconnecting after that gets
 *   `204 No Content`, which tells `EventSource` to stop.
 * - With `runs`, a run that exists but has no event yet is streamed from its first event: a
 *   browser's `EventSource` opened right after the run was started is not turned away.
 * - A client that disconnects aborts the follow: watchers and timers are released.
 * - An invalid run id answers `400` (the body gives the id rule) before any file is read; an
 *   unknown run `404`. `errorBody` shapes those bodies.
 * - Headers already set on `res` are kept; `headers` adds more.
 *
 * The wire format (headers, `retry:`, field encoding) comes from `better-sse`.
 *
 * Never rejects: failures are reported in the result (and as a `500` when nothing was sent yet),
 * so a plain `node:http` handler can call it without `await` and without crashing the process.
 *
 * @example
 * ```ts
 * const stores = createStores();
 * http.createServer((req, res) => {
 *   const match = /^\/runs\/([^/]+)\/events$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
 *   if (match) void streamRunEvents(req, res, { ...stores, runId: decodeURIComponent(match[1]!) });
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
  const keepAliveMs = options.keepAliveMs === undefined ? DEFAULT_KEEP_ALIVE_MS : options.keepAliveMs;
  const retryMs = options.retryMs === undefined ? DEFAULT_RETRY_MS : options.retryMs;
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams.get('lastEventId');
  const after = parseLastEventId(req.headers['last-event-id'], query) ?? 0;
  const result = (outcome: StreamOutcome, status: number, sent: number, lastSent: number, error?: unknown) =>
    error === undefined
      ? { outcome, status, sent, after, lastSent }
      : { outcome, status, sent, after, lastSent, error };

  let headers: Record<string, string | string[]>;
  try {
    headers = checkedHeaders(options.headers);
  } catch (error) {
    // Refused before anything is written: better-sse would send them later, outside any try.
    if (!res.headersSent) res.writeHead(500, ERROR_HEADERS).end();
    return result('error', 500, 0, after, error);
  }
  const answer = await preflight(options, after);
  if (answer.kind === 'answer') {
    if (!res.headersSent && !res.destroyed) {
      if (answer.status === 204) res.writeHead(204, headers).end();
      else res.writeHead(answer.status, { ...headers, ...ERROR_HEADERS }).end(errorBodyText(options, answer.error));
    }
    return answerResult(answer, after);
  }

  // The client may have left while the stores were being checked; a session opened on a closed
  // connection would never hear its 'close' event.
  if (req.destroyed || res.destroyed || res.writableEnded) return result('client_closed', 200, 0, after);

  const stop = new AbortController();
  const { signal } = stop;
  let keepAlive: NodeJS.Timeout | undefined;
  // The keep-alive timer goes with the connection at once, not after the follow has let go.
  const abort = () => {
    clearInterval(keepAlive);
    stop.abort();
  };
  req.once('close', abort);
  res.once('close', abort);

  let sent = 0;
  let lastSent = after;
  let session: Session | undefined;
  try {
    const { createEventBuffer, createSession } = await loadBetterSse();
    // The keep-alive timer is ours, not the library's, so that it is cleared on every path out.
    session = await createSession(req, res, { retry: retryMs, keepAlive: null, trustClientEventId: false, headers });
    if (keepAliveMs) {
      const ping = createEventBuffer().comment().dispatch();
      keepAlive = setInterval(() => {
        if (!signal.aborted) void session?.batch(ping);
      }, keepAliveMs);
      keepAlive.unref();
    }
    // The frames are shared with the run's other clients in this process: written as they are.
    const direct = {
      write: (batch: FrameBatch) => {
        const room = writeBatch(res, batch);
        sent += batch.frames.length;
        lastSent = batch.frames.at(-1)!.cursor;
        return room;
      },
      drained: () => drained(res, signal),
    };
    // A client behind gets the frames one by one: a batch here can hold megabytes, and one
    // write would copy them for this client alone.
    for await (const frames of runFrames(events, runId, after, signal, direct)) {
      if (signal.aborted) break;
      for (const frame of frames) {
        res.write(frame.bytes);
        sent += 1;
        lastSent = frame.cursor;
      }
      await drained(res, signal);
    }
    if (signal.aborted) return result('client_closed', 200, sent, lastSent);
    res.end();
    const end = await endOfFollow(events, runId);
    return end.outcome === 'terminal'
      ? result('terminal', 200, sent, lastSent)
      : result('error', 200, sent, lastSent, end.error);
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
