import { type Clock, nextStamp, systemClock } from '../storage/clock.js';
import {
  CorruptStoreError,
  IllegalTransitionError,
  LockError,
  NotFoundError,
  StoreClosedError,
  StoreError,
  StoreIOError,
  ValidationError,
} from '../storage/errors.js';
import { assertValidId } from '../storage/ids.js';
import type { StorageIO } from '../storage/io.js';
import type { LockOptions } from '../storage/lock.js';
import { parseOptions } from '../storage/validate.js';
import { type CleanupHandle, startRunCleanup } from './cleanup-timer.js';
import { FileRunBackend } from './file-run-backend.js';
import { type HeartbeatHandle, startRunHeartbeat } from './heartbeat-timer.js';
import { MemoryRunBackend } from './memory-run-backend.js';
import { type Beat, BUSY, FENCED, type OnUnreadable, type RunBackend } from './run-backend.js';
import type { RunEventSink } from './run-event-sink.js';
import type { RunFilesIO } from './run-files-io.js';
import { newRunId } from './run-id.js';
import {
  cancellation,
  checkDeletable,
  checkStart,
  cleanupVerdict,
  completion,
  copyRun,
  decodeCursor,
  type Ending,
  failure,
  finishedRunBeat,
  isBeyond,
  isExpired,
  isStaleAt,
  type Json,
  matchesQuery,
  newRun,
  pageOf,
  parseCleanupOptions,
  parseCreateInput,
  parseStaleAfterMs,
  type RunQuery,
  readRunClock,
  requireRun,
  runExists,
  sortRuns,
  staleNow,
  startedRun,
  toHeartbeatDetails,
} from './run-rules.js';
import {
  endHeldRun,
  type HeldRun,
  type RunStepContext,
  requireHeld,
  sweepHeldFinishedRun,
  sweepHeldLiveRun,
} from './run-steps.js';
import {
  type AnalysisRun,
  type CleanupOptions,
  type CleanupReport,
  type CreateRunInput,
  type DeleteRunOptions,
  DeleteRunOptionsSchema,
  type FailRunInput,
  isTerminalStatus,
  type ListRunsFilter,
  ListRunsFilterSchema,
  type PageRunsOptions,
  PageRunsOptionsSchema,
  type RunPage,
  type StartCleanupOptions,
  type StartHeartbeatOptions,
} from './schemas.js';

export { MAX_HEARTBEAT_DETAILS_BYTES } from './run-rules.js';

/** Options of {@link AnalysisRunStore}. */
export interface AnalysisRunStoreOptions {
  /** The directory of run records. `createStores` names it `analysis_runs` under its root. */
  dir: string;
  /**
   * The event log that `complete` / `fail` / `cancel` and cleanup append the run's terminal event
   * to (and from which cleanup repairs a run whose log was sealed but whose record was not).
   * @defaultValue none: no events are written
   */
  events?: RunEventSink | undefined;
  /**
   * Source of time for `createdAt`, `heartbeatAt`, `updatedAt`… (made strictly increasing for
   * `updatedAt`). Inject one in tests instead of sleeping. Every reading must be whole epoch ms
   * from 0 to `MAX_CLOCK_MS`; any other is refused with `ValidationError` before anything is written.
   * @defaultValue the system clock (`Date.now`)
   */
  clock?: Clock | undefined;
  /**
   * A live run whose latest sign of life (`heartbeatAt`, `startedAt` or `createdAt`) is older
   * than this many ms is stale: `isStale` says so and `cleanup` fails it. It is also the
   * tolerance for clocks that run ahead: a sign of life more than this many ms in the future of
   * `now` does not count (it was stamped by a wrong clock), so a run that died with a future
   * `heartbeatAt` is failed at most twice this long after its last beat, not when real time
   * catches up with it.
   * @defaultValue 90_000
   */
  staleAfterMs?: number | undefined;
  /**
   * Told about what the store skipped without failing: a run file that `list()` or `cleanup()`
   * could not parse (`UNREADABLE_RUN`; the file is left untouched, and `get()` of that run still
   * throws). @defaultValue a process warning (`AgentStoresWarning`)
   */
  onWarning?: ((warning: RunStoreWarning) => void) | undefined;
  /** @internal File-system seam for fault-injection tests. @defaultValue the real file system */
  io?: StorageIO | undefined;
  /**
   * @internal Seam for the calls outside `StorageIO`: beat files (read and written in place) and
   * directory listings, for fault-injection tests. @defaultValue the real file system
   */
  files?: RunFilesIO | undefined;
  /** Options of the per-run cross-process lock. @defaultValue wait up to 10 s; a dead owner's lock is taken over */
  lock?: LockOptions | undefined;
}

