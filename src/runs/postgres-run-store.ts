import type { PoolClient } from 'pg';
import type { PostgresDatabase } from '../postgres/database.js';
import { type Clock, nextStamp, systemClock } from '../storage/clock.js';
import { CorruptStoreError, NotFoundError, ValidationError } from '../storage/errors.js';
import { assertValidId } from '../storage/ids.js';
import { Lifecycle } from '../storage/lifecycle.js';
import { parseOptions } from '../storage/validate.js';
import { type CleanupHandle, startRunCleanup } from './cleanup-timer.js';
import { type HeartbeatHandle, startRunHeartbeat } from './heartbeat-timer.js';
import { parseStoredRun } from './parse-stored-run.js';
import type { RunEventSink } from './run-event-sink.js';
import { newRunId } from './run-id.js';
import {
  type CleanupPass,
  cancellation,
  checkDeletable,
  checkStart,
  cleanupVerdict,
  completion,
  decodeCursor,
  type Ending,
  failure,
  finishedRunBeat,
  isExpired,
  isStaleAt,
  newRun,
  pageOf,
  parseCleanupOptions,
  parseCreateInput,
  parseStaleAfterMs,
  type RunQuery,
  readRunClock,
  runExists,
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
import type { RunStore } from './run-store.js';
import {
  type AnalysisRun,
  type AnalysisRunStatus,
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

/** Options of {@link PostgresRunStore}. */
export interface PostgresRunStoreOptions {
  /**
   * The event log that `complete` / `fail` / `cancel` and cleanup append the run's terminal event
   * to (and from which a run whose log was sealed but whose record was not is finished).
   * @defaultValue none: no events are written
   */
  events?: RunEventSink | undefined;
  /**
   * Source of time for `createdAt`, `heartbeatAt`, `updatedAt`… Every reading must be whole epoch
   * ms from 0 to `MAX_CLOCK_MS`; any other is refused with `ValidationError` before anything is written.
   * @defaultValue the system clock (`Date.now`)
   */
  clock?: Clock | undefined;
  /**
   * A live run with no sign of life within this many ms of `now` (either side) is stale: `isStale`
   * says so and `cleanup` fails it. @defaultValue 90_000
   */
  staleAfterMs?: number | undefined;
  /**
   * Told about a run row whose record fails the run schema (written by hand, say): `list()` and
   * `cleanup()` skip it (`UNREADABLE_RUN`), `get()` of it throws `CorruptStoreError`.
   * @defaultValue a process warning (`AgentStoresWarning`)
   */
  onWarning?: ((warning: { code: 'UNREADABLE_RUN'; runId: string; file: string; message: string }) => void) | undefined;
}

/** What a cleanup pass did to one run; `finished` runs are judged again with the finished ones. */
type LiveOutcome = 'kept' | 'abandoned' | 'finished' | 'gone';

const LIVE = "('pending', 'running')";
const FINISHED = "('completed', 'failed', 'cancelled')";

/** A row's columns, in the order of {@link rowValues}: copies of the record's fields, and the record. */
const COLUMNS = 'run_id, status, session_id, tenant_id, workspace_id, created_at, heartbeat_at, updated_at, record';

/** The values of a run's row: `$1` … `$9` of an INSERT or UPDATE. */
function rowValues(run: AnalysisRun): unknown[] {
  return [
    run.runId,
    run.status,
    run.sessionId,
    run.tenantId ?? null,
    run.workspaceId ?? null,
    run.createdAt,
    run.heartbeatAt ?? null,
    run.updatedAt,
    JSON.stringify(run),
  ];
}

/**
 * Run records of an analysis agent kept in PostgreSQL (`runs` table: the whole record as `jsonb`,
 * with copies of the fields it is filtered and sorted on), with the behaviour of
 * {@link AnalysisRunStore}, shared by every instance on the database. Both apply the same rules
 * (run-rules.ts); only how a change reaches the records differs.
 *
 * - A heartbeat is one `UPDATE … WHERE status IN ('pending', 'running')`: it cannot touch a
 *   finished run, and waits for a status change that holds the row, then sees its outcome.
 * - `updatedAt` is strictly increasing per run, kept by the database: each change writes
 *   `GREATEST(now, updated_at + 1)` of the row it changes, under that row's lock. It is not a
 *   stamp shared by all runs (no single row that every heartbeat of every run would queue on).
 * - Status changes, deletes and cleanup take the row with `SELECT … FOR UPDATE` in a transaction
 *   and append the terminal event to `events` before the status changes, as the file store does.
 * - Cleanup takes each run with `FOR UPDATE SKIP LOCKED` and judges it again under the lock, so
 *   that with several instances at once each stale run is abandoned, and each expired run
 *   deleted, by exactly one of them; a run another instance holds is left for it (kept).
 * - A transaction that holds a row while it calls the event log keeps its connection meanwhile;
 *   an event log on the same pool needs one more. At most half the pool's connections are held
 *   that way at once, so the log always finds one (a pool of one connection cannot do both).
 *
 * `close()` stops the store's timers and waits for work in flight; the database is not closed
 * (`createPostgresStores().close()` closes it).
 */
export class PostgresRunStore implements RunStore {
  readonly #db: PostgresDatabase;
  readonly #events: RunEventSink | undefined;
  readonly #clock: Clock;
  readonly #staleAfterMs: number;
  readonly #onWarning: PostgresRunStoreOptions['onWarning'];
  readonly #life = new Lifecycle('PostgresRunStore');
  /** What the shared steps (run-steps.ts) use of this store; `updatedAt` is the row's plus one, or now. */
  readonly #steps: RunStepContext;
  readonly #timers = new Set<HeartbeatHandle | CleanupHandle>();
  #idStamp = 0;
  /** Transactions of this store that hold a row while they may call the event log, and those waiting to. */
  #holding = 0;
  readonly #waiting: (() => void)[] = [];

  /**
   * Opens the store on `database`. Nothing is read or created until the first operation.
   * @throws ValidationError when `database` is missing, `staleAfterMs` is not positive, or
   * `clock` / `onWarning` is not a function.
   */
  constructor(database: PostgresDatabase, options: PostgresRunStoreOptions = {}) {
    if (typeof (database as { table?: unknown } | undefined)?.table !== 'function') {
      throw new ValidationError('PostgresRunStore needs a PostgresDatabase: the database to keep run records in');
    }
    this.#db = database;
    this.#events = options?.events;
    this.#steps = { events: this.#events, now: () => this.#now(), stamp: nextStamp };
    const clock = options?.clock ?? systemClock;
    if (typeof clock !== 'function') throw new ValidationError('clock must be a function returning epoch ms');
    this.#clock = clock;
    this.#staleAfterMs = parseStaleAfterMs(options?.staleAfterMs);
    const onWarning = options?.onWarning;
    if (onWarning !== undefined && typeof onWarning !== 'function') {
      throw new ValidationError('onWarning must be a function');
    }
    this.#onWarning = onWarning;
  }

  /** The configured staleness threshold, in ms. */
  get staleAfterMs(): number {
    return this.#staleAfterMs;
  }

  /**
   * Creates a `pending` run (one INSERT). Without `runId`, one is generated.
   * @throws InvalidIdError, ValidationError
   * @throws ConflictError when a run with this id exists.
   */
  async create(input: CreateRunInput): Promise<AnalysisRun> {
    this.#life.check();
    const parsed = parseCreateInput(input);
    return this.#life.run(async () => {
      const now = this.#now();
      const runId = parsed.runId ?? this.#newId(now);
      const run = newRun(parsed, runId, now, now);
      const rows = await this.#db.query(
        `creating run '${runId}'`,
        `INSERT INTO ${this.#table} (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
         ON CONFLICT (run_id) DO NOTHING RETURNING run_id`,
        rowValues(run),
      );
      if (rows.length === 0) throw runExists(runId);
      return run;
    });
  }

  /**
   * Moves a `pending` run to `running` and sets `startedAt`.
   * @throws InvalidIdError, NotFoundError
   * @throws IllegalTransitionError when the run is not pending.
   */
  async start(runId: string): Promise<AnalysisRun> {
    this.#life.check();
    assertValidId(runId, 'runId');
    return this.#life.run(() =>
      this.#locked(`starting run '${runId}'`, runId, async (held) => {
        const { current, write } = requireHeld(runId, held);
        checkStart(current);
        const startedAt = this.#now();
        return write((latest) => startedRun(latest, startedAt, nextStamp(latest.updatedAt, startedAt)));
      }),
    );
  }

  /**
   * Records that the run is alive: sets `heartbeatAt` (and `heartbeatDetails` when given; without
   * them the previous details stay). One UPDATE of the run's row, which only a pending or running
   * run passes; a status change holding the row makes it wait, then refuse if the run finished.
   * @throws InvalidIdError, NotFoundError, ValidationError (details not JSON or too large)
   * @throws IllegalTransitionError when the run is finished.
   */
  async heartbeat(runId: string, details?: unknown): Promise<AnalysisRun> {
    this.#life.check();
    assertValidId(runId, 'runId');
    const newDetails = toHeartbeatDetails(details);
    // JSON text for the jsonb parameter; SQL NULL keeps the details the record has.
    const detailsText = newDetails === undefined ? null : JSON.stringify(newDetails);
    return this.#life.run(async () => {
      const now = this.#now();
      for (;;) {
        const rows = await this.#db.query<{ record: AnalysisRun }>(
          `the heartbeat of run '${runId}'`,
          `UPDATE ${this.#table}
           SET heartbeat_at = $2, updated_at = GREATEST($2, updated_at + 1),
               record = record
                 || jsonb_build_object('heartbeatAt', $2::bigint, 'updatedAt', GREATEST($2, updated_at + 1))
                 || CASE WHEN $3::jsonb IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('heartbeatDetails', $3::jsonb) END
           WHERE run_id = $1 AND status IN ${LIVE}
           RETURNING record`,
          [runId, now, detailsText],
        );
        if (rows[0]) return rows[0].record;
        // Refused: tell a missing run from a finished one.
        const found = await this.#db.query<{ status: AnalysisRunStatus }>(
          `reading run '${runId}'`,
          `SELECT status FROM ${this.#table} WHERE run_id = $1`,
          [runId],
        );
        const status = found[0]?.status;
        if (status === undefined) throw new NotFoundError('run', runId);
        // A live status here means the run was deleted and created again in between: beat the new one.
        else if (isTerminalStatus(status)) throw finishedRunBeat(runId, status);
      }
    });
  }

  /**
   * Beats every `intervalMs` (the first beat at once) until `stop()`, on an unref'd timer; see
   * `AnalysisRunStore.startHeartbeat`. `close()` stops every timer of the store.
   * @throws InvalidIdError, ValidationError (intervalMs not a positive integer)
   */
  startHeartbeat(runId: string, options: StartHeartbeatOptions): HeartbeatHandle {
    this.#life.check();
    return startRunHeartbeat(this.#timers, runId, options, () => this.heartbeat(runId));
  }

  /**
   * Runs {@link cleanup} at once and then every `everyMs`, one pass at a time, on an unref'd
   * timer. Safe with several instances doing the same. `close()` stops it.
   * @throws ValidationError for bad options.
   */
  startCleanup(options: StartCleanupOptions): CleanupHandle {
    this.#life.check();
    return startRunCleanup(this.#timers, options, (pass) => this.cleanup(pass));
  }

  /**
   * Ends the run as `completed` with `result`; with `events`, appends `analysis_completed` first.
   * @throws InvalidIdError, NotFoundError, ValidationError, IllegalTransitionError (already finished)
   */
  async complete(runId: string, result?: unknown): Promise<AnalysisRun> {
    this.#life.check();
    assertValidId(runId, 'runId');
    return this.#end(runId, completion(result));
  }

  /**
   * Ends the run as `failed` (`error`: a message, an `Error` or `{ code?, message, details? }`);
   * with `events`, appends `error` first.
   * @throws InvalidIdError, NotFoundError, ValidationError, IllegalTransitionError (already finished)
   */
  async fail(runId: string, error: FailRunInput): Promise<AnalysisRun> {
    this.#life.check();
    assertValidId(runId, 'runId');
    return this.#end(runId, failure(error));
  }

  /**
   * Ends the run as `cancelled`; with `events`, appends `end` first.
   * @throws InvalidIdError, NotFoundError, ValidationError, IllegalTransitionError (already finished)
   */
  async cancel(runId: string, reason?: string): Promise<AnalysisRun> {
    this.#life.check();
    assertValidId(runId, 'runId');
    return this.#end(runId, cancellation(reason));
  }

  /**
   * The run, or `undefined` when there is none.
   * @throws InvalidIdError; CorruptStoreError when its record fails the run schema.
   */
  async get(runId: string): Promise<AnalysisRun | undefined> {
    this.#life.check();
    assertValidId(runId, 'runId');
    return this.#life.run(async () => {
      const rows = await this.#db.query<{ record: unknown }>(
        `reading run '${runId}'`,
        `SELECT record FROM ${this.#table} WHERE run_id = $1`,
        [runId],
      );
      return rows[0] ? this.#parse(runId, rows[0].record) : undefined;
    });
  }

  /**
   * Runs matching every filter given, by `createdAt` then `runId`: newest first unless
   * `order: 'oldest'`, at most `limit` of them.
   * @throws ValidationError for an unknown filter or status, or a `limit` that is not a positive integer.
   */
  async list(filter: ListRunsFilter = {}): Promise<AnalysisRun[]> {
    this.#life.check();
    const query = parseOptions(ListRunsFilterSchema, filter, 'run filter');
    return this.#life.run(() => this.#select('listing runs', query, undefined, query.limit));
  }

  /**
   * One page of the runs `list` would return, and a `nextCursor` for the next (absent on the
   * last). The cursor is opaque and stays valid while runs are added or removed.
   * @throws ValidationError for bad options, or a cursor this store did not give out for this order.
   */
  async page(options: PageRunsOptions): Promise<RunPage> {
    this.#life.check();
    const query = parseOptions(PageRunsOptionsSchema, options, 'page options');
    const order = query.order ?? 'newest';
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, order);
    return this.#life.run(async () => {
      const candidates = await this.#select('paging runs', query, after, query.limit + 1);
      return pageOf(candidates, query.limit, order);
    });
  }

  /**
   * Deletes a run: its event log first, then its row. A live run whose heartbeat is fresh is
   * refused unless `force`.
   * @returns true when there was a run to delete, false when there was none.
   * @throws InvalidIdError, ValidationError; ConflictError (live and fresh, no `force`); LockError
   *   (another process holds the run's event log).
   */
  async delete(runId: string, options: DeleteRunOptions = {}): Promise<boolean> {
    this.#life.check();
    assertValidId(runId, 'runId');
    const { force = false } = parseOptions(DeleteRunOptionsSchema, options, 'delete options');
    return this.#life.run(async () => {
      const now = this.#now();
      return this.#locked(`deleting run '${runId}'`, runId, async (held) => {
        if (!held) return false;
        checkDeletable(held.current, now, this.#staleAfterMs, force);
        // The log first, as cleanup does: a crash in between leaves a row whose log is gone.
        await this.#events?.delete(runId);
        await held.remove();
        return true;
      });
    });
  }

  /**
   * True when none of a live run's signs of life lies within `staleAfterMs` of `now`. Finished
   * runs are never stale. Synchronous: it only looks at the record given.
   * @throws ValidationError when `now` (or the clock's reading) is not whole epoch ms in range.
   */
  isStale(run: AnalysisRun, now?: number): boolean {
    this.#life.check();
    return isStaleAt(run, staleNow(now, this.#clock), this.#staleAfterMs);
  }

  /**
   * One maintenance pass, with the rules of `AnalysisRunStore.cleanup`; safe from several
   * instances at once: each run is taken with `FOR UPDATE SKIP LOCKED` and judged again under
   * its lock, so it is abandoned or deleted by exactly one of them (the others count it kept).
   * @throws ValidationError for bad options.
   */
  async cleanup(options: CleanupOptions): Promise<CleanupReport> {
    this.#life.check();
    const pass = parseCleanupOptions(options, this.#clock, this.#staleAfterMs);
    return this.#life.run(() => this.#cleanup(pass));
  }

  /**
   * Closes the store: later calls reject with `StoreClosedError`. Resolves once its timers are
   * stopped (a beat or pass in flight settled) and every call in flight has settled. Idempotent.
   * The database and the event log are not closed.
   */
  close(): Promise<void> {
    return this.#life.close(async () => {
      await Promise.all([...this.#timers].map((timer) => timer.stop()));
      // One turn of the event loop: the callers of the calls that just settled hear of it first.
      await new Promise<void>((resolve) => setImmediate(resolve));
    });
  }

  get #table(): string {
    return this.#db.table('runs');
  }

  async #cleanup(pass: CleanupPass): Promise<CleanupReport> {
    const report: CleanupReport = { kept: [], abandoned: [], deleted: [], unreadable: [] };
    let judgedCount = 0;
    let total = 0;
    const progress = () => pass.onProgress?.(++judgedCount, total);
    const judged = new Set<string>();
    const live = await this.#select(
      'cleaning up runs',
      { status: 'live', order: 'oldest' },
      undefined,
      undefined,
      report,
    );
    total = live.length;
    for (const seen of live) {
      const outcome = pass.dryRun ? cleanupVerdict(seen, pass) : await this.#sweepLive(seen, pass, report);
      if (outcome === 'finished') {
        total--; // judged with the finished runs below
        continue;
      }
      judged.add(seen.runId);
      if (outcome !== 'gone') report[outcome].push(seen.runId);
      progress();
    }
    // Read after the live ones: a run finished meanwhile is judged here.
    const done = (
      await this.#select('cleaning up runs', { status: 'finished', order: 'oldest' }, undefined, undefined, report)
    ).filter((seen) => !judged.has(seen.runId));
    total += done.length;
    for (const seen of done) {
      const outcome =
        pass.dryRun || !isExpired(seen, pass.now, pass.retentionMs)
          ? cleanupVerdict(seen, pass)
          : await this.#sweepFinished(seen.runId, pass, report);
      if (outcome !== 'gone') report[outcome].push(seen.runId);
      progress();
    }
    return report;
  }

  async #sweepLive(seen: AnalysisRun, pass: CleanupPass, report: CleanupReport): Promise<LiveOutcome> {
    const { now, staleAfterMs } = pass;
    const runId = seen.runId;
    if (!(await this.#isSealed(runId)) && !isStaleAt(seen, now, staleAfterMs)) return 'kept';
    const outcome = await this.#lockedOrSkip(`abandoning run '${runId}'`, runId, report, (held) =>
      sweepHeldLiveRun(this.#steps, held, now, staleAfterMs),
    );
    return outcome ?? 'kept';
  }

  async #sweepFinished(runId: string, pass: CleanupPass, report: CleanupReport): Promise<'kept' | 'deleted' | 'gone'> {
    const outcome = await this.#lockedOrSkip(`deleting run '${runId}'`, runId, report, (held) =>
      sweepHeldFinishedRun(this.#steps, held, pass.now, pass.retentionMs),
    );
    return outcome ?? 'kept';
  }

  /** Ends a live run: terminal event first (when a log is attached), then the record, under the row's lock. */
  async #end(runId: string, ending: Ending): Promise<AnalysisRun> {
    const outcome = await this.#life.run(() =>
      this.#locked(`finishing run '${runId}'`, runId, (held) =>
        endHeldRun(this.#steps, requireHeld(runId, held), ending),
      ),
    );
    // A refusal comes after the commit: the record repaired from the log is kept.
    if ('refused' in outcome) throw outcome.refused;
    return outcome.run;
  }

  async #isSealed(runId: string): Promise<boolean> {
    return this.#events ? await this.#events.isSealed(runId) : false;
  }

  /** Writes `run` over its row (every column from the record) and returns it. */
  async #write(client: PoolClient, run: AnalysisRun): Promise<AnalysisRun> {
    await client.query(
      `UPDATE ${this.#table} SET status = $2, session_id = $3, tenant_id = $4, workspace_id = $5, created_at = $6,
         heartbeat_at = $7, updated_at = $8, record = $9::jsonb
       WHERE run_id = $1`,
      rowValues(run),
    );
    return run;
  }

  /** Runs `body` in a transaction holding the run's row (`FOR UPDATE`); `undefined` when there is none. */
  #locked<R>(what: string, runId: string, body: (held: HeldRun | undefined) => Promise<R>): Promise<R> {
    return this.#transaction(what, async (client) => {
      const rows = await client.query<{ record: unknown }>(
        `SELECT record FROM ${this.#table} WHERE run_id = $1 FOR UPDATE`,
        [runId],
      );
      return body(rows.rows[0] ? this.#held(client, runId, rows.rows[0].record) : undefined);
    });
  }

  /**
   * Like {@link #locked}, but a row another transaction holds is skipped (`undefined`: that
   * instance is judging it), and a record that fails its schema is reported unreadable and skipped.
   */
  async #lockedOrSkip<R>(
    what: string,
    runId: string,
    report: CleanupReport,
    body: (held: HeldRun | undefined) => Promise<R>,
  ): Promise<R | undefined> {
    try {
      return await this.#transaction(what, async (client) => {
        const rows = await client.query<{ record: unknown }>(
          `SELECT record FROM ${this.#table} WHERE run_id = $1 FOR UPDATE SKIP LOCKED`,
          [runId],
        );
        if (rows.rows[0]) return body(this.#held(client, runId, rows.rows[0].record));
        const exists = await client.query(`SELECT 1 FROM ${this.#table} WHERE run_id = $1`, [runId]);
        return exists.rows.length > 0 ? undefined : body(undefined);
      });
    } catch (error) {
      if (!(error instanceof CorruptStoreError)) throw error;
      this.#skip(runId, error.message, report);
      return undefined;
    }
  }

  /**
   * A transaction that holds a run's row. With an event log attached it may append or delete
   * while it holds its connection, and a log on the same pool needs a connection of its own: so
   * at most half the pool's connections are held this way at once, and the log always finds one.
   */
  async #transaction<R>(what: string, work: (client: PoolClient) => Promise<R>): Promise<R> {
    if (!this.#events) return this.#db.transaction(what, work);
    const max = ((await this.#db.pool()) as { options?: { max?: number } }).options?.max ?? 10;
    const limit = Math.max(1, Math.floor(max / 2));
    while (this.#holding >= limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#holding++;
    try {
      return await this.#db.transaction(what, work);
    } finally {
      this.#holding--;
      this.#waiting.shift()?.();
    }
  }

  /** A locked row as the shared steps hold it: its record, and writes within `client`'s transaction. */
  #held(client: PoolClient, runId: string, record: unknown): HeldRun {
    const current = this.#parse(runId, record);
    return {
      current,
      write: (next) => this.#write(client, next(current)),
      remove: async () => {
        await client.query(`DELETE FROM ${this.#table} WHERE run_id = $1`, [runId]);
      },
    };
  }

  /**
   * The runs matching `query` (`status` may also be `live` or `finished`), in its order, beyond
   * `after` when given, at most `limit`. Records that fail the schema are skipped and reported.
   */
  async #select(
    what: string,
    query: Omit<RunQuery, 'status'> & { status?: AnalysisRunStatus | 'live' | 'finished' | undefined },
    after: { createdAt: number; runId: string } | undefined,
    limit: number | undefined,
    report?: CleanupReport,
  ): Promise<AnalysisRun[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    if (query.status === 'live') where.push(`status IN ${LIVE}`);
    else if (query.status === 'finished') where.push(`status IN ${FINISHED}`);
    else if (query.status !== undefined) where.push(`status = ${param(query.status)}`);
    if (query.sessionId !== undefined) where.push(`session_id = ${param(query.sessionId)}`);
    if (query.tenantId !== undefined) where.push(`tenant_id = ${param(query.tenantId)}`);
    if (query.workspaceId !== undefined) where.push(`workspace_id = ${param(query.workspaceId)}`);
    const newest = (query.order ?? 'newest') === 'newest';
    if (after) {
      // Beyond the cursor: older runs for `newest`, newer ones for `oldest`. Ids compare by code
      // unit (COLLATE "C"), as the file store sorts them.
      const op = newest ? '<' : '>';
      const at = param(after.createdAt);
      where.push(`(created_at ${op} ${at} OR (created_at = ${at} AND run_id COLLATE "C" ${op} ${param(after.runId)}))`);
    }
    const direction = newest ? 'DESC' : 'ASC';
    const rows = await this.#db.query<{ run_id: string; record: unknown }>(
      what,
      `SELECT run_id, record FROM ${this.#table}
       ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at ${direction}, run_id COLLATE "C" ${direction}
       ${limit === undefined ? '' : `LIMIT ${param(limit)}`}`,
      params,
    );
    const runs: AnalysisRun[] = [];
    for (const row of rows) {
      const parsed = parseStoredRun(row.record);
      if (parsed.success) runs.push(parsed.data);
      else this.#skip(row.run_id, parsed.error.message, report);
    }
    return runs;
  }

  /** The record of a row, checked. @throws CorruptStoreError when it fails the run schema. */
  #parse(runId: string, record: unknown): AnalysisRun {
    const parsed = parseStoredRun(record);
    if (!parsed.success) throw new CorruptStoreError(this.#where(runId), parsed.error.message);
    return parsed.data;
  }

  /** How errors and warnings name a run's row. */
  #where(runId: string): string {
    return `the row of run '${runId}' in ${this.#table}`;
  }

  /** Reports a row skipped for an unreadable record: to the cleanup report (when given) and to `onWarning`. */
  #skip(runId: string, reason: string, report?: CleanupReport): void {
    const file = this.#where(runId);
    report?.unreadable.push({ runId, file, reason });
    const message = `run '${runId}' was skipped: ${reason}`;
    if (this.#onWarning) this.#onWarning({ code: 'UNREADABLE_RUN', runId, file, message });
    else process.emitWarning(message, { type: 'AgentStoresWarning' });
  }

  /** One checked clock reading. */
  #now(): number {
    return readRunClock(this.#clock);
  }

  #newId(now: number): string {
    this.#idStamp = nextStamp(this.#idStamp, now);
    return newRunId(this.#idStamp);
  }
}
