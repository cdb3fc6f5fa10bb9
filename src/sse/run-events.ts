// What both transports share: the options, the checks made before a stream begins (400, 404,
// 204), and the error bodies. The `node:http` transport is stream-run-events.ts, the Fetch API one
// run-events-response.ts.
import { InvalidIdError } from '../storage/errors.js';
import { isValidId } from '../storage/ids.js';

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
  /**
   * Replays the events after `after`, then yields live ones; ends after the terminal event or when
   * `signal` aborts. For a run with no event yet, waits for its first one.
   */
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

/** The part of {@link AnalysisRunStore} the SSE helper uses: whether a run exists, and its status. */
export interface RunRecordSource {
  /** The run's record, or `undefined` for a run the store does not know. */
  get(runId: string): Promise<{ status: string } | undefined> | { status: string } | undefined;
}

/**
 * Response headers: a plain object (as `res.getHeaders()` or Fastify's `reply.getHeaders()` give
 * them; `undefined` values are skipped) or a Fetch API `Headers`.
 */
export type SseHeaders = Headers | Readonly<Record<string, string | number | readonly string[] | undefined>>;

/** Why the helper answered with an error instead of a stream; given to {@link RunEventsOptions.errorBody}. */
export interface RunEventsError {
  /** `400` for an invalid run id, `404` for an unknown run, `500` when the stores could not be read. */
  status: 400 | 404 | 500;
  /** `INVALID_ID`, `NOT_FOUND` or `INTERNAL`. */
  code: 'INVALID_ID' | 'NOT_FOUND' | 'INTERNAL';
  /** A message for the client: says what was wrong (for `400`, the id rule). Never holds file paths. */
  message: string;
  /** The run id as the caller gave it. */
  runId: string;
  /** The failure behind a `500`, for logging; never sent by the default body. */
  cause?: unknown;
}

/**
 * Options shared by {@link streamRunEvents} and {@link runEventsResponse}. `createStores()`'s
 * result can be spread in as it is (`{ ...stores, runId }`): its `events` and `runs` are the two
 * stores the helper uses, and the other keys are ignored.
 */
export interface RunEventsOptions {
  /** The event log to read from (an `AgentEventLog`). */
  events: RunEventSource;
  /** The run whose events are streamed. Checked against the id rule before any file is read. */
  runId: string;
  /**
   * The run store (an `AnalysisRunStore`). With it, a run that exists but has no event yet is
   * streamed from its first event on (a browser may connect right after starting a run), a run
   * that ended without any event answers `204`, and `404` is kept for a run neither store knows.
   * Without it, a run with no event log answers `404`.
   */
  runs?: RunRecordSource;
  /**
   * Headers added to every answer: the stream, `204` and the error answers. For `node:http`,
   * headers already set on `res` (by middleware such as `cors`) are kept too; Fastify keeps the
   * headers of its hooks on the reply, so pass `headers: reply.getHeaders()` after `reply.hijack()`.
   * @defaultValue none
   */
  headers?: SseHeaders;
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
  /**
   * Shapes the JSON body of the `400`, `404` and `500` answers, for APIs with their own error
   * envelope. Its return value is sent as JSON; the status stays the one given. If it throws, the
   * default body is sent.
   * @defaultValue `({ code, message }) => ({ error: { code, message } })`
   */
  errorBody?: (error: RunEventsError) => unknown;
}

/**
 * How a stream ended:
 * - `terminal`: every event through the run's terminal event was sent, then the response ended.
 * - `client_closed`: the client went away (or the server closed the connection) first.
 * - `nothing_new`: the run is over and the client already has its last event (or the run ended
 *   without any); answered `204`, which tells a standard `EventSource` to stop reconnecting.
 * - `invalid_run_id`: answered `400`. `not_found`: answered `404`.
 * - `error`: reading the stores failed; answered `500`, or, once the stream had begun, the response
 *   was ended early so that the client reconnects and resumes from its last cursor. Also when the
 *   follow stopped before the run's terminal event (its store was closed, or the run deleted).
 */
export type StreamOutcome = 'terminal' | 'client_closed' | 'nothing_new' | 'invalid_run_id' | 'not_found' | 'error';

/** How a stream went, once the response is finished. */
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

