import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { PostgresDatabase } from '../postgres/database.js';
import { channelName, NotificationListener } from '../postgres/notification-listener.js';
import { systemClock } from '../storage/clock.js';
import { SealedLogError, StoreClosedError, ValidationError } from '../storage/errors.js';
import { assertValidId } from '../storage/ids.js';
import { parseInput, parseOptions } from '../storage/validate.js';
import {
  type AgentEvent,
  type AppendEventInput,
  type EventLogVerifyReport,
  type ReadEventsOptions,
  ReadEventsOptionsSchema,
} from './agent-event.js';
import {
  AgentEventLogOptionsSchema,
  DEFAULT_TERMINAL_TYPES,
  type FollowEventsOptions,
  FollowEventsOptionsSchema,
  VerifyEventsOptionsSchema,
} from './agent-event-log.js';
import type { EventLog } from './event-log.js';
import { Follower, Followers } from './follower.js';
import { type ActiveFollow, LogActivity } from './log-activity.js';
import { eventLogStatements, type Plan, planBatch } from './postgres-event-sql.js';
import { type AppendRules, groupByRun, type PreparedAppend, prepareAppend } from './prepare-event.js';

/** Options of {@link PostgresEventLog}: those of `AgentEventLog` that do not concern files. */
export const PostgresEventLogOptionsSchema = AgentEventLogOptionsSchema.pick({
  terminalTypes: true,
  maxEventBytes: true,
  clock: true,
}).extend({
  /**
   * How often a follower asks the database whether its run moved on, in case a notification was
   * lost (notifications usually arrive within a millisecond or two; a dropped listener connection
   * is reconnected at once).
   * @defaultValue 1_000
   */
  pollMs: z.number().int().positive().optional(),
});

/** Options of {@link PostgresEventLog}. */
export type PostgresEventLogOptions = z.input<typeof PostgresEventLogOptionsSchema>;

/** An append waiting for its transaction. */
interface Pending extends PreparedAppend {
  runId: string;
  resolve: (event: AgentEvent) => void;
  reject: (error: unknown) => void;
}

/** A page of a run's events, with where the run stood when it was read. */
interface Page {
  exists: boolean;
  lastCursor: number;
  sealed: boolean;
  events: AgentEvent[];
}

interface EventRow {
  cursor: number;
  type: string;
  at: number;
  payload: unknown;
}

/**
 * Events a read or a follower fetches per query: memory stays flat however long the run is. The
 * first page is small, so that the first event (a client reconnecting a few events behind) comes
 * back at the cost of one short index range.
 */
const PAGE_EVENTS = 1_000;
const FIRST_PAGE_EVENTS = 64;
/** The most events, and payload JSON text, one transaction commits; the rest waits for the next one. */
const BATCH_EVENTS = 4_096;
const BATCH_TEXT = 16 * 1024 * 1024;

/**
 * A NUL character or a lone surrogate, as `JSON.stringify` writes them (`\u0000`, `\ud800`), not
 * preceded by an escaping backslash: `jsonb` refuses both.
 */
const NOT_IN_JSONB = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/;

/**
 * The event log of {@link AgentEventLog} kept in PostgreSQL, shared by every instance on the
 * database: the same validation, cursors (1, 2, 3… per run, no gap, whichever instance appends),
 * sealing, reads and follows. Tables `event_logs` (one row per run: last cursor, sealed) and
 * `events` (one row per event, payload as `jsonb`).
 *
 * Appends issued while a transaction is committing (or in the same tick) are committed together in
 * the next one. Cursors are taken by updating the run's `event_logs` row, whose row lock orders
 * appenders across instances. A follow replays from the table, then listens (`LISTEN`/`NOTIFY`,
 * one connection per instance shared by its follows), and polls every `pollMs` in case a
 * notification was lost.
 *
 * Payloads are stored as `jsonb`: values come back equal, but object keys in `jsonb`'s order, and
 * a string holding a NUL character or a lone surrogate is refused (`ValidationError`).
 *
 * @example
 * ```ts
 * const db = new PostgresDatabase({ connectionString: process.env.DATABASE_URL! });
 * const events = new PostgresEventLog(db);
 * await events.append('run-1', { type: 'progress', payload: { step: 1 } });
 * ```
 */
