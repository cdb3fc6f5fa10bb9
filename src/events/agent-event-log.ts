import { z } from 'zod';
import { type Clock, systemClock } from '../storage/clock.js';
import { SealedLogError, StoreClosedError, StoreError, StoreIOError } from '../storage/errors.js';
import { assertValidId } from '../storage/ids.js';
import { parseInput, parseOptions } from '../storage/validate.js';
import {
  type AgentEvent,
  type AppendEventInput,
  type EventLogVerifyReport,
  type EventLogWarning,
  EventTypeSchema,
  type ReadEventsOptions,
  ReadEventsOptionsSchema,
} from './agent-event.js';
import type { EventBackend, PreparedEvent, RunTail } from './event-backend.js';
import { type EventLogIO, nodeEventLogIO } from './event-log-io.js';
import { FileEventBackend } from './file-event-backend.js';
import { Follower, Followers } from './follower.js';
import { type ActiveFollow, LogActivity } from './log-activity.js';
import { MemoryEventBackend } from './memory-event-backend.js';
import { type AppendRules, groupByRun, type PreparedAppend, prepareAppend } from './prepare-event.js';
import { RecentEvents } from './recent-events.js';
import { SyncToAsyncIterator, YIELD_EVERY } from './sync-to-async-iterator.js';

/** The terminal event types when the option `terminalTypes` is not given. */
export const DEFAULT_TERMINAL_TYPES: readonly string[] = ['analysis_completed', 'error', 'end'];

const isFunction = (value: unknown) => typeof value === 'function';

/** Options of {@link AgentEventLog}. */
export const AgentEventLogOptionsSchema = z.object({
  /** The directory that holds the runs' files (`<runId>.ndjson`, `<runId>.idx`); created on the first append. */
  dir: z.string().min(1),
  /**
   * `fsync`: `append` resolves once the event is on disk (one `fdatasync` per batch).
   * `flush`: once it is handed to the OS (survives a crash of the process, not of the machine).
   * Terminal events are always fsynced.
   * @defaultValue 'fsync'
   */
  durability: z.enum(['fsync', 'flush']).optional(),
  /**
   * Event types that end a run and seal its log.
   * @defaultValue ['analysis_completed', 'error', 'end']
   */
  terminalTypes: z.array(EventTypeSchema).optional(),
  /**
   * Largest event accepted, in bytes of its NDJSON line (cursor digits not counted).
   * @defaultValue 1 MiB
   */
  maxEventBytes: z.number().int().positive().optional(),
  /** Source of the events' `at`. @defaultValue the system clock */
  clock: z.custom<Clock>(isFunction, 'clock must be a function').optional(),
  /** File-system seam, for fault-injection tests. @defaultValue the real file system */
  io: z.custom<EventLogIO>((value) => typeof value === 'object' && value !== null, 'io must be an object').optional(),
  /** The per-run writer lock. */
  lock: z
    .object({
      /**
       * How long an append waits for another live process to release the run's lock before it
       * fails with `LockError`. A lock whose owner died on this host is taken over at once.
       * @defaultValue 1_000
       */
      waitMs: z.number().int().nonnegative().optional(),
      /**
       * After how long without a refresh a lock of an unknown owner (another host) is taken over.
       * @defaultValue 10_000
       */
      staleMs: z.number().int().positive().optional(),
    })
    .optional(),
  /**
   * How often a follower checks the file when file-system notifications miss a change made by
   * another process (network mounts, some containers). Notifications usually arrive first.
   * @defaultValue 1_000
   */
  pollMs: z.number().int().positive().optional(),
  /**
   * How many of the latest events of each run this process writes are kept in memory, so that a
   * client reconnecting to a live run is served without touching the disk. 0 turns it off.
   * @defaultValue 1024
   */
  recentEvents: z.number().int().nonnegative().optional(),
  /** Told when opening a run repaired it (a torn tail cut, the index rebuilt). */
  onWarning: z.custom<(warning: EventLogWarning) => void>(isFunction, 'onWarning must be a function').optional(),
});

/** Options of {@link AgentEventLog}. */
export type AgentEventLogOptions = z.input<typeof AgentEventLogOptionsSchema>;

/** Options of {@link AgentEventLog.inMemory}: those that make sense without disk. */
export type InMemoryEventLogOptions = Omit<
  AgentEventLogOptions,
  'dir' | 'io' | 'lock' | 'pollMs' | 'onWarning' | 'recentEvents'
>;

