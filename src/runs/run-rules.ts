// The rules of a run store that do not depend on where runs are kept: input checks, the lifecycle's
// transitions, the records each change produces, staleness, listing order, page cursors and how
// cleanup judges a run. AnalysisRunStore (files, memory) and PostgresRunStore both apply them, so
// the two behave the same by construction.
import { type Clock, checkClockReading, readClock } from '../storage/clock.js';
import {
  ConflictError,
  IllegalTransitionError,
  NotFoundError,
  StoreError,
  ValidationError,
} from '../storage/errors.js';
import { assertValidId } from '../storage/ids.js';
import { parseInput, parseOptions, toJsonValue } from '../storage/validate.js';
import { rememberJsonText } from './beat-file.js';
import {
  type AnalysisRun,
  type AnalysisRunStatus,
  type CleanupOptions,
  CleanupOptionsSchema,
  type CreateRunInput,
  CreateRunInputSchema,
  type FailRunInput,
  FailRunInputSchema,
  isTerminalStatus,
  type RunError,
} from './schemas.js';

/** A JSON value as a run stores it (`result`, `heartbeatDetails`, `error.details`). */
export type Json = NonNullable<AnalysisRun['result']>;

/** Heartbeat details are rewritten on every beat: keep them small. */
export const MAX_HEARTBEAT_DETAILS_BYTES = 16 * 1024;

/** How long a live run may go without a sign of life before it is stale, unless the store is told otherwise. */
export const DEFAULT_STALE_AFTER_MS = 90_000;

/** The statuses a run ends in. */
export type TerminalStatus = 'completed' | 'failed' | 'cancelled';

/** The terminal event that announces each terminal status. */
export const TERMINAL_EVENT: Record<TerminalStatus, string> = {
  completed: 'analysis_completed',
  failed: 'error',
  cancelled: 'end',
};

/** The list and page filters, once parsed. */
export interface RunQuery {
  status?: AnalysisRunStatus | undefined;
  sessionId?: string | undefined;
  tenantId?: string | undefined;
  workspaceId?: string | undefined;
  order?: 'newest' | 'oldest' | undefined;
}

/** A position in the order of runs: `createdAt`, then `runId`. */
export interface RunPosition {
  createdAt: number;
  runId: string;
}

/**
 * The `staleAfterMs` option of a run store: the default when absent.
 * @throws ValidationError when it is not a positive number.
 */
export function parseStaleAfterMs(value: unknown): number {
  const staleAfterMs = value ?? DEFAULT_STALE_AFTER_MS;
  if (typeof staleAfterMs !== 'number' || !(staleAfterMs > 0)) {
    throw new ValidationError(`staleAfterMs must be a positive number of ms, got ${String(staleAfterMs)}`);
  }
  return staleAfterMs;
}

/** A deep copy of a JSON value; much faster than `structuredClone` for the small values of a run. */
export function cloneJson<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) copy[key] = cloneJson((value as Record<string, unknown>)[key]);
  return copy as T;
}

/** A copy the caller may change without touching a store's cached records. */
export function copyRun(run: AnalysisRun): AnalysisRun {
  const copy = { ...run };
  if (typeof run.heartbeatDetails === 'object' && run.heartbeatDetails !== null) {
    copy.heartbeatDetails = cloneJson(run.heartbeatDetails);
  }
  if (typeof run.result === 'object' && run.result !== null) copy.result = cloneJson(run.result);
  if (run.error) copy.error = cloneJson(run.error);
  return copy;
}

/** `value` as the JSON it will be stored as, or a {@link ValidationError}. */
export function toJson(value: unknown, what: string, limit?: number): Json {
  const json = toJsonValue(value, what);
  if (limit !== undefined && Buffer.byteLength(json.text) > limit) {
    throw new ValidationError(`${what} are ${Buffer.byteLength(json.text)} bytes, over the limit of ${limit}`);
  }
  // The checked copy is what JSON.parse of the text would give; its text is kept for the beat file.
  if (typeof json.value === 'object' && json.value !== null) rememberJsonText(json.value, json.text);
  return json.value as Json;
}