export class PostgresEventLog implements EventLog {
  readonly #db: PostgresDatabase;
  readonly #terminal: ReadonlySet<string>;
  readonly #rules: AppendRules;
  readonly #pollMs: number;
  readonly #name: string;
  readonly #channel: string;
  /** Tells this instance's notifications from others': its own commits reach its followers directly. */
  readonly #origin = randomBytes(6).toString('hex');
  readonly #notifier: NotificationListener;
  readonly #sql: ReturnType<typeof eventLogStatements>;
  readonly #followers = new Followers();
  readonly #activity = new LogActivity();
  #queue: Pending[] = [];
  #scheduled = false;
  /** The transaction committing, and the runs it writes. */
  #inFlight: Promise<void> | undefined;
  #inFlightRuns: ReadonlySet<string> = new Set();
  #poll: NodeJS.Timeout | undefined;
  #polling = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  /** @throws ValidationError when an option is invalid. */
  constructor(database: PostgresDatabase, options: PostgresEventLogOptions = {}) {
    const parsed = parseOptions(PostgresEventLogOptionsSchema, options, 'PostgresEventLog options');
    this.#db = database;
    this.#terminal = new Set(parsed.terminalTypes ?? DEFAULT_TERMINAL_TYPES);
    this.#rules = {
      clock: parsed.clock ?? systemClock,
      maxEventBytes: parsed.maxEventBytes ?? 1024 * 1024,
      terminalTypes: this.#terminal,
    };
    this.#pollMs = parsed.pollMs ?? 1_000;
    this.#name = `PostgresEventLog of schema '${database.schema}'`;
    this.#channel = channelName(database.schema, 'events');
    this.#sql = eventLogStatements(database);
    this.#notifier = new NotificationListener(
      database,
      this.#channel,
      { notification: (payload) => this.#notified(payload), resync: () => this.#changedAll() },
      { lingerMs: 5_000, maxRetryMs: this.#pollMs },
    );
  }