/** Options of {@link AgentEventLog.follow}. */
export const FollowEventsOptionsSchema = z.object({
  /** Start after this cursor (an SSE `Last-Event-ID`). @defaultValue 0 */
  after: z.number().int().nonnegative().optional(),
  /** Ends the stream when aborted. */
  signal: z.instanceof(AbortSignal).optional(),
});

/** Options of `verify`: `repair` cuts a damaged tail and rebuilds the index. */
export const VerifyEventsOptionsSchema = z.object({ repair: z.boolean().optional() });

/** Options of {@link AgentEventLog.follow}. */
export type FollowEventsOptions = z.infer<typeof FollowEventsOptionsSchema>;

/** An append waiting for its batch. */
interface Pending extends PreparedAppend {
  resolve: (event: AgentEvent) => void;
  reject: (error: unknown) => void;
}

/** What this process knows of a run it appends to. */
interface RunState {
  lastCursor: number;
  sealed: boolean;
  /** The backend has the run open for appending (lock held, state recovered). */
  writable: boolean;
  /** The run is being opened, or a batch of it made durable: new appends wait in `waiting`. */
  busy: Promise<void> | undefined;
  waiting: Pending[];
  /** The latest events, while writable (see the option `recentEvents`). */
  recent: RecentEvents | undefined;
}

/** One run's share of a batch, once cursors are assigned. */
interface Batch {
  prepared: PreparedEvent[];
  accepted: Pending[];
  /** The cursor of its last event. */
  cursor: number;
  /** The run is sealed after it. */
  sealed: boolean;
}

/**
 * The replayable event stream of each agent run: append-only NDJSON per run with a derived
 * offset index, group commit, sealing by terminal events, crash recovery, and live follow.
 *
 * Files, under `dir`: `<runId>.ndjson` (one `{"cursor","type","at","payload","crc"}` per line,
 * readable with `tail -f`; the truth), `<runId>.idx` (8 bytes per cursor: the byte offset of its line;
 * derived, rebuilt from the log when missing or wrong) and `<runId>.ndjson.lock` while a process
 * writes the run. One process writes a run at a time; any number read it without locking.
 *
 * @example
 * ```ts
 * const events = new AgentEventLog({ dir: 'logs/agent_events' });
 * await events.append('run-1', { type: 'progress', payload: { step: 1 } });
 * for await (const event of events.follow('run-1', { after: lastEventId })) send(event);
 * ```
 */
export class AgentEventLog {
  static #memoryNext: MemoryEventBackend | undefined;

  /**
   * The same log without disk, for users' unit tests: same validation, cursors, sealing and
   * follow behaviour; nothing survives the process.
   */
  static inMemory(options: InMemoryEventLogOptions = {}): AgentEventLog {
    const terminal = new Set(options.terminalTypes ?? DEFAULT_TERMINAL_TYPES);
    AgentEventLog.#memoryNext = new MemoryEventBackend(terminal);
    try {
      return new AgentEventLog({ ...options, dir: 'memory' });
    } finally {
      AgentEventLog.#memoryNext = undefined;
    }
  }

  readonly #backend: EventBackend;
  readonly #terminal: ReadonlySet<string>;
  readonly #fsync: boolean;
  readonly #maxEventBytes: number;
  readonly #rules: AppendRules;
  readonly #recentEvents: number;
  readonly #runs = new Map<string, RunState>();
  readonly #followers = new Followers();
  readonly #background = new Set<Promise<void>>();
  /** What `close()` ends: follows and reads in progress, deletes and verifies under way. */
  readonly #activity = new LogActivity();
  readonly #reads = new Set<SyncToAsyncIterator<AgentEvent>>();
  /** What the log is called in a `StoreClosedError`. */
  readonly #name: string;
  #queue: Array<Pending & { runId: string }> = [];
  #scheduled = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  /** @throws ValidationError when an option is invalid. */
  constructor(options: AgentEventLogOptions) {
    const memory = AgentEventLog.#memoryNext;
    AgentEventLog.#memoryNext = undefined;
    const parsed = parseOptions(AgentEventLogOptionsSchema, options, 'AgentEventLog options');
    this.#terminal = new Set(parsed.terminalTypes ?? DEFAULT_TERMINAL_TYPES);
    this.#fsync = (parsed.durability ?? 'fsync') === 'fsync';
    this.#maxEventBytes = parsed.maxEventBytes ?? 1024 * 1024;
    this.#rules = {
      clock: parsed.clock ?? systemClock,
      maxEventBytes: this.#maxEventBytes,
      terminalTypes: this.#terminal,
    };
    // Memory needs no cache in front of it.
    this.#recentEvents = memory ? 0 : (parsed.recentEvents ?? 1024);
    this.#name = memory ? 'AgentEventLog (in memory)' : `AgentEventLog of '${parsed.dir}'`;
    this.#backend =
      memory ??
      new FileEventBackend({
        dir: parsed.dir,
        io: parsed.io ?? nodeEventLogIO,
        lock: parsed.lock ?? {},
        // Read lines up to the larger of this and 16 MiB, so that a log written with a larger
        // maxEventBytes than this instance's still reads (and is never cut as a torn tail).
        maxLineBytes: Math.max(this.#maxEventBytes + 64, 16 * 1024 * 1024),
        pollMs: parsed.pollMs ?? 1_000,
        terminalTypes: this.#terminal,
        onWarning: parsed.onWarning,
      });
  }

