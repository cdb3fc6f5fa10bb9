import type { AgentEvent } from './agent-event.js';

/** A follow in progress: its generator, and how to end it. */
export interface ActiveFollow {
  generator: AsyncGenerator<AgentEvent> | undefined;
  end(): void;
}

/**
 * What an event log's `close()` waits for and ends, whatever it stores on: the operations under
 * way (deletes, verifies, queries) and the follows in progress.
 */
export class LogActivity {
  readonly #operations = new Set<Promise<unknown>>();
  readonly #follows = new Set<ActiveFollow>();

  /** Runs `work`, which {@link settled} waits for. */
  operation<T>(work: () => Promise<T>): Promise<T> {
    const running = work();
    const tracked: Promise<unknown> = running.then(
      () => this.#operations.delete(tracked),
      () => this.#operations.delete(tracked),
    );
    this.#operations.add(tracked);
    return running;
  }

  /** Resolves once the operations under way have settled. */
  async settled(): Promise<void> {
    await Promise.all(this.#operations);
  }

  addFollow(follow: ActiveFollow): void {
    this.#follows.add(follow);
  }

  deleteFollow(follow: ActiveFollow): void {
    this.#follows.delete(follow);
  }

  /** How many follows are in progress. */
  get follows(): number {
    return this.#follows.size;
  }

  /** Ends every follow in progress, and waits until each has let go of what it held. */
  async endFollows(): Promise<void> {
    const follows = [...this.#follows];
    for (const follow of follows) follow.end();
    // A generator suspended at a yield (its consumer stalled) runs its cleanup on return().
    await Promise.all(follows.map((follow) => follow.generator?.return(undefined)));
  }
}