/** The details a heartbeat was given, checked: `undefined` keeps the previous ones. */
export function toHeartbeatDetails(details: unknown): Json | undefined {
  return details === undefined ? undefined : toJson(details, 'heartbeat details', MAX_HEARTBEAT_DETAILS_BYTES);
}

/** True when `error` carries `code` (a StoreError's, or a Node error's). */
export function isCode(error: unknown, code: string): boolean {
  return error instanceof StoreError ? error.code === code : (error as { code?: unknown })?.code === code;
}

/** One checked reading of a run store's clock: a bad one is a {@link ValidationError}, before anything is written. */
export function readRunClock(clock: Clock): number {
  return readClock(clock, 'the run store clock() returned');
}

// ---- creation and transitions ----

/**
 * Checks what `create` was given: the id rule first (InvalidIdError), then the schema.
 * @throws InvalidIdError, ValidationError
 */
export function parseCreateInput(input: CreateRunInput): ReturnType<typeof CreateRunInputSchema.parse> {
  const given = (input as { runId?: unknown } | undefined)?.runId;
  if (given !== undefined) assertValidId(given, 'runId');
  return parseInput(CreateRunInputSchema, input, 'run');
}

/** The record of a new pending run: fields in the order of the contract, optional ones only when given. */
export function newRun(
  parsed: ReturnType<typeof CreateRunInputSchema.parse>,
  runId: string,
  now: number,
  updatedAt: number,
): AnalysisRun {
  return {
    runId,
    ...(parsed.tenantId !== undefined && { tenantId: parsed.tenantId }),
    ...(parsed.workspaceId !== undefined && { workspaceId: parsed.workspaceId }),
    sessionId: parsed.sessionId,
    ...(parsed.mode !== undefined && { mode: parsed.mode }),
    question: parsed.question,
    status: 'pending',
    createdAt: now,
    updatedAt,
  };
}

/** The error for a run id that is taken. */
export function runExists(runId: string): ConflictError {
  return new ConflictError(`run '${runId}' already exists; pick another runId, or leave it out to have one generated`);
}

/** `run`, or NotFoundError when there is none. */
export function requireRun(runId: string, run: AnalysisRun | undefined): AnalysisRun {
  if (!run) throw new NotFoundError('run', runId);
  return run;
}

/** @throws IllegalTransitionError unless `current` is pending. */
export function checkStart(current: AnalysisRun): void {
  if (current.status !== 'pending') {
    const hint = current.status === 'running' ? 'it is already running' : 'a finished run cannot start again';
    throw new IllegalTransitionError(current.runId, current.status, 'running', hint);
  }
}

/** The record of a run that started. */
export function startedRun(latest: AnalysisRun, startedAt: number, updatedAt: number): AnalysisRun {
  return { ...latest, status: 'running', startedAt, updatedAt };
}

/** The refusal of a heartbeat on a finished run. */
export function finishedRunBeat(runId: string, status: string): IllegalTransitionError {
  return new IllegalTransitionError(runId, status, 'running', 'a finished run takes no heartbeats');
}

/** @throws IllegalTransitionError when `current` already finished: a run finishes exactly once. */
export function checkEnd(current: AnalysisRun, to: TerminalStatus): void {
  if (isTerminalStatus(current.status)) {
    throw new IllegalTransitionError(current.runId, current.status, to, 'a run finishes exactly once');
  }
}

/** How a run ends: the status, the terminal event's payload and the record's fields. */
export interface Ending {
  to: TerminalStatus;
  payload: unknown;
  fields: Partial<AnalysisRun>;
}

/** What `complete(runId, result?)` does. @throws ValidationError (result not JSON) */
export function completion(result: unknown): Ending {
  const value = result === undefined ? undefined : toJson(result, 'result');
  return {
    to: 'completed',
    payload: value === undefined ? { status: 'completed' } : { status: 'completed', result: value },
    fields: value === undefined ? {} : { result: value },
  };
}