  /**
   * Appends an event to a run and returns it with its cursor. Resolves once the event is written
   * (with `durability: 'fsync'`, on disk). Appends issued together, to one run or many, are
   * committed together: one write and at most one fsync per run.
   *
   * The first append to a run in this process takes the run's writer lock (held until
   * {@link close} or {@link delete}) and repairs what a crash left (a torn last line is cut, the
   * index brought up to the log).
   *
   * The event it resolves with is exactly what {@link read} and {@link follow} return for it: the
   * payload as stored, a copy that shares nothing with the caller's object. The payload must be
   * JSON data: `null`, strings, booleans, finite numbers, arrays and plain objects; an object with
   * `toJSON` (a `Date`) is stored as what `toJSON` returns (the ISO string, in the result too); an
   * `undefined` property is left out (the key is absent in the result, as for readers) and an
   * `undefined` array item becomes `null`; a missing payload is `null`. `at` is the clock's reading.
   *
   * @throws InvalidIdError when `runId` breaks the id rule; ValidationError for a bad `type`, for a
   * payload holding anything JSON would drop or change (functions, symbols, BigInt, NaN, ±Infinity,
   * cycles, `Map`, `Set`, `Error` or any other class instance without `toJSON`, at any depth — the
   * message names where), or when the clock's reading is not whole epoch milliseconds in
   * 0..`MAX_CLOCK_MS`; PayloadTooLargeError over `maxEventBytes` — all before any file is touched. SealedLogError after a terminal event; LockError when another process
   * writes the run; StoreIOError when the disk refuses (the log stays as it was).
   */
  append(runId: string, input: AppendEventInput): Promise<AgentEvent> {
    // Everything runs in the executor, so that bad input rejects the promise rather than throwing.
    return new Promise<AgentEvent>((resolve, reject) => {
      this.#assertOpen();
      const prepared = prepareAppend(runId, input, this.#rules);
      this.#queue.push({ ...prepared, runId, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        // Let every append of this tick join the batch.
        queueMicrotask(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    const firstRun = batch[0]?.runId;
    if (batch.every((pending) => pending.runId === firstRun)) {
      if (firstRun !== undefined) this.#submit(firstRun, batch, false);
      return;
    }
    const byRun = groupByRun(batch);
    // Several runs: their fsyncs overlap off the event loop, where the backend can do that.
    for (const [runId, items] of byRun) this.#submit(runId, items, true);
  }

  #submit(runId: string, items: Pending[], overlap: boolean): void {
    let run = this.#runs.get(runId);
    if (run?.writable && !run.busy) {
      this.#commit(runId, run, items, overlap);
      return;
    }
    if (!run) {
      run = { lastCursor: 0, sealed: false, writable: false, busy: undefined, waiting: [], recent: undefined };
      this.#runs.set(runId, run);
    }
    run.waiting.push(...items);
    if (!run.writable) run.busy ??= this.#open(runId, run);
  }

  async #open(runId: string, run: RunState): Promise<void> {
    let tail: RunTail;
    try {
      tail = await this.#backend.openForAppend(runId);
    } catch (error) {
      run.busy = undefined;
      if (this.#runs.get(runId) === run) this.#runs.delete(runId);
      for (const item of run.waiting.splice(0)) item.reject(error);
      return;
    }
    run.busy = undefined;
    run.lastCursor = tail.lastCursor;
    run.sealed = tail.lastType !== undefined && this.#terminal.has(tail.lastType);
    const waiting = run.waiting.splice(0);
    if (run.sealed) {
      this.#release(runId, run);
      for (const item of waiting) item.reject(new SealedLogError(runId));
      return;
    }
    run.writable = true;
    if (this.#recentEvents > 0) run.recent = new RecentEvents(this.#recentEvents);
    this.#commit(runId, run, waiting, false);
  }

  /** Assigns cursors (refusing what comes after a terminal event) and writes the batch of one run. */
  #commit(runId: string, run: RunState, items: Pending[], overlap: boolean): void {
    const batch: Batch = { prepared: [], accepted: [], cursor: run.lastCursor, sealed: run.sealed };
    let sync = this.#fsync;
    for (const item of items) {
      if (batch.sealed) {
        item.reject(new SealedLogError(runId));
        continue;
      }
      batch.prepared.push({ cursor: ++batch.cursor, tail: item.tail });
      batch.accepted.push(item);
      if (item.terminal) batch.sealed = sync = true;
    }
    if (batch.accepted.length === 0) return;
    if (overlap && sync && this.#backend.writeAsync) {
      let durable: Promise<void>;
      try {
        durable = this.#backend.writeAsync(runId, batch.prepared);
      } catch (error) {
        this.#failed(runId, run, batch, error);
        return;
      }
      // Nothing else is written to the run until this batch is durable (or cut back).
      run.busy = durable
        .then(
          () => this.#committed(runId, run, batch),
          (error: unknown) => this.#failed(runId, run, batch, error),
        )
        .finally(() => {
          run.busy = undefined;
          const waiting = run.waiting.splice(0);
          if (waiting.length > 0) this.#submit(runId, waiting, false);
        });
      return;
    }
    try {
      this.#backend.write(runId, batch.prepared, sync);
    } catch (error) {
      this.#failed(runId, run, batch, error);
      return;
    }
    this.#committed(runId, run, batch);
  }

  /** A batch is written: acknowledge it, hand it to followers, and let go of the run if it sealed it. */
  #committed(runId: string, run: RunState, batch: Batch): void {
    const { prepared, accepted } = batch;
    run.lastCursor = batch.cursor;
    run.sealed = batch.sealed;
    const listeners = this.#followers.of(runId);
    const live: AgentEvent[] | undefined = listeners?.size ? [] : undefined;
    const recent = run.recent;
    let textLength = 0;
    for (let i = 0; i < accepted.length; i++) {
      const item = accepted[i]!;
      const eventCursor = prepared[i]!.cursor;
      recent?.add(eventCursor, item.type, item.at, item.payloadText);
      item.resolve({ runId, cursor: eventCursor, type: item.type, at: item.at, payload: item.payload });
      if (live) {
        // Followers get their own copy (the caller may change the one it was given).
        live.push({ runId, cursor: eventCursor, type: item.type, at: item.at, payload: JSON.parse(item.payloadText) });
        textLength += item.payloadText.length;
      }
    }
    if (live && listeners) for (const listener of listeners) listener.events(live, textLength);
    if (batch.sealed) this.#release(runId, run);
  }

  /** A batch failed: reject it and forget the run's state, so the next append re-reads it from disk. */
  #failed(runId: string, run: RunState, batch: Batch, error: unknown): void {
    run.writable = false;
    run.recent = undefined;
    if (this.#runs.get(runId) === run) this.#runs.delete(runId);
    const failure = error instanceof StoreError ? error : new StoreIOError(`run '${runId}'`, 'appending to', error);
    for (const item of batch.accepted) item.reject(failure);
  }

  /**
   * Lets go of a sealed run: nothing more will be written, so its lock and handles are released
   * and what this process knew of it is forgotten (another process may delete it from now on;
   * questions about it go to the disk).
   */
  #release(runId: string, run: RunState): void {
    run.writable = false;
    run.recent = undefined;
    if (this.#runs.get(runId) === run) this.#runs.delete(runId);
    this.#track(this.#backend.closeRun(runId));
  }

  #track(work: Promise<void>): void {
    const tracked = work.catch(() => {}).finally(() => this.#background.delete(tracked));
    this.#background.add(tracked);
  }

  /**
   * The run's events with a cursor greater than `after`, oldest first, at most `limit`. Streams
   * from disk in chunks (memory stays flat however long the run is); finding `after` is one index
   * read. Reads what is complete: a line being written or torn by a crash is not returned.
   * An unknown run yields nothing.
   */
  read(runId: string, options: ReadEventsOptions = {}): AsyncIterable<AgentEvent> {
    assertValidId(runId, 'runId');
    const { after = 0, limit = Number.POSITIVE_INFINITY } = parseInput(
      ReadEventsOptionsSchema,
      options,
      'read options',
    );
    const reads = this.#reads;
    const iterator: SyncToAsyncIterator<AgentEvent> = new SyncToAsyncIterator(
      () => {
        this.#assertOpen();
        reads.add(iterator);
        return this.#events(runId, after, limit);
      },
      () => reads.delete(iterator),
    );
    return iterator;
  }

  /** Events after `after`: from the cache of recent events when it holds them, else from the backend. */
  *#events(runId: string, after: number, limit: number): Generator<AgentEvent, void, undefined> {
    let last = after;
    let left = limit;
    // A reconnect to a live run this process writes: serve what the cache holds, then the disk.
    for (let event = this.#cached(runId, last + 1); event !== undefined && left > 0; ) {
      yield event;
      last = event.cursor;
      left--;
      event = this.#cached(runId, last + 1);
    }
    const run = this.#runs.get(runId);
    // While this process writes the run, it knows where the run ends.
    if (left <= 0 || (run?.writable && last >= run.lastCursor)) return;
    yield* this.#backend.read(runId, last, left);
  }

  #cached(runId: string, cursor: number): AgentEvent | undefined {
    const run = this.#runs.get(runId);
    return run?.writable ? run.recent?.get(runId, cursor) : undefined;
  }

