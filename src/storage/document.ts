import { StoreError, StoreIOError } from './errors.js';
import { Lifecycle } from './lifecycle.js';

/**
 * One immutable version of a store's document: keyed entries, a small `meta` object and an
 * append-only `log`. Never mutated: a commit makes a new snapshot that shares unchanged entries.
 */
export interface Snapshot<E, M, L> {
  /** Revision, +1 on every write; lets a writer under the lock tell whether the file moved on. */
  readonly rev: number;
  readonly meta: M;
  readonly entries: ReadonlyMap<string, E>;
  readonly log: readonly L[];
}

/**
 * Where a {@link DurableDocument} keeps its snapshots: a JSON file (with a cross-process lock)
 * or memory (the twin behind every store's `inMemory()`).
 */
export interface DocumentAdapter<E, M, L> {
  /** Serialises writers across processes; resolves to the release function, which never rejects. */
  lock(): Promise<() => Promise<void>>;
  /**
   * The current snapshot. `locked` says the caller holds the lock, so the adapter must check the
   * file itself rather than trust a cheap identity check, and may repair (quarantine) it.
   */
  load(locked: boolean): Promise<Snapshot<E, M, L>>;
  /** Persists `next` durably; on failure the stored version is unchanged. */
  write(next: Snapshot<E, M, L>): Promise<void>;
  /** Releases what the adapter holds between operations (a watch's descriptor). */
  close?(): void | Promise<void>;
}

/** The view of the document a mutation works on. Changes become visible only if the mutation returns. */
export interface Transaction<E, M, L> {
  get(id: string): E | undefined;
  has(id: string): boolean;
  /** Every entry, with this batch's earlier changes and this mutation's own. */
  values(): IterableIterator<E>;
  put(id: string, entry: E): void;
  delete(id: string): boolean;
  readonly meta: M;
  setMeta(meta: M): void;
  readonly log: readonly L[];
  appendLog(row: L): void;
}

/** A change to the document. It may throw to refuse; whatever it staged before throwing is discarded. */
export type Mutation<E, M, L, R> = (tx: Transaction<E, M, L>) => R;

interface Pending<E, M, L> {
  mutation: Mutation<E, M, L, unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

const DELETED = Symbol('deleted');

/** Batch-level working copy: created lazily, on the first mutation that changes something. */
class WorkingState<E, M, L> {
  entries: Map<string, E> | undefined;
  meta: M;
  log: L[] | undefined;
  changed = false;

  constructor(readonly base: Snapshot<E, M, L>) {
    this.meta = base.meta;
  }

  get currentEntries(): ReadonlyMap<string, E> {
    return this.entries ?? this.base.entries;
  }

  get currentLog(): readonly L[] {
    return this.log ?? this.base.log;
  }

  toSnapshot(): Snapshot<E, M, L> {
    return {
      rev: this.base.rev + 1,
      meta: this.meta,
      entries: this.entries ?? this.base.entries,
      log: this.log ?? this.base.log,
    };
  }
}

/** One mutation's staged changes over the batch's working state. */
class Overlay<E, M, L> implements Transaction<E, M, L> {
  readonly puts = new Map<string, E | typeof DELETED>();
  readonly appended: L[] = [];
  newMeta: { value: M } | undefined;

  constructor(private readonly state: WorkingState<E, M, L>) {}