/** What `fail(runId, error)` does. @throws ValidationError */
export function failure(error: FailRunInput): Ending {
  const runError = toRunError(error);
  return { to: 'failed', payload: runError, fields: { error: runError } };
}

/** What `cancel(runId, reason?)` does. @throws ValidationError (reason not a string) */
export function cancellation(reason: unknown): Ending {
  if (reason !== undefined && typeof reason !== 'string') {
    throw new ValidationError(`cancel reason must be a string, got ${typeof reason}`);
  }
  return {
    to: 'cancelled',
    payload: reason === undefined ? { status: 'cancelled' } : { status: 'cancelled', reason },
    fields: { error: { code: 'cancelled', message: reason ?? 'cancelled' } },
  };
}

/** The record of a run that ended. */
export function endedRun(latest: AnalysisRun, ending: Ending, completedAt: number, updatedAt: number): AnalysisRun {
  return { ...latest, ...ending.fields, status: ending.to, completedAt, updatedAt };
}

/** The refusal of an ending once the run's sealed log said it ended otherwise (and the record now follows the log). */
export function contradictsLog(repaired: AnalysisRun, to: TerminalStatus): IllegalTransitionError {
  return new IllegalTransitionError(
    repaired.runId,
    repaired.status,
    to,
    `its event log had already ended as '${repaired.status}'; the record now says so too`,
  );
}

/** Normalises what `fail()` takes into the stored `{ code, message, details? }`. */
export function toRunError(input: FailRunInput): RunError {
  if (input instanceof Error) {
    const code = (input as { code?: unknown }).code;
    return { code: typeof code === 'string' && code ? code : 'failed', message: input.message || input.name };
  }
  const parsed = parseInput(FailRunInputSchema, input, 'run error');
  if (typeof parsed === 'string') return { code: 'failed', message: parsed };
  const error: RunError = { code: parsed.code ?? 'failed', message: parsed.message };
  if (parsed.details !== undefined) error.details = toJson(parsed.details, 'error details');
  return error;
}

/** What a terminal event says about how the run ended. */
export function endFromEvent(event: { type: string; payload: unknown; at: number }): Partial<AnalysisRun> & {
  status: AnalysisRunStatus;
} {
  const payload = (typeof event.payload === 'object' && event.payload !== null ? event.payload : {}) as Record<
    string,
    unknown
  >;
  const completedAt = Math.max(0, Math.trunc(event.at));
  switch (event.type) {
    case 'analysis_completed': {
      const result = 'result' in payload ? payload.result : event.payload;
      return result === undefined || result === null
        ? { status: 'completed', completedAt }
        : { status: 'completed', completedAt, result: result as Json };
    }
    case 'error':
      return {
        status: 'failed',
        completedAt,
        error: {
          code: typeof payload.code === 'string' && payload.code ? payload.code : 'failed',
          message: typeof payload.message === 'string' ? payload.message : 'the run failed (see its event log)',
        },
      };
    case 'end':
      return {
        status: 'cancelled',
        completedAt,
        error: { code: 'cancelled', message: typeof payload.reason === 'string' ? payload.reason : 'cancelled' },
      };
    default:
      return {
        status: 'failed',
        completedAt,
        error: { code: 'log_sealed', message: `the run's event log ended with '${event.type}'` },
      };
  }
}

/** The record of a live run finished as its sealed log's last event (`terminal`, if any) says. */
export function finishedFromLog(
  latest: AnalysisRun,
  terminal: { type: string; payload: unknown; at: number } | undefined,
  now: number,
  updatedAt: number,
): AnalysisRun {
  const end = terminal
    ? endFromEvent(terminal)
    : { status: 'failed' as const, error: { code: 'log_sealed', message: "the run's event log is sealed" } };
  return { ...latest, ...end, completedAt: end.completedAt ?? now, updatedAt };
}

