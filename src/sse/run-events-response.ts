import type { createEventBuffer } from 'better-sse';
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
import { type Frame, runFrames } from './run-fanout.js';

/** Options of {@link runEventsResponse}: those of {@link RunEventsOptions}, and `onEnd`. */
export interface RunEventsResponseOptions extends RunEventsOptions {
  /**
   * Called once, when the answer is finished: after an error answer or `204`, after the terminal
   * event, or when the client went away (by then the follow, its watchers and timers are released).
   * What `streamRunEvents` resolves with, for logging. An exception it throws is ignored.
   */
  onEnd?: (result: StreamRunEventsResult) => void;
}

const encoder = new TextEncoder();

function wire(buffer: ReturnType<typeof createEventBuffer>): Uint8Array {
  return encoder.encode(buffer.read());
}

function report(options: RunEventsResponseOptions, result: StreamRunEventsResult): void {
  try {
    options.onEnd?.(result);
  } catch {
    // A logging hook must not break the stream.
  }
}

/**
 * The Fetch API twin of {@link streamRunEvents}: answers a `Request` with a `Response` that
 * streams one run's events as Server-Sent Events, for `Request → Response` handlers (Hono,
 * Next.js route handlers, Deno, Bun, …).
 *
 * Same behaviour: replay after `Last-Event-ID` (or `?lastEventId=`), then live events until the
 * terminal event; `id:`, `event:`, `data:` per event; keep-alive comments; `204` for a client that
 * has everything; `400` for an invalid id (the body gives the rule), `404` for an unknown run
 * (with `runs`, a run with no event yet is streamed from its first event); `errorBody` shapes the
 * error bodies; `headers` are added to every answer.
 *
 * The body is pulled: the next event is read from the log only when the client has taken the
 * previous one, so a slow client never makes the server buffer a run. When the client disconnects
 * (`request.signal` aborts, or the body is cancelled) the follow ends and its watchers and timers
 * are released. If the log fails mid-stream the body ends, and an SSE client reconnects and
 * resumes from its last cursor.
 *
 * Never rejects: a failure before the stream begins is a `500`.
 *
 * @example
 * ```ts
 * // Hono
 * app.get('/runs/:runId/events', (c) => runEventsResponse(c.req.raw, { ...stores, runId: c.req.param('runId') }));
 * ```
 */
export async function runEventsResponse(request: Request, options: RunEventsResponseOptions): Promise<Response> {
  const { events, runId } = options;
  const keepAliveMs = options.keepAliveMs === undefined ? DEFAULT_KEEP_ALIVE_MS : options.keepAliveMs;
  const retryMs = options.retryMs === undefined ? DEFAULT_RETRY_MS : options.retryMs;
  const query = URL.canParse(request.url) ? new URL(request.url).searchParams.get('lastEventId') : null;
  const after = parseLastEventId(request.headers.get('last-event-id'), query) ?? 0;

  // The caller's headers go on every answer; the event-stream ones only on the stream.
  let own: Headers;
  let headers: Headers;
  let sse: Awaited<ReturnType<typeof loadBetterSse>>;
  try {
    sse = await loadBetterSse();
    own = new Headers();
    for (const [name, value] of Object.entries(normalizeHeaders(options.headers))) {
      for (const one of Array.isArray(value) ? value : [value]) own.append(name, one);
    }
    headers = new Headers(sse.Connection.constants.RESPONSE_HEADERS);
    for (const name of new Set(own.keys())) headers.delete(name);
    for (const [name, value] of own) headers.append(name, value);
  } catch (error) {
    report(options, { outcome: 'error', status: 500, sent: 0, after, lastSent: after, error });
    return new Response(null, { status: 500, headers: ERROR_HEADERS });
  }

  const answer = await preflight(options, after);
  if (answer.kind === 'answer') {
    report(options, answerResult(answer, after));
    if (answer.status === 204) return new Response(null, { status: 204, headers: own });
    for (const [name, value] of Object.entries(ERROR_HEADERS)) own.set(name, value);
    return new Response(errorBodyText(options, answer.error), { status: answer.status, headers: own });
  }

  const stop = new AbortController();
  const { signal } = stop;
  let iterator: AsyncIterator<Frame[]> | undefined;
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let keepAlive: NodeJS.Timeout | undefined;
  let sent = 0;
  let lastSent = after;
  let finished = false;

  const finish = (outcome: StreamOutcome, error?: unknown) => {
    if (finished) return;
    finished = true;
    clearInterval(keepAlive);
    request.signal.removeEventListener('abort', onAbort);
    stop.abort();
    // A follow suspended at a `yield` holds its watcher until it is returned.
    const started = iterator;
    if (started?.return) {
      Promise.resolve()
        .then(() => started.return?.())
        .catch(() => {});
    }
    const result: StreamRunEventsResult = { outcome, status: 200, sent, after, lastSent };
    if (error !== undefined) result.error = error;
    report(options, result);
  };
  const onAbort = () => {
    finish('client_closed');
    try {
      controller?.close();
    } catch {
      // Already closed or cancelled.
    }
  };

  const body = new ReadableStream<Uint8Array>(
    {
      start(streamController) {
        controller = streamController;
        if (retryMs !== null) streamController.enqueue(wire(sse.createEventBuffer().retry(retryMs).dispatch()));
        if (keepAliveMs) {
          const ping = wire(sse.createEventBuffer().comment().dispatch());
          keepAlive = setInterval(() => {
            if (!finished) streamController.enqueue(ping);
          }, keepAliveMs);
          keepAlive.unref();
        }
      },
      async pull(streamController) {
        if (finished) return;
        let step: IteratorResult<Frame[]>;
        try {
          iterator ??= runFrames(events, runId, after, signal);
          step = await iterator.next();
        } catch (error) {
          if (finished) return;
          finish('error', error);
          // Ends the body after the events already sent: an SSE client reconnects and resumes.
          streamController.close();
          return;
        }
        if (finished) return;
        if (step.done) {
          streamController.close();
          const end = await endOfFollow(events, runId);
          if (end.outcome === 'terminal') finish('terminal');
          else finish('error', end.error);
          return;
        }
        // The frames are shared with the run's other clients in this process: enqueued as they are.
        for (const frame of step.value) {
          streamController.enqueue(frame.bytes);
          sent += 1;
          lastSent = frame.cursor;
        }
      },
      cancel() {
        finish('client_closed');
      },
    },
    // Pull one event at a time, only when the client has taken the previous one.
    { highWaterMark: 0 },
  );

  if (request.signal.aborted) onAbort();
  else request.signal.addEventListener('abort', onAbort, { once: true });
  return new Response(body, { status: 200, headers });
}