  get(id: string): E | undefined {
    const staged = this.puts.get(id);
    if (staged === DELETED) return undefined;
    return staged ?? this.state.currentEntries.get(id);
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  *values(): IterableIterator<E> {
    for (const [id, entry] of this.state.currentEntries) {
      if (!this.puts.has(id)) yield entry;
    }
    for (const staged of this.puts.values()) if (staged !== DELETED) yield staged;
  }

  put(id: string, entry: E): void {
    this.puts.set(id, entry);
  }

  delete(id: string): boolean {
    const existed = this.has(id);
    if (existed) this.puts.set(id, DELETED);
    return existed;
  }

  get meta(): M {
    return this.newMeta ? this.newMeta.value : this.state.meta;
  }

  setMeta(meta: M): void {
    this.newMeta = { value: meta };
  }

  get log(): readonly L[] {
    return this.appended.length ? [...this.state.currentLog, ...this.appended] : this.state.currentLog;
  }

  appendLog(row: L): void {
    this.appended.push(row);
  }

  /** Folds these changes into the batch's working state. */
  commit(): void {
    const state = this.state;
    if (this.puts.size) {
      state.entries ??= new Map(state.base.entries);
      for (const [id, staged] of this.puts) {
        if (staged === DELETED) state.entries.delete(id);
        else state.entries.set(id, staged);
      }
      state.changed = true;
    }
    if (this.appended.length) {
      state.log ??= [...state.base.log];
      state.log.push(...this.appended);
      state.changed = true;
    }
    if (this.newMeta) {
      state.meta = this.newMeta.value;
      state.changed = true;
    }
  }
}

/**
 * A document shared by every store: reads from a cached snapshot, writes by group commit.
 *
 * Mutations issued together (in the same tick, or while a write is in flight) form one batch:
 * under one lock, applied in order to the file's current contents, persisted with one write.
 * Every caller's promise settles only after the write that contains its change — unlike lowdb's
 * writer, no intermediate write is dropped, and a failed write fails every change in it.
 */
export class DurableDocument<E, M, L> {
  readonly #adapter: DocumentAdapter<E, M, L>;
  readonly #life: Lifecycle;
  #queue: Pending<E, M, L>[] = [];
  #flushing = false;

  /** @param store - how a {@link StoreClosedError} names the store after {@link DurableDocument.close}. */
  constructor(adapter: DocumentAdapter<E, M, L>, store = 'the store') {
    this.#adapter = adapter;
    this.#life = new Lifecycle(store);
  }

  /**
   * Throws {@link StoreClosedError} once the document was closed: a store method's first line, so
   * that a closed store says so before it looks at the input.
   */
  checkOpen(): void {
    this.#life.check();
  }

  /**
   * Closes the document: idempotent; resolves once every read and mutation already issued settled
   * and the file's watch descriptor is released. Afterwards `read()` and `mutate()` reject with
   * {@link StoreClosedError}.
   */
  close(): Promise<void> {
    return this.#life.close(() => this.#adapter.close?.());
  }

  /** The current snapshot, revalidated against the file (one `stat` when nothing changed). */
  read(): Promise<Snapshot<E, M, L>> {
    return this.#life.run(() => this.#adapter.load(false));
  }

  /** Applies `mutation` durably; resolves with its result once the change is on disk. */
  mutate<R>(mutation: Mutation<E, M, L, R>): Promise<R> {
    return this.#life.run(() => this.#enqueue(mutation));
  }

  #enqueue<R>(mutation: Mutation<E, M, L, R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ mutation, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        // Let the rest of this tick's callers join the batch.
        queueMicrotask(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length) {
        const batch = this.#queue;
        this.#queue = [];
        await this.#commit(batch);
      }
    } finally {
      this.#flushing = false;
    }
  }

  async #commit(batch: Pending<E, M, L>[]): Promise<void> {
    let release: (() => Promise<void>) | undefined;
    const settled: { ok: boolean; value: unknown }[] = [];
    let failure: unknown;
    try {
      release = await this.#adapter.lock();
      const state = new WorkingState(await this.#adapter.load(true));
      for (const pending of batch) {
        const overlay = new Overlay(state);
        try {
          const value = pending.mutation(overlay);
          overlay.commit();
          settled.push({ ok: true, value });
        } catch (error) {
          settled.push({ ok: false, value: error });
        }
      }
      if (state.changed) await this.#adapter.write(state.toSnapshot());
    } catch (error) {
      // The lock, the load or the write failed: nothing of this batch is on disk.
      failure = error instanceof StoreError ? error : new StoreIOError('the store file', 'writing', error);
    }
    // Release before anyone hears back, so a caller never observes its own lock still held.
    await release?.();
    batch.forEach((pending, index) => {
      const outcome = settled[index];
      if (failure !== undefined) pending.reject(failure);
      else if (outcome?.ok) pending.resolve(outcome.value);
      else pending.reject(outcome?.value);
    });
  }
}