  /**
   * Replays the run's events after `after`, then yields new ones as they are appended — by this
   * process (handed over directly) or another one (noticed through file-system notifications,
   * with a slow poll as fallback). No duplicates and no gaps across the switch from replay to
   * live. Ends after the terminal event, when the run is deleted, when `signal` aborts, or on
   * {@link close}. A run that does not exist yet is waited for (check {@link exists} first to
   * answer 404 instead).
   *
   * Memory is bounded however slowly the consumer reads (an SSE client that stops reading): a
   * follower holds at most 1,024 live events, and at most about 1 MiB of their payloads' JSON
   * text, that its consumer has not taken yet. When this process appends past that bound, the
   * follower drops every event it holds and keeps only its cursor; when the consumer asks for the
   * next event it reads on from the log (the log is the buffer: the latest events from this
   * process's cache of recent events, older ones from disk, in chunks) and then switches back to
   * live events — each event still once, in order. A follower of another process's writes reads
   * the disk in chunks as its consumer pulls, so it holds no more than a chunk.
   *
   * While it waits, a follower keeps a file watcher and a timer (they keep the process alive, as
   * an open socket would). Stop it with `signal` or by leaving the `for await` loop: an iterator
   * that is merely dropped holds them until the run ends.
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
    const unregister = this.#followers.add(runId, follower);
    active.end = () => follower.end();
    this.#activity.addFollow(active);
    const stopWatching = this.#backend.watch(runId, () => {
      // Appends by this process reach the follower directly; only look at the disk for others'.
      if (this.#runs.get(runId)?.writable) return;
      follower.changed();
    });
    signal?.addEventListener('abort', active.end, { once: true });
    try {
      for (;;) {
        if (follower.ended) return;
        for (let event = follower.take(); event !== undefined; event = follower.take()) {
          yield event;
          follower.last = event.cursor;
          if (this.#terminal.has(event.type) || follower.ended) return;
        }
        if (follower.takeStale()) {
          let got = false;
          let sinceTurn = 0;
          for (const event of this.#events(runId, follower.last, Number.POSITIVE_INFINITY)) {
            got = follower.seen = true;
            // As in read(): let timers and I/O run during a long replay.
            if (++sinceTurn >= YIELD_EVERY) {
              sinceTurn = 0;
              await new Promise<void>((resolve) => setImmediate(resolve));
            }
            yield event;
            follower.last = event.cursor;
            if (this.#terminal.has(event.type) || follower.ended) return;
          }
          if (!got) {
            const tail = this.#tailOf(runId);
            if (tail === undefined) {
              if (follower.seen) return; // deleted
            } else {
              follower.seen = true;
              if (tail.sealed && tail.lastCursor <= follower.last) return;
            }
          }
          continue;
        }
        await follower.wait();
      }
    } finally {
      this.#activity.deleteFollow(active);
      unregister();
      stopWatching();
      signal?.removeEventListener('abort', active.end);
    }
  }

  #tailOf(runId: string): { lastCursor: number; sealed: boolean } | undefined {
    const run = this.#runs.get(runId);
    // While this process holds the run's lock, nobody else can change it.
    if (run?.writable) return { lastCursor: run.lastCursor, sealed: run.sealed };
    const tail = this.#backend.tail(runId);
    return (
      tail && { lastCursor: tail.lastCursor, sealed: tail.lastType !== undefined && this.#terminal.has(tail.lastType) }
    );
  }

  /** Cursor of the run's last complete event; 0 when it has none or does not exist. */
  async lastCursor(runId: string): Promise<number> {
    this.#assertOpen();
    assertValidId(runId, 'runId');
    return this.#tailOf(runId)?.lastCursor ?? 0;
  }