/** The last event of a sealed log: the one that sealed it. */
export async function terminalEvent(
  events: {
    lastCursor(runId: string): Promise<number> | number;
    read(
      runId: string,
      options?: { after?: number; limit?: number },
    ): AsyncIterable<{ type: string; payload: unknown; at: number }>;
  },
  runId: string,
): Promise<{ type: string; payload: unknown; at: number } | undefined> {
  const last = await events.lastCursor(runId);
  let terminal: { type: string; payload: unknown; at: number } | undefined;
  for await (const event of events.read(runId, { after: Math.max(0, last - 1), limit: 1 })) terminal = event;
  return terminal;
}

// ---- staleness, retention and cleanup ----

/** The latest sign of life of a run: its heartbeat, start or creation, whichever is latest. */
export function lastSignOfLife(run: AnalysisRun): number {
  return Math.max(run.heartbeatAt ?? 0, run.startedAt ?? 0, run.createdAt);
}

/**
 * A live run is fresh while one of its signs of life lies within `staleAfterMs` of `now`, on
 * either side. The future side is the tolerance for clocks: a sign of life further ahead than
 * that was stamped by a clock that was wrong, and must not keep a dead run alive until real
 * time catches up with it. Finished runs are never stale.
 */
export function isStaleAt(run: AnalysisRun, now: number, staleAfterMs: number): boolean {
  if (isTerminalStatus(run.status)) return false;
  for (const at of [run.heartbeatAt, run.startedAt, run.createdAt]) {
    if (at !== undefined && Math.abs(now - at) <= staleAfterMs) return false;
  }
  return true;
}

/** A finished run that ended more than `retentionMs` before `now`. */
export function isExpired(run: AnalysisRun, now: number, retentionMs: number): boolean {
  return isTerminalStatus(run.status) && now - (run.completedAt ?? run.updatedAt) > retentionMs;
}

/** The `now` of `isStale(run, now?)`: the one given, checked, or the clock's. */
export function staleNow(now: unknown, clock: Clock): number {
  return now === undefined ? readRunClock(clock) : checkClockReading(now, 'isStale() now');
}

/** Why cleanup abandoned a stale run: the `error` of its record and of its terminal event. */
export function staleError(run: AnalysisRun, now: number, staleAfterMs: number): RunError {
  const lastAlive = lastSignOfLife(run);
  return {
    code: 'heartbeat_stale',
    message:
      lastAlive > now
        ? `its latest sign of life is ${lastAlive - now} ms in the future, beyond the tolerance of staleAfterMs ${staleAfterMs} (a clock was wrong); no heartbeat at a believable time, so the process running it is presumed dead`
        : `no heartbeat for ${now - lastAlive} ms (staleAfterMs ${staleAfterMs}); the process running it is presumed dead`,
    details: { lastSignOfLifeAt: lastAlive, staleAfterMs },
  };
}

/** The record of a stale run that cleanup abandoned. */
export function abandonedRun(latest: AnalysisRun, error: RunError, now: number, updatedAt: number): AnalysisRun {
  return { ...latest, status: 'failed', completedAt: now, updatedAt, error };
}

/** A cleanup pass's options, parsed, with the store's defaults filled in and `now` read. */
export interface CleanupPass {
  retentionMs: number;
  staleAfterMs: number;
  dryRun: boolean;
  now: number;
  onProgress: ((judged: number, total: number) => void) | undefined;
}

/** @throws ValidationError for bad options (a `now` that is not whole epoch ms in range). */
export function parseCleanupOptions(options: CleanupOptions, clock: Clock, defaultStaleAfterMs: number): CleanupPass {
  const parsed = parseOptions(CleanupOptionsSchema, options, 'cleanup options');
  return {
    retentionMs: parsed.retentionMs,
    staleAfterMs: parsed.staleAfterMs ?? defaultStaleAfterMs,
    dryRun: parsed.dryRun ?? false,
    now: parsed.now === undefined ? readRunClock(clock) : checkClockReading(parsed.now, 'cleanup() now'),
    onProgress: parsed.onProgress,
  };
}