export const DEFAULT_KEEP_ALIVE_MS = 15_000;
export const DEFAULT_RETRY_MS = 2_000;

const TERMINAL_RUN_STATUSES = new Set(['completed', 'failed', 'cancelled']);

/** What to do with a request: stream it, or answer at once. */
export type Preflight =
  | { kind: 'stream' }
  | { kind: 'answer'; status: 204; outcome: 'nothing_new' }
  | { kind: 'answer'; status: 400 | 404 | 500; outcome: StreamOutcome; error: RunEventsError };

/** The checks made before a stream begins, in order of cost. Never throws: a failure is a `500`. */
export async function preflight(options: RunEventsOptions, after: number): Promise<Preflight> {
  const { events, runs, runId } = options;
  if (!isValidId(runId)) {
    const message = new InvalidIdError(runId, 'run id').message;
    return {
      kind: 'answer',
      status: 400,
      outcome: 'invalid_run_id',
      error: { status: 400, code: 'INVALID_ID', message, runId: String(runId) },
    };
  }
  try {
    if (!(await logExists(events, runId))) {
      const run = runs ? await runs.get(runId) : undefined;
      if (run === undefined) {
        const message = runs ? `run "${runId}" is not known` : `run "${runId}" has no events`;
        return {
          kind: 'answer',
          status: 404,
          outcome: 'not_found',
          error: { status: 404, code: 'NOT_FOUND', message, runId },
        };
      }
      // A run that ended without a single event will never have one: nothing to wait for.
      if (TERMINAL_RUN_STATUSES.has(run.status)) return { kind: 'answer', status: 204, outcome: 'nothing_new' };
      return { kind: 'stream' };
    }
    if ((await events.isSealed(runId)) && after >= (await events.lastCursor(runId))) {
      return { kind: 'answer', status: 204, outcome: 'nothing_new' };
    }
    return { kind: 'stream' };
  } catch (cause) {
    return {
      kind: 'answer',
      status: 500,
      outcome: 'error',
      error: { status: 500, code: 'INTERNAL', message: `the events of run "${runId}" could not be read`, runId, cause },
    };
  }
}

async function logExists(events: RunEventSource, runId: string): Promise<boolean> {
  if (events.exists) return events.exists(runId);
  // A log with events answers from its cursor; only an empty or missing one needs the listing.
  if ((await events.lastCursor(runId)) > 0) return true;
  return (await events.runIds()).includes(runId);
}

/**
 * How a stream whose follow ended by itself came out: `terminal` when the run is sealed, else an
 * `error` (the follow stops early when its store is closed or the run is deleted).
 */
export async function endOfFollow(
  events: RunEventSource,
  runId: string,
): Promise<{ outcome: 'terminal' } | { outcome: 'error'; error: unknown }> {
  try {
    if (await events.isSealed(runId)) return { outcome: 'terminal' };
    const message = `the follow ended before the terminal event of run "${runId}" (store closed, or run deleted)`;
    return { outcome: 'error', error: new Error(message) };
  } catch (error) {
    return { outcome: 'error', error };
  }
}

/** The JSON text of an error answer: the caller's shape, or the default one. */
export function errorBodyText(options: RunEventsOptions, error: RunEventsError): string {
  const fallback = () => JSON.stringify({ error: { code: error.code, message: error.message } });
  if (!options.errorBody) return fallback();
  try {
    return JSON.stringify(options.errorBody(error)) ?? fallback();
  } catch {
    return fallback();
  }
}

/** Headers as lower-cased names with string or string-array values, `undefined` ones left out. */
export function normalizeHeaders(headers: SseHeaders | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (headers === undefined) return out;
  const entries: [string, unknown][] =
    headers instanceof Headers ? [...headers.entries()] : Object.entries(headers as Record<string, unknown>);
  for (const [name, value] of entries) {
    if (value === undefined || value === null) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.map(String) : String(value);
  }
  return out;
}

export const ERROR_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

/** The result of a stream that answered at once. */
export function answerResult(answer: Extract<Preflight, { kind: 'answer' }>, after: number): StreamRunEventsResult {
  const result: StreamRunEventsResult = {
    outcome: answer.outcome,
    status: answer.status,
    sent: 0,
    after,
    lastSent: after,
  };
  if (answer.status === 500) result.error = answer.error.cause;
  return result;
}