/** Options of {@link AnalysisRunStore.inMemory}. */
export interface AnalysisRunStoreMemoryOptions {
  /** The event log terminal events go to (an `AgentEventLog.inMemory()`, say). @defaultValue none: no events */
  events?: RunEventSink | undefined;
  /** Source of time; inject one in tests instead of sleeping. @defaultValue the system clock (`Date.now`) */
  clock?: Clock | undefined;
  /** Ms without a sign of life after which a live run is stale. @defaultValue 90_000 */
  staleAfterMs?: number | undefined;
}

/** Something the run store skipped without failing the operation. */
export interface RunStoreWarning {
  /** `UNREADABLE_RUN`: a run file could not be parsed (or failed its schema) and was skipped. */
  code: 'UNREADABLE_RUN';
  runId: string;
  /** The file that could not be read; it was left as it is. */
  file: string;
  message: string;
}

// Set by `inMemory()` for one constructor call: the public constructor always opens a directory.
let openInMemory = false;

/**
 * Run records of an analysis agent: `pending → running → completed | failed | cancelled`, with
 * persisted heartbeats that decide whether a run is alive — whoever is, or is not, listening to it.
 *
 * Files: one record file and one beat file per run under `analysis_runs/` (the README's "What is
 * on disk" shows the layout). Status changes are durable (atomic replace + fsync, under the
 * run's cross-process lock); heartbeats are one
 * in-place write of the run's own beat file, not fsynced, so their cost does not grow with the
 * number of runs kept.
 *
 * Heartbeats and status changes. A beat takes no lock (that would cost more than the beat). It is
 * refused on a finished run, and it cannot race a completion into an inconsistent record: a
 * status change first fences the run's beat file (a flag byte), then reads the final beat and
 * writes the new record; a finished record is never touched by beats. A beat checks, after
 * writing, that the fence is still down. If not, a status change took the file meanwhile: the
 * beat is retried on the new file of a still-live run (waiting for the run's lock while a status
 * change holds it), or refused with `IllegalTransitionError` once the run has finished. A refused
 * beat may or may not be in the final record — harmless either way. A beat acknowledged as
 * written always precedes the fence, so the next record includes it, with an `updatedAt` above
 * its own.
 *
 * `updatedAt` is strictly increasing: each change stamps one more than the largest of the clock,
 * the record's own `updatedAt` and every stamp this instance issued. Status changes run under the
 * lock and are strictly above every beat before them. Two processes beating the same run at the
 * same instant (not the normal case: one process runs a run) may write equal stamps, last writer wins.
 *
 * Double completion: the second `complete` / `fail` / `cancel` of a run throws
 * {@link IllegalTransitionError} (from the terminal status to the requested one), like every other
 * move the lifecycle does not allow, and changes nothing.
 */
export class AnalysisRunStore {
  readonly #backend: RunBackend;
  readonly #events: RunEventSink | undefined;
  /** What the shared steps (run-steps.ts) use of this store: its event log, clock and stamps. */
  readonly #stepContext: RunStepContext;
  readonly #clock: Clock;
  readonly #staleAfterMs: number;
  readonly #onWarning: ((warning: RunStoreWarning) => void) | undefined;
  readonly #timers = new Set<HeartbeatHandle | CleanupHandle>();
  /** Work that holds a run's lock right now: `close()` waits for it. */
  readonly #inFlight = new Set<Promise<unknown>>();
  #closed = false;
  #closing: Promise<void> | undefined;
  #highWater = 0;
  #idStamp = 0;

