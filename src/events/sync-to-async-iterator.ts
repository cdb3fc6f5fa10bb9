/** Items handed out between two turns of the event loop. */
export const YIELD_EVERY = 1024;

/**
 * Presents a synchronous iterator (the event log reads with synchronous syscalls) as an async
 * iterable, with one already-settled promise per item: several times cheaper per event than an
 * async generator delegating to it, which is what a replay of a million events pays for.
 */
export class SyncToAsyncIterator<T> implements AsyncIterableIterator<T> {
  readonly #source: () => Iterator<T, void, undefined>;
  readonly #onEnd: (() => void) | undefined;
  #iterator: Iterator<T, void, undefined> | undefined;
  #done = false;
  /** Set by {@link cancel}: what every later `next()` rejects with. */
  #error: unknown;
  #sinceTurn = 0;

  /**
   * `source` is called on the first `next()`, so nothing is opened before the caller starts
   * reading. `onEnd` is called once the source is finished with (exhausted, failed, returned or
   * cancelled), when it was started.
   */
  constructor(source: () => Iterator<T, void, undefined>, onEnd?: () => void) {
    this.#source = source;
    this.#onEnd = onEnd;
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.#done) {
      return this.#error === undefined
        ? Promise.resolve({ done: true, value: undefined })
        : Promise.reject(this.#error);
    }
    try {
      this.#iterator ??= this.#source();
      const result = this.#iterator.next();
      if (result.done) this.#end();
      const settled: IteratorResult<T, undefined> = result.done ? { done: true, value: undefined } : result;
      // Settled promises never leave the microtask queue: give timers and I/O a turn now and then,
      // or a long replay would stall the whole server (heartbeats, lock refreshes, other clients).
      if (++this.#sinceTurn >= YIELD_EVERY) {
        this.#sinceTurn = 0;
        return new Promise((resolve) => setImmediate(resolve, settled));
      }
      return Promise.resolve(settled);
    } catch (error) {
      this.#end();
      return Promise.reject(error);
    }
  }

  return(): Promise<IteratorResult<T, undefined>> {
    if (!this.#done) {
      this.#iterator?.return?.();
      this.#end();
    }
    return Promise.resolve({ done: true, value: undefined });
  }

  /** Closes the source now (its files with it); every later `next()` rejects with `error`. */
  cancel(error: unknown): void {
    if (this.#done) return;
    this.#error = error;
    this.#iterator?.return?.();
    this.#end();
  }

  #end(): void {
    this.#done = true;
    if (this.#iterator !== undefined) this.#onEnd?.();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