  /**
   * Appends an event to a run and returns it with its cursor, as `AgentEventLog.append` does.
   * Resolves once the transaction that holds it committed.
   *
   * @throws InvalidIdError, ValidationError (also for a payload string with a NUL character or a
   * lone surrogate, which `jsonb` cannot hold), PayloadTooLargeError — before any SQL is sent;
   * SealedLogError after a terminal event (appended by any instance); StoreIOError when the
   * database cannot be reached or the connection is lost (`inDoubt` when it was lost while
   * committing: read the run before retrying).
   */
  append(runId: string, input: AppendEventInput): Promise<AgentEvent> {
    return new Promise<AgentEvent>((resolve, reject) => {
      this.#assertOpen();
      const prepared = prepareAppend(runId, input, this.#rules);
      if (prepared.payloadText.includes('\\u') && NOT_IN_JSONB.test(prepared.payloadText)) {
        throw new ValidationError(
          `the payload of the '${prepared.type}' event for run '${runId}' holds a NUL character or a lone surrogate in a string, which PostgreSQL's jsonb cannot store. Remove it or encode the string`,
        );
      }
      this.#queue.push({ ...prepared, runId, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight) return;
    this.#scheduled = true;
    // Let every append of this tick join the transaction.
    queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#inFlight || this.#queue.length === 0) return;
    let count = 0;
    let text = 0;
    while (count < this.#queue.length && count < BATCH_EVENTS && (count === 0 || text < BATCH_TEXT)) {
      text += this.#queue[count]!.payloadText.length;
      count++;
    }
    const batch = this.#queue.splice(0, count);
    this.#inFlightRuns = new Set(batch.map((pending) => pending.runId));
    this.#inFlight = this.#commit(batch).finally(() => {
      this.#inFlight = undefined;
      this.#inFlightRuns = new Set();
      // What was issued meanwhile goes in the next transaction, at once.
      if (this.#queue.length > 0) this.#flush();
    });
  }

  /** Commits one batch in one transaction, then settles its appends and tells this instance's followers. */
  async #commit(batch: Pending[]): Promise<void> {
    const byRun = groupByRun(batch);
    const runIds = [...byRun.keys()];
    const what =
      runIds.length === 1
        ? `appending to the event log of run '${runIds[0]}'`
        : `appending to ${runIds.length} event logs`;
    let plan: Plan<Pending>;
    try {
      plan = await this.#db.transaction(what, async (client) => {
        const locked = await client.query<{ run_id: string; last_cursor: number; sealed: boolean }>(
          this.#sql.lockRuns,
          [runIds],
        );
        const plan = planBatch(byRun, locked.rows);
        if (plan.events.length > 0) {
          await client.query(this.#sql.write, [
            plan.runs.map((run) => run.runId),
            plan.runs.map((run) => run.lastCursor),
            plan.runs.map((run) => run.sealed),
            plan.events.map((event) => event.pending.runId),
            plan.events.map((event) => event.cursor),
            plan.events.map((event) => event.pending.type),
            plan.events.map((event) => event.pending.at),
            plan.events.map((event) => event.pending.payloadText),
            this.#channel,
            plan.runs.map((run) => `${this.#origin} ${run.runId} ${run.lastCursor}`),
          ]);
        }
        return plan;
      });
    } catch (error) {
      for (const pending of batch) pending.reject(error);
      return;
    }
    for (const pending of plan.refused) pending.reject(new SealedLogError(pending.runId));
    const live = new Map<string, AgentEvent[]>();
    const textLength = new Map<string, number>();
    for (const { pending, cursor } of plan.events) {
      const { runId, type, at, payload, payloadText } = pending;
      pending.resolve({ runId, cursor, type, at, payload });
      if (!this.#followers.of(runId)?.size) continue;
      // Followers get their own copy (the caller may change the one it was given).
      const event = { runId, cursor, type, at, payload: JSON.parse(payloadText) };
      const list = live.get(runId);
      if (list) list.push(event);
      else live.set(runId, [event]);
      textLength.set(runId, (textLength.get(runId) ?? 0) + payloadText.length);
    }
    for (const [runId, events] of live) {
      for (const listener of this.#followers.of(runId) ?? []) listener.events(events, textLength.get(runId) ?? 0);
    }
  }

  /**
   * The run's events with a cursor greater than `after`, oldest first, at most `limit`. Fetched
   * in pages of 1,000 by `(run_id, cursor)`: finding `after` is one index seek, and memory stays
   * flat however long the run is. An unknown run yields nothing.
   */
  read(runId: string, options: ReadEventsOptions = {}): AsyncIterable<AgentEvent> {
    assertValidId(runId, 'runId');
    const { after = 0, limit = Number.POSITIVE_INFINITY } = parseInput(
      ReadEventsOptionsSchema,
      options,
      'read options',
    );
    return this.#read(runId, after, limit);
  }

  async *#read(runId: string, after: number, limit: number): AsyncGenerator<AgentEvent> {
    let last = after;
    let left = limit;
    let page = FIRST_PAGE_EVENTS;
    while (left > 0) {
      this.#assertOpen();
      const size = Math.min(page, left);
      page = PAGE_EVENTS;
      const rows = await this.#activity.operation(() =>
        this.#db.query<EventRow>(`reading the event log of run '${runId}'`, this.#sql.read, [runId, last, size]),
      );
      for (const row of rows) {
        yield { runId, cursor: row.cursor, type: row.type, at: row.at, payload: row.payload };
        // A read in progress ends with close(), as the file log's does.
        this.#assertOpen();
      }
      if (rows.length < size) return;
      last = rows[rows.length - 1]!.cursor;
      left -= rows.length;
    }
  }

  /** A page of events after `after`, with the run's row as of the same snapshot. */
  async #page(runId: string, after: number, size: number): Promise<Page> {
    const rows = await this.#activity.operation(() =>
      this.#db.query<{ last_cursor: number; sealed: boolean } & Partial<EventRow>>(
        `reading the event log of run '${runId}'`,
        this.#sql.page,
        [runId, after, size],
      ),
    );
    const head = rows[0];
    if (!head) return { exists: false, lastCursor: 0, sealed: false, events: [] };
    const events: AgentEvent[] = [];
    for (const row of rows) {
      if (row.cursor === null || row.cursor === undefined) continue;
      events.push({ runId, cursor: row.cursor, type: row.type as string, at: row.at as number, payload: row.payload });
    }
    return { exists: true, lastCursor: head.last_cursor, sealed: head.sealed, events };
  }

  /**
   * Replays the run's events after `after`, then yields new ones as they are committed — by this
   * instance (handed over directly) or another one (`NOTIFY`, with a poll every `pollMs` as
   * fallback) — with no duplicate and no gap across the switch from replay to live. Ends after the
   * terminal event, when the run is deleted, when `signal` aborts, or on {@link close}. A run
   * that does not exist yet is waited for (check {@link exists} first to answer 404 instead).
   * Memory is bounded as in `AgentEventLog.follow`: a slow consumer's follower drops what it holds
   * past 1,024 events (or about 1 MiB of payload text) and reads on from the table.
   */
  follow(runId: string, options: FollowEventsOptions = {}): AsyncIterable<AgentEvent> {
    assertValidId(runId, 'runId');
    const { after = 0, signal } = parseOptions(FollowEventsOptionsSchema, options, 'follow options');
    const active: ActiveFollow = { generator: undefined, end: () => {} };
    active.generator = this.#follow(runId, after, signal, active);
    return active.generator;
  }

  async *#follow(
    runId: string,
    after: number,
    signal: AbortSignal | undefined,
    active: ActiveFollow,
  ): AsyncGenerator<AgentEvent> {
    this.#assertOpen();
    if (signal?.aborted) return;
    const follower = new Follower(after);
    let pageSize = FIRST_PAGE_EVENTS;
    const unregister = this.#followers.add(runId, follower);
    active.end = () => follower.end();
    this.#activity.addFollow(active);
    signal?.addEventListener('abort', active.end, { once: true });
    let acquired = false;
    try {
      // Listen before the first read: whatever commits after that read is notified.
      acquired = true;
      await this.#notifier.acquire();
      this.#startPolling();
      for (;;) {
        if (follower.ended) return;
        // Another instance may have committed the events before a live one: take() then says stale.
        for (let event = follower.take(); event !== undefined; event = follower.take()) {
          yield event;
          follower.last = event.cursor;
          if (this.#terminal.has(event.type) || follower.ended) return;
        }
        if (follower.takeStale()) {
          const size = pageSize;
          pageSize = PAGE_EVENTS;
          const page = await this.#page(runId, follower.last, size);
          if (follower.ended) return;
          if (!page.exists) {
            if (follower.seen) return; // deleted
            continue;
          }
          follower.seen = true;
          for (const event of page.events) {
            if (event.cursor <= follower.last) continue;
            yield event;
            follower.last = event.cursor;
            if (this.#terminal.has(event.type) || follower.ended) return;
          }
          if (page.events.length === size) follower.changed();
          else if (page.sealed && page.lastCursor <= follower.last) return;
          continue;
        }
        await follower.wait();
      }
    } finally {
      this.#activity.deleteFollow(active);
      unregister();
      signal?.removeEventListener('abort', active.end);
      if (acquired) this.#notifier.release();
      if (this.#activity.follows === 0) this.#stopPolling();
    }
  }

  /** A notification: `<origin> <runId> <lastCursor>` (0 when the run was deleted). */
  #notified(payload: string): void {
    const [origin, runId, cursorText] = payload.split(' ');
    // This instance's own commits reached its followers already.
    if (origin === this.#origin || runId === undefined) return;
    const listeners = this.#followers.of(runId);
    if (!listeners) return;
    const cursor = Number(cursorText);
    for (const listener of listeners) {
      if (cursor === 0 || !(cursor <= listener.last)) listener.changed();
    }
  }

  #changedAll(): void {
    this.#followers.changedAll();
  }

  #startPolling(): void {
    if (this.#poll) return;
    this.#poll = setInterval(() => void this.#pollOnce(), this.#pollMs);
  }

  #stopPolling(): void {
    clearInterval(this.#poll);
    this.#poll = undefined;
  }

  /** Asks, for every followed run at once, where it stands, and wakes the followers behind it. */
  async #pollOnce(): Promise<void> {
    if (this.#polling || this.#closed || this.#followers.empty) return;
    this.#polling = true;
    try {
      const runIds = this.#followers.runIds();
      const rows = await this.#activity.operation(() =>
        this.#db.query<{ run_id: string; last_cursor: number }>('polling followed event logs', this.#sql.poll, [
          runIds,
        ]),
      );
      const lastCursor = new Map(rows.map((row) => [row.run_id, row.last_cursor]));
      for (const runId of runIds) {
        const cursor = lastCursor.get(runId);
        for (const listener of this.#followers.of(runId) ?? []) {
          const { last, seen } = listener;
          if (cursor === undefined ? seen : cursor > last) listener.changed();
        }
      }
    } catch {
      // The database is unreachable: the next poll tries again, and reads report the failure.
    } finally {
      this.#polling = false;
    }
  }

  /** Cursor of the run's last event; 0 when it has none or does not exist. */
  async lastCursor(runId: string): Promise<number> {
    return (await this.#logRow(runId))?.last_cursor ?? 0;
  }

  /** True when the run's last event is terminal: nothing more can be appended, by any instance. */
  async isSealed(runId: string): Promise<boolean> {
    return (await this.#logRow(runId))?.sealed ?? false;
  }

  /** True once the run has a log (its first append committed). One index lookup. */
  async exists(runId: string): Promise<boolean> {
    return (await this.#logRow(runId)) !== undefined;
  }

  async #logRow(runId: string): Promise<{ last_cursor: number; sealed: boolean } | undefined> {
    this.#assertOpen();
    assertValidId(runId, 'runId');
    const rows = await this.#activity.operation(() =>
      this.#db.query<{ last_cursor: number; sealed: boolean }>(
        `reading the event log of run '${runId}'`,
        this.#sql.logRow,
        [runId],
      ),
    );
    return rows[0];
  }

  /** Ids of every run with a log, sorted (by code unit, as `AgentEventLog.runIds`). */
  async runIds(): Promise<string[]> {
    this.#assertOpen();
    const rows = await this.#activity.operation(() =>
      this.#db.query<{ run_id: string }>('listing event logs', this.#sql.runIds),
    );
    return rows.map((row) => row.run_id);
  }

  /**
   * Removes the run's log and its events, once this instance's appends to it have settled (an
   * append of another instance in flight finishes first: the delete waits for its row lock).
   * Followers of the run end, in every instance. Returns false when there was nothing.
   */
  async delete(runId: string): Promise<boolean> {
    this.#assertOpen();
    assertValidId(runId, 'runId');
    return this.#activity.operation(async () => {
      await this.#settle(runId);
      this.#followers.end(runId);
      const rows = await this.#db.query(`deleting the event log of run '${runId}'`, this.#sql.delete, [
        runId,
        this.#channel,
        `${this.#origin} ${runId} 0`,
      ]);
      return rows.length > 0;
    });
  }

  /**
   * Checks what the rows say, in one snapshot: cursors 1…n with no gap, no terminal event before
   * the last, and the run's `event_logs` row (last cursor, sealed) agreeing with its events. There
   * is no torn tail or index in PostgreSQL: `tornTailBytes` is 0, `indexProblems` lists where the
   * `event_logs` row disagrees with the events, `corruption` a gap or an event after a terminal
   * one; `logBytes` is the events' size as stored. With `repair`, a disagreeing `event_logs` row
   * is set from the events (the events are the truth); a gap is reported, never repaired.
   * Sealing is judged with this instance's terminal types.
   */
  async verify(runId: string, options: { repair?: boolean } = {}): Promise<EventLogVerifyReport> {
    this.#assertOpen();
    assertValidId(runId, 'runId');
    const repair = parseOptions(VerifyEventsOptionsSchema, options, 'verify options').repair ?? false;
    return this.#activity.operation(async () => {
      await this.#settle(runId);
      return this.#db.transaction(`verifying the event log of run '${runId}'`, async (client) => {
        await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
        const log = (
          await client.query<{ last_cursor: number; sealed: boolean }>(
            repair ? `${this.#sql.logRow} FOR UPDATE` : this.#sql.logRow,
            [runId],
          )
        ).rows[0];
        const stats = (
          await client.query<{ events: number; last: number; bytes: number; last_type: string | null }>(
            this.#sql.verifyStats,
            [runId],
          )
        ).rows[0]!;
        const gap = (await client.query<{ cursor: number; prev: number }>(this.#sql.verifyGap, [runId])).rows[0];
        const early = (
          await client.query<{ cursor: number; type: string }>(this.#sql.verifyEarlyTerminal, [
            runId,
            [...this.#terminal],
            stats.last,
          ])
        ).rows[0];
        const sealed = stats.last_type !== null && this.#terminal.has(stats.last_type);
        const indexProblems: string[] = [];
        if (log && log.last_cursor !== stats.last) {
          indexProblems.push(`event_logs.last_cursor is ${log.last_cursor}, the last event is ${stats.last}`);
        }
        if (log && log.sealed !== sealed) {
          indexProblems.push(
            `event_logs.sealed is ${log.sealed}, the last event (${stats.last_type ?? 'none'}) is ${sealed ? '' : 'not '}terminal`,
          );
        }
        let corruption: string | undefined;
        if (gap)
          corruption = `event ${gap.cursor} follows event ${gap.prev}: cursors ${gap.prev + 1}–${gap.cursor - 1} are missing`;
        else if (early) corruption = `event ${early.cursor} is terminal (${early.type}) but events follow it`;
        let repaired = false;
        if (repair && log && indexProblems.length > 0 && corruption === undefined) {
          await client.query(this.#sql.repairLog, [runId, stats.last, sealed]);
          repaired = true;
        }
        return {
          runId,
          exists: log !== undefined,
          events: stats.events,
          lastCursor: stats.last,
          sealed,
          logBytes: stats.bytes,
          tornTailBytes: 0,
          indexProblems,
          corruption,
          repaired,
          ok: indexProblems.length === 0 && corruption === undefined,
        };
      });
    });
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError(this.#name);
  }

  /** Waits until this instance's appends to the run issued so far are settled. */
  async #settle(runId: string): Promise<void> {
    for (;;) {
      const queued = this.#queue.some((pending) => pending.runId === runId);
      if (this.#inFlight && (queued || this.#inFlightRuns.has(runId))) await this.#inFlight;
      // The batch of this tick is flushed in a microtask queued before this one.
      else if (queued) await Promise.resolve();
      else return;
    }
  }

  /**
   * Closes the log: refuses anything new, lets the appends already issued settle (committed or
   * refused), ends every follow in progress, makes reads in progress reject with
   * `StoreClosedError`, and gives the listener connection back. The database (its pool) is left
   * open: it belongs to whoever created it. Idempotent.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#shutdown();
    await this.#closing;
    await this.#activity.endFollows();
  }

  async #shutdown(): Promise<void> {
    while (this.#queue.length > 0 || this.#scheduled || this.#inFlight) {
      await this.#inFlight;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await this.#activity.endFollows();
    this.#stopPolling();
    await this.#activity.settled();
    await this.#notifier.close();
  }
}