/** What a pass does to `run` by the rules alone (a dry run's verdict, and the first look of a real one). */
export function cleanupVerdict(run: AnalysisRun, pass: CleanupPass): 'kept' | 'abandoned' | 'deleted' {
  if (!isTerminalStatus(run.status)) return isStaleAt(run, pass.now, pass.staleAfterMs) ? 'abandoned' : 'kept';
  return isExpired(run, pass.now, pass.retentionMs) ? 'deleted' : 'kept';
}

/**
 * @throws ConflictError when `current` is live and fresh and `force` is not set: a process is
 * still working on it.
 */
export function checkDeletable(current: AnalysisRun, now: number, staleAfterMs: number, force: boolean): void {
  if (!force && !isTerminalStatus(current.status) && !isStaleAt(current, now, staleAfterMs)) {
    throw new ConflictError(
      `run '${current.runId}' is ${current.status} and its heartbeat is fresh: a process is still working on it. Finish or cancel it first, or pass { force: true }`,
    );
  }
}

// ---- listing and paging ----

/** True when `run` matches every filter of `query` that is given. */
export function matchesQuery(run: AnalysisRun, query: RunQuery): boolean {
  return (
    (query.status === undefined || run.status === query.status) &&
    (query.sessionId === undefined || run.sessionId === query.sessionId) &&
    (query.tenantId === undefined || run.tenantId === query.tenantId) &&
    (query.workspaceId === undefined || run.workspaceId === query.workspaceId)
  );
}

/** Orders runs by `createdAt`, then `runId` (by UTF-16 code units), oldest first. */
export function compareRuns(a: RunPosition, b: RunPosition): number {
  return a.createdAt - b.createdAt || (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0);
}

/** Sorts `runs` in place in `order` (newest first by default) and returns them. */
export function sortRuns(runs: AnalysisRun[], order: 'newest' | 'oldest' = 'newest'): AnalysisRun[] {
  runs.sort(compareRuns);
  if (order === 'newest') runs.reverse();
  return runs;
}

/** True when `run` lies beyond `after` in `order`: older for `newest`, newer for `oldest`. */
export function isBeyond(run: RunPosition, after: RunPosition, order: 'newest' | 'oldest'): boolean {
  return Math.sign(compareRuns(run, after)) === (order === 'newest' ? -1 : 1);
}

/** A page cursor: the order and the position of the last run given, base64url JSON. */
export function encodeCursor(order: 'newest' | 'oldest', run: RunPosition): string {
  return Buffer.from(JSON.stringify([order, run.createdAt, run.runId])).toString('base64url');
}

/** The position a cursor stands for. @throws ValidationError for a cursor not given out, or given for the other order. */
export function decodeCursor(cursor: string, order: 'newest' | 'oldest'): RunPosition {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  if (Array.isArray(decoded) && decoded.length === 3) {
    const [cursorOrder, createdAt, runId] = decoded as unknown[];
    if (
      (cursorOrder === 'newest' || cursorOrder === 'oldest') &&
      Number.isSafeInteger(createdAt) &&
      typeof runId === 'string'
    ) {
      if (cursorOrder !== order) {
        throw new ValidationError(
          `cursor was given out for order '${cursorOrder}', not '${order}': page on with the same order and filters`,
        );
      }
      return { createdAt: createdAt as number, runId };
    }
  }
  throw new ValidationError(
    `cursor ${JSON.stringify(cursor.slice(0, 60))} is not one page() gave out: pass the nextCursor of the previous page, or none for the first`,
  );
}

/**
 * One page out of `candidates`: the runs beyond the cursor, in order, of which at most `limit`
 * are given (ask for `limit + 1` to learn whether there is a next page).
 */
export function pageOf(
  candidates: AnalysisRun[],
  limit: number,
  order: 'newest' | 'oldest',
): { runs: AnalysisRun[]; nextCursor?: string } {
  const runs = candidates.slice(0, limit);
  const last = runs.at(-1);
  return candidates.length > limit && last ? { runs, nextCursor: encodeCursor(order, last) } : { runs };
}