  /** True when the run's last event is terminal: nothing more can be appended. */
  async isSealed(runId: string): Promise<boolean> {
    this.#assertOpen();
    assertValidId(runId, 'runId');
    return this.#tailOf(runId)?.sealed ?? false;
  }

  /**
   * True once the run has a log (its first append has begun). Cheap: one `stat`. Lets an SSE
   * endpoint answer 404 for an unknown run instead of following it until it appears.
   */
  async exists(runId: string): Promise<boolean> {
    this.#assertOpen();
    assertValidId(runId, 'runId');
    return this.#backend.exists(runId);
  }

  /** Ids of every run with a log, sorted. */
  async runIds(): Promise<string[]> {
    this.#assertOpen();
    return this.#backend.runIds();
  }

  /**
   * Removes the run's log and index. Followers of the run end. Takes the run's lock, so it fails
   * with `LockError` while another process writes the run. Returns false when there was nothing.
   */
  async delete(runId: string): Promise<boolean> {
    this.#assertOpen();
    assertValidId(runId, 'runId');
    return this.#activity.operation(async () => {
      await this.#settle(runId);
      this.#runs.delete(runId);
      this.#followers.end(runId);
      return this.#backend.delete(runId);
    });
  }

  /**
   * Checks the run's files from end to end: every line an intact event (checksum) with the next
   * cursor, no torn tail, every index entry pointing at its event. With `repair` (under the run's
   * lock), whatever must go — a torn tail, or everything from the first damaged line on — is first
   * copied intact to `<runId>.ndjson.corrupt-<time>-<random>` (`movedAside` in the report), then
   * cut; the index is rebuilt.
   */
  async verify(runId: string, options: { repair?: boolean } = {}): Promise<EventLogVerifyReport> {
    this.#assertOpen();
    assertValidId(runId, 'runId');
    const repair = parseOptions(VerifyEventsOptionsSchema, options, 'verify options').repair ?? false;
    return this.#activity.operation(async () => {
      await this.#settle(runId);
      // The backend releases the run to repair it; re-read the state from disk on the next append.
      if (repair) this.#runs.delete(runId);
      return this.#backend.verify(runId, repair);
    });
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError(this.#name);
  }

  /** Waits until the run's appends issued so far are settled (queued, or waiting for the run to open). */
  async #settle(runId: string): Promise<void> {
    for (;;) {
      const busy = this.#runs.get(runId)?.busy;
      if (busy) await busy;
      // The batch of this tick is flushed in a microtask queued before this one.
      else if (this.#queue.some((pending) => pending.runId === runId)) await Promise.resolve();
      else return;
    }
  }

  /**
   * Closes the log: refuses anything new, lets the appends already issued settle (they resolve
   * or reject as they would have), ends every follow in progress (its loop simply finishes), makes
   * reads in progress reject with `StoreClosedError`, and releases every lock and file handle.
   * Resolves once all of that is done. Idempotent: a second call resolves once the first one has
   * finished, ending any follow that is still running. After it, every method rejects with
   * `StoreClosedError` (`read` and `follow` on their first `next()`); open a new instance to use
   * the files again.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#shutdown();
    await this.#closing;
    // Nothing can start a follow any more; this only matters if one slipped through.
    await this.#activity.endFollows();
  }

  async #shutdown(): Promise<void> {
    // Appends issued before close() settle first: their batches are written or refused.
    while (this.#queue.length > 0 || this.#scheduled || [...this.#runs.values()].some((run) => run.busy)) {
      await Promise.all([...this.#runs.values()].map((run) => run.busy));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await this.#activity.endFollows();
    const closed = new StoreClosedError(this.#name);
    for (const read of [...this.#reads]) read.cancel(closed);
    await this.#activity.settled();
    this.#runs.clear();
    await Promise.all(this.#background);
    await this.#backend.close();
  }
}