  /**
   * Opens the store on `options.dir`. Nothing is read or created until the first operation.
   * @throws ValidationError when `dir` is not a non-empty string or `staleAfterMs` is not positive.
   */
  constructor(options: AnalysisRunStoreOptions) {
    this.#events = options?.events;
    this.#stepContext = {
      events: this.#events,
      now: () => this.#now(),
      stamp: (floor, now) => this.#stamp(floor, now),
    };
    this.#clock = options?.clock ?? systemClock;
    this.#staleAfterMs = parseStaleAfterMs(options?.staleAfterMs);
    const onWarning = options?.onWarning;
    if (onWarning !== undefined && typeof onWarning !== 'function') {
      throw new ValidationError('onWarning must be a function');
    }
    this.#onWarning = onWarning;
    if (openInMemory) {
      this.#backend = new MemoryRunBackend();
      return;
    }
    if (typeof options?.dir !== 'string' || options.dir === '') {
      throw new ValidationError('AnalysisRunStore needs a dir: the directory to keep run records in');
    }
    this.#backend = new FileRunBackend({ dir: options.dir, io: options.io, lock: options.lock, files: options.files });
  }

  /** The same store without disk, for unit tests: nothing outlives the instance. */
  static inMemory(options: AnalysisRunStoreMemoryOptions = {}): AnalysisRunStore {
    openInMemory = true;
    try {
      return new AnalysisRunStore({ ...options, dir: '' });
    } finally {
      openInMemory = false;
    }
  }

  /** The configured staleness threshold, in ms. */
  get staleAfterMs(): number {
    return this.#staleAfterMs;
  }

  /**
   * Creates a `pending` run. Without `runId`, one is generated (`run-<time>-<random>`: valid
   * under the id rule, and sorting by creation time).
   * @returns a copy of the new run.
   * @throws InvalidIdError when `runId` does not match the id rule.
   * @throws ValidationError when `sessionId` or `question` is missing or a field is malformed or unknown.
   * @throws ConflictError when a run with this id exists.
   */
  async create(input: CreateRunInput): Promise<AnalysisRun> {
    this.#open();
    const parsed = parseCreateInput(input);
    const runId = parsed.runId ?? this.#newId(this.#now());
    return this.#locked(runId, async () => {
      if (this.#backend.get(runId)) throw runExists(runId);
      const now = this.#now();
      const run = newRun(parsed, runId, now, this.#stamp(0, now));
      await this.#backend.create(run);
      return copyRun(run);
    });
  }

  /**
   * Moves a `pending` run to `running` and sets `startedAt`.
   * @throws InvalidIdError, NotFoundError
   * @throws IllegalTransitionError when the run is not pending (already running, or finished).
   */
  async start(runId: string): Promise<AnalysisRun> {
    this.#open();
    assertValidId(runId, 'runId');
    return this.#locked(runId, async () => {
      checkStart(this.#require(runId));
      const startedAt = this.#now();
      const next = await this.#backend.update(runId, (latest) =>
        startedRun(latest, startedAt, this.#stamp(latest.updatedAt, startedAt)),
      );
      return copyRun(next);
    });
  }

  /**
   * Records that the run is alive: sets `heartbeatAt` (and `heartbeatDetails` when given; without
   * them the previous details stay). Pending and running runs take heartbeats; finished ones refuse.
   * One synchronous in-place write of the run's own small file, not fsynced: cheap, and the same
   * cost however many runs the store keeps.
   * @param details any JSON value up to {@link MAX_HEARTBEAT_DETAILS_BYTES} (progress, current step…).
   * @returns a copy of the run with the beat applied.
   * @throws InvalidIdError, NotFoundError, ValidationError (details not JSON or too large)
   * @throws IllegalTransitionError when the run is finished, or finished while the beat was written.
   */
  async heartbeat(runId: string, details?: unknown): Promise<AnalysisRun> {
    this.#open();
    assertValidId(runId, 'runId');
    const newDetails = toHeartbeatDetails(details);
    const now = this.#now();
    let result = this.#beatOnce(runId, now, newDetails);
    if (result === BUSY) {
      // No beat file right now: a status change holds the run (or crashed half-way). Wait for
      // the lock, give the run a beat file if it still lacks one, and beat again.
      result = await this.#locked(runId, async () => {
        await this.#backend.restoreBeat(runId);
        return this.#beatOnce(runId, now, newDetails);
      });
    }
    if (result === FENCED || result === BUSY) {
      const status = this.#backend.get(runId)?.status ?? 'finishing';
      throw new IllegalTransitionError(
        runId,
        status,
        'running',
        'the run was being finished while this heartbeat was written; a finished run takes no heartbeats',
      );
    }
    return copyRun(result);
  }

  /**
   * Beats every `intervalMs` (the first beat at once) until `stop()`. The timer is unref'd: it
   * never keeps the process alive. A failed beat goes to `onError` (or becomes a process warning
   * when there is none), never an unhandled rejection; once the run is finished or gone the timer
   * stops by itself. `stop()` resolves after a beat that was in flight has settled. `close()`
   * stops every timer of the store.
   * @throws InvalidIdError, ValidationError (intervalMs not a positive integer)
   */
  startHeartbeat(runId: string, options: StartHeartbeatOptions): HeartbeatHandle {
    this.#open();
    return startRunHeartbeat(this.#timers, runId, options, () => this.heartbeat(runId));
  }

  /**
   * Runs {@link cleanup} at once and then every `everyMs`, on a timer that does not keep the
   * process alive, one pass at a time (a pass still running when the next is due makes that one
   * skipped). Safe with several processes doing the same: each run is judged under its lock.
   * `onResult` gets each pass's report; a failed pass goes to `onError` (or becomes a process
   * warning when there is none) and the timer goes on. `close()` stops it.
   * @returns a handle whose `stop()` resolves once a pass in flight has settled.
   * @throws ValidationError for bad options.
   */
  startCleanup(options: StartCleanupOptions): CleanupHandle {
    this.#open();
    return startRunCleanup(this.#timers, options, (pass) => this.cleanup(pass));
  }

  /**
   * Ends the run as `completed` with `result`. With `events` attached, appends
   * `analysis_completed` with payload `{ status: 'completed', result }` first, so a replaying
   * client always sees the end.
   * @throws InvalidIdError, NotFoundError, ValidationError (result not JSON)
   * @throws IllegalTransitionError when the run already finished (a run finishes exactly once).
   */
  async complete(runId: string, result?: unknown): Promise<AnalysisRun> {
    this.#open();
    assertValidId(runId, 'runId');
    return this.#end(runId, completion(result));
  }

  /**
   * Ends the run as `failed`. `error` is a message, an `Error`, or `{ code?, message, details? }`;
   * stored as `{ code, message, details? }` (`code` defaults to `failed`, or the `Error`'s own
   * `code`). With `events` attached, appends `error` with that object as payload first.
   * @throws InvalidIdError, NotFoundError, ValidationError, IllegalTransitionError (already finished)
   */
  async fail(runId: string, error: FailRunInput): Promise<AnalysisRun> {
    this.#open();
    assertValidId(runId, 'runId');
    return this.#end(runId, failure(error));
  }

  /**
   * Ends the run as `cancelled`; `error` becomes `{ code: 'cancelled', message: reason }`. With
   * `events` attached, appends `end` with payload `{ status: 'cancelled', reason? }` first.
   * @throws InvalidIdError, NotFoundError, ValidationError, IllegalTransitionError (already finished)
   */
  async cancel(runId: string, reason?: string): Promise<AnalysisRun> {
    this.#open();
    assertValidId(runId, 'runId');
    return this.#end(runId, cancellation(reason));
  }

  /**
   * A copy of the run, or `undefined` when there is none.
   * @throws InvalidIdError; CorruptStoreError when its file cannot be read.
   */
  async get(runId: string): Promise<AnalysisRun | undefined> {
    this.#open();
    assertValidId(runId, 'runId');
    const run = this.#backend.get(runId);
    return run && copyRun(run);
  }

  /**
   * Runs matching every filter given, by `createdAt` then `runId`: newest first unless
   * `order: 'oldest'`, at most `limit` of them. Asking for a live status (`pending`, `running`)
   * reads live runs only, however many finished ones are kept. A run file that cannot be parsed
   * is skipped and reported to `onWarning`; the others are listed.
   * @throws ValidationError for an unknown filter or status, or a `limit` that is not a positive integer.
   */
  async list(filter: ListRunsFilter = {}): Promise<AnalysisRun[]> {
    this.#open();
    const query = parseOptions(ListRunsFilterSchema, filter, 'run filter');
    const matches = this.#matching(query);
    return (query.limit === undefined ? matches : matches.slice(0, query.limit)).map(copyRun);
  }

  /**
   * One page of the runs `list` would return, for walking many runs: `limit` runs, and a
   * `nextCursor` to pass back (with the same filters and order) for the next page, absent on the
   * last one. The cursor is opaque and stays valid while runs are added or removed: a page goes on
   * after the last run of the previous one, never repeating or skipping a run that was there
   * throughout.
   * @throws ValidationError for bad options, or a cursor this store did not give out for this order.
   */
  async page(options: PageRunsOptions): Promise<RunPage> {
    this.#open();
    const query = parseOptions(PageRunsOptionsSchema, options, 'page options');
    const order = query.order ?? 'newest';
    let matches = this.#matching(query);
    if (query.cursor !== undefined) {
      const after = decodeCursor(query.cursor, order);
      matches = matches.filter((run) => isBeyond(run, after, order));
    }
    const page = pageOf(matches, query.limit, order);
    page.runs = page.runs.map(copyRun);
    return page;
  }

  /** Every run that matches the filters, in the order asked for (the store's own records: copy them). */
  #matching(query: RunQuery): AnalysisRun[] {
    const live = query.status === undefined || !isTerminalStatus(query.status);
    const finished = query.status === undefined || isTerminalStatus(query.status);
    const skip = this.#skipper();
    const byId = new Map<string, AnalysisRun>();
    if (live) for (const run of this.#backend.listActive(skip)) byId.set(run.runId, run);
    // Read after the live ones: a run that finished in between shows once, finished.
    if (finished) for (const run of this.#backend.listDone(skip)) byId.set(run.runId, run);
    return sortRuns(
      [...byId.values()].filter((run) => matchesQuery(run, query)),
      query.order,
    );
  }

  /**
   * Deletes a run: its event log first, then its record and beat file. A pending or running run
   * whose heartbeat is fresh (see `isStale`) is refused unless `force`: a process is still working
   * on it (its next heartbeat then fails with `NotFoundError`, and its timer stops).
   * @returns true when there was a run to delete, false when there was none.
   * @throws InvalidIdError, ValidationError (bad options)
   * @throws ConflictError when the run is live and fresh and `force` is not set.
   * @throws LockError when another process holds the run's event log (its writer is still alive).
   */
  async delete(runId: string, options: DeleteRunOptions = {}): Promise<boolean> {
    this.#open();
    assertValidId(runId, 'runId');
    const { force = false } = parseOptions(DeleteRunOptionsSchema, options, 'delete options');
    const now = this.#now();
    return this.#locked(runId, async () => {
      const current = this.#backend.get(runId);
      if (!current) return false;
      checkDeletable(current, now, this.#staleAfterMs, force);
      // The log first, as cleanup does: a crash in between leaves a record whose log is gone.
      await this.#events?.delete(runId);
      await this.#backend.remove(runId);
      return true;
    });
  }

  /**
   * True when none of a pending or running run's signs of life (`heartbeatAt`, `startedAt`,
   * `createdAt`) lies within `staleAfterMs` of `now`: all are older than that, or further in the
   * future than that (stamped by a clock that ran ahead). Finished runs are never stale.
   * Synchronous: it only looks at the record given.
   * @param now @defaultValue the store's clock
   * @throws ValidationError when `now` (or the clock's reading) is not whole epoch ms in range.
   */
  isStale(run: AnalysisRun, now?: number): boolean {
    this.#open();
    return isStaleAt(run, staleNow(now, this.#clock), this.#staleAfterMs);
  }

  /**
   * One maintenance pass; safe to run from several processes at once (each run is judged again
   * under its lock, so it is abandoned or deleted by exactly one of them).
   * - A pending or running run whose sign of life is fresh is kept, however old the run is and
   *   whether or not anyone listens to it.
   * - A pending or running run whose sign of life is older than `staleAfterMs` becomes `failed`
   *   with `error.code = 'heartbeat_stale'`, after a terminal `error` event is appended to its log.
   * - A live run whose event log is already sealed (a completion that crashed between the event
   *   and the record) is finished from the log's terminal event.
   * - A finished run that ended more than `retentionMs` before `now` is deleted with its event log.
   * - Leftovers of interrupted status changes are removed.
   * - With `dryRun`, nothing is changed: the report says what the pass would do by these rules
   *   (a live run with a sealed log is reported by its heartbeat, as it cannot be finished).
   * - A run file that cannot be parsed (or fails its schema) is left untouched, listed in
   *   `unreadable` and reported to `onWarning`; the pass carries on with every other run. A disk
   *   that refuses a read still fails the pass (StoreIOError): retry it.
   * @returns the run ids, each in exactly one list; runs finished from their log count as kept
   *   (or deleted, when already past retention).
   * @throws ValidationError for bad options (a `now` that is not whole epoch ms in range).
   */
  async cleanup(options: CleanupOptions): Promise<CleanupReport> {
    this.#open();
    // The whole pass is work in flight: close() waits for it rather than cutting it between runs.
    return this.#track(this.#cleanup(options));
  }

  async #cleanup(options: CleanupOptions): Promise<CleanupReport> {
    const pass = parseCleanupOptions(options, this.#clock, this.#staleAfterMs);
    const { retentionMs, staleAfterMs, dryRun, now, onProgress } = pass;
    const report: CleanupReport = { kept: [], abandoned: [], deleted: [], unreadable: [] };
    const skip = this.#skipper(report);
    let judgedCount = 0;
    let total = 0;
    const progress = () => onProgress?.(++judgedCount, total);
    if (dryRun) {
      const judged = new Set<string>();
      // A finished run whose move was interrupted is judged with the finished ones.
      const active = this.#backend.listActive(skip).filter((seen) => !isTerminalStatus(seen.status));
      total = active.length;
      for (const seen of active) {
        judged.add(seen.runId);
        report[cleanupVerdict(seen, pass)].push(seen.runId);
        progress();
      }
      const done = this.#backend.listDone(skip).filter((seen) => !judged.has(seen.runId));
      total += done.length;
      for (const seen of done) {
        report[cleanupVerdict(seen, pass)].push(seen.runId);
        progress();
      }
      return report;
    }
    for (const runId of this.#backend.leftovers()) {
      await this.#lockedOrSkip(runId, () => this.#backend.tidy(runId));
    }
    const judged = new Set<string>();
    const active = this.#backend.listActive(skip);
    total = active.length;
    for (const seen of active) {
      const outcome = await this.#orSkip(seen.runId, skip, () => this.#sweepLive(seen, now, staleAfterMs));
      if (outcome === 'finished') {
        total--; // judged with the finished runs below
        continue;
      }
      judged.add(seen.runId);
      if (outcome === 'abandoned') report.abandoned.push(seen.runId);
      else if (outcome === 'kept') report.kept.push(seen.runId);
      progress();
    }
    // Read after the live ones: a run finished meanwhile (or from its log above) is judged here.
    const done = this.#backend.listDone(skip).filter((seen) => !judged.has(seen.runId));
    total += done.length;
    for (const seen of done) {
      if (isExpired(seen, now, retentionMs)) {
        const outcome = await this.#orSkip(seen.runId, skip, () => this.#sweepFinished(seen.runId, now, retentionMs));
        if (outcome === 'deleted') report.deleted.push(seen.runId);
        else if (outcome === 'kept') report.kept.push(seen.runId);
      } else report.kept.push(seen.runId);
      progress();
    }
    return report;
  }

  /**
   * Where a listing reports a run file it skipped: to `report.unreadable` (when given) and to
   * `onWarning`, or a process warning when there is none.
   */
  #skipper(report?: CleanupReport): OnUnreadable {
    return (runId, file, error) => {
      report?.unreadable.push({ runId, file, reason: error.message });
      const message = `run '${runId}' was skipped: ${error.message}`;
      if (this.#onWarning) this.#onWarning({ code: 'UNREADABLE_RUN', runId, file, message });
      else process.emitWarning(message, { type: 'AgentStoresWarning' });
    };
  }

  /** Judges one run of a cleanup pass; a run file found unreadable meanwhile is skipped, not fatal. */
  async #orSkip<R>(runId: string, skip: OnUnreadable, body: () => Promise<R>): Promise<R | 'skipped'> {
    try {
      return await body();
    } catch (error) {
      if (!(error instanceof CorruptStoreError)) throw error;
      skip(runId, error.file, error);
      return 'skipped';
    }
  }

  /**
   * Closes the store: every later call rejects (or, for the synchronous ones, throws) with
   * {@link StoreClosedError}. Resolves once every timer of the store (heartbeats, cleanup) is
   * stopped with its beat or pass in flight settled, every status change in flight has released
   * its run's lock, and open files are closed. Idempotent: every call returns the same promise.
   * The event log is not closed (`createStores().close()` closes it).
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    await Promise.all([...this.#timers].map((timer) => timer.stop()));
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    // One turn of the event loop: the callers of the calls that just settled hear of it first.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.#backend.close();
  }

  /** Throws {@link StoreClosedError} once `close()` was called. */
  #open(): void {
    if (this.#closed) throw new StoreClosedError('AnalysisRunStore');
  }

  async #sweepLive(
    seen: AnalysisRun,
    now: number,
    staleAfterMs: number,
  ): Promise<'kept' | 'abandoned' | 'finished' | 'gone'> {
    const runId = seen.runId;
    const sealed = await this.#isSealed(runId);
    if (!sealed && !isStaleAt(seen, now, staleAfterMs)) return 'kept';
    const outcome = await this.#lockedOrSkip(runId, () =>
      sweepHeldLiveRun(this.#stepContext, this.#holding(runId), now, staleAfterMs),
    );
    return outcome ?? 'kept';
  }

  async #sweepFinished(runId: string, now: number, retentionMs: number): Promise<'kept' | 'deleted' | 'gone'> {
    const outcome = await this.#lockedOrSkip(runId, () =>
      sweepHeldFinishedRun(this.#stepContext, this.#holding(runId), now, retentionMs),
    );
    return outcome ?? 'kept';
  }

  /** One lock-free attempt at a beat. */
  #beatOnce(runId: string, now: number, details: Json | undefined): AnalysisRun | typeof FENCED | typeof BUSY {
    try {
      return this.#backend.beat(runId, (current) => {
        if (!current) throw new NotFoundError('run', runId);
        if (isTerminalStatus(current.status)) throw finishedRunBeat(runId, current.status);
        const beat: Beat = { heartbeatAt: now, updatedAt: this.#stamp(current.updatedAt, now) };
        const kept = details ?? current.heartbeatDetails;
        if (kept !== undefined) beat.heartbeatDetails = kept;
        return beat;
      });
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw new StoreIOError(`the heartbeat file of run '${runId}'`, 'writing', error);
    }
  }

  /** Ends a live run: terminal event first (when a log is attached), then the durable record. */
  async #end(runId: string, ending: Ending): Promise<AnalysisRun> {
    const outcome = await this.#locked(runId, () =>
      endHeldRun(this.#stepContext, requireHeld(runId, this.#holding(runId)), ending),
    );
    if ('refused' in outcome) throw outcome.refused;
    return copyRun(outcome.run);
  }

  /** The run as the shared steps hold it (call under the run's lock), or undefined when there is none. */
  #holding(runId: string): HeldRun | undefined {
    const current = this.#backend.get(runId);
    return (
      current && {
        current,
        write: (next) => this.#backend.finish(runId, next),
        remove: () => this.#backend.remove(runId),
      }
    );
  }

  async #isSealed(runId: string): Promise<boolean> {
    return this.#events ? await this.#events.isSealed(runId) : false;
  }

  #require(runId: string): AnalysisRun {
    return requireRun(runId, this.#backend.get(runId));
  }

  async #locked<R>(runId: string, body: () => Promise<R>): Promise<R> {
    return this.#held(async () => {
      const release = await this.#backend.lock(runId);
      try {
        return await body();
      } finally {
        await release();
      }
    });
  }

  /**
   * Runs `work` (which takes a lock) as work in flight that `close()` waits for. Not refused once
   * closed: only calls made after `close()` are (each public method checks on entry), and a call
   * already under way finishes whole.
   */
  async #held<R>(work: () => Promise<R>): Promise<R> {
    return this.#track(work());
  }

  /** `running` as work in flight that `close()` waits for. */
  async #track<R>(running: Promise<R>): Promise<R> {
    this.#inFlight.add(running);
    try {
      return await running;
    } finally {
      this.#inFlight.delete(running);
    }
  }

  /** Like {@link #locked}, but a run whose lock stays held elsewhere is left for the next pass. */
  async #lockedOrSkip<R>(runId: string, body: () => Promise<R>): Promise<R | undefined> {
    return this.#held(async () => {
      let release: () => Promise<void>;
      try {
        release = await this.#backend.lock(runId);
      } catch (error) {
        if (error instanceof LockError) return undefined;
        throw error;
      }
      try {
        return await body();
      } finally {
        await release();
      }
    });
  }

  /** One checked clock reading: a bad one is a {@link ValidationError}, before anything is written. */
  #now(): number {
    return readRunClock(this.#clock);
  }

  /** The next `updatedAt`: above `floor`, every stamp issued here, and `now` (a checked reading). */
  #stamp(floor: number, now: number): number {
    this.#highWater = nextStamp(Math.max(this.#highWater, floor), now);
    return this.#highWater;
  }

  #newId(now: number): string {
    this.#idStamp = nextStamp(this.#idStamp, now);
    return newRunId(this.#idStamp);
  }
}
