/**
 * Keeps the writes of one store instance in the order they were issued where that order can be
 * seen, and lets the others run at once on the pool's connections.
 *
 * The file stores apply calls issued together in issue order (a `remove()` issued right after a
 * `save()` of the same entry removes it). With a pool, two calls issued together would race to
 * the server. Each operation names the keys it touches (an entry, or a resource such as the
 * stamp row); it starts once every operation issued before it on one of those keys has settled.
 * An operation on `'all'` waits for everything issued before it, and everything issued after it
 * waits for it. Operations on different keys run side by side.
 *
 * Only order within this instance is kept here; across instances, the row locks decide.
 */
export class IssueOrder {
  /** The last operation issued on each key, while it has not settled. */
  readonly #tails = new Map<string, Promise<void>>();
  /** The last operation issued on `'all'`, while it has not settled. */
  #barrier: Promise<void> | undefined;

  /** Runs `operation` once the earlier operations on `keys` have settled (whether they failed or not). */
  run<T>(keys: readonly string[] | 'all', operation: () => Promise<T>): Promise<T> {
    const before: Promise<void>[] = keys === 'all' ? [...this.#tails.values()] : [];
    if (keys !== 'all') for (const key of keys) before.push(...this.#get(key));
    if (this.#barrier) before.push(this.#barrier);
    // Started at once when nothing is ahead of it; a synchronous throw becomes a rejection.
    const result = before.length ? Promise.all(before).then(operation) : new Promise<T>((ok) => ok(operation()));
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    if (keys === 'all') {
      // Everything issued later waits for the barrier, which waits for every tail: they are not needed.
      this.#tails.clear();
      this.#barrier = settled;
      void settled.then(() => {
        if (this.#barrier === settled) this.#barrier = undefined;
      });
    } else {
      for (const key of keys) {
        this.#tails.set(key, settled);
        void settled.then(() => {
          if (this.#tails.get(key) === settled) this.#tails.delete(key);
        });
      }
    }
    return result;
  }

  #get(key: string): Promise<void>[] {
    const tail = this.#tails.get(key);
    return tail ? [tail] : [];
  }
}
