import { StoreClosedError } from './errors.js';

/**
 * The closing half of a store's lifecycle (DESIGN.md, "Lifecycle"), for any store to reuse:
 * it counts the operations in flight, refuses new ones once `close()` was called, and lets
 * `close()` resolve only after those in flight settled and the store's resources were released.
 *
 * ```ts
 * readonly #life = new Lifecycle('MyStore');
 * get(id) { return this.#life.run(async () => …); }
 * close() { return this.#life.close(() => this.#handle.close()); }
 * ```
 */
export class Lifecycle {
  #closed = false;
  #inFlight = 0;
  #idle: (() => void)[] = [];
  #closing: Promise<void> | undefined;

  /** @param store - how error messages name the store, e.g. `'ProjectMemoryStore'`. */
  constructor(readonly store: string) {}

  /** True once `close()` was called (even while it is still waiting). */
  get closed(): boolean {
    return this.#closed;
  }

  /** @throws StoreClosedError once `close()` was called. For a method's first line, before it validates input. */
  check(): void {
    if (this.#closed) throw new StoreClosedError(this.store);
  }

  /** Runs `operation`, unless closed (then rejects with StoreClosedError); `close()` waits for it to settle. */
  async run<T>(operation: () => Promise<T>): Promise<T> {
    this.check();
    this.#inFlight++;
    try {
      return await operation();
    } finally {
      if (--this.#inFlight === 0) for (const wake of this.#idle.splice(0)) wake();
    }
  }

  /**
   * Refuses new operations at once, waits for those in flight, then calls `release` (once).
   * Idempotent: every call returns the same promise.
   */
  close(release?: () => void | Promise<void>): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      if (this.#inFlight > 0) await new Promise<void>((wake) => this.#idle.push(wake));
      await release?.();
    })();
    return this.#closing;
  }
}
