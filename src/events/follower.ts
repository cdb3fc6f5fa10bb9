import type { AgentEvent } from './agent-event.js';

/**
 * The most live events a follower holds for a consumer that has not taken them yet, and the most
 * payload JSON text (in UTF-16 units, about bytes) they may add up to. Past either, the follower
 * drops what it holds and reads on from storage by cursor once its consumer catches up.
 */
export const FOLLOW_BUFFER_EVENTS = 1_024;
export const FOLLOW_BUFFER_TEXT = 1024 * 1024;

/**
 * The state of one follow, shared by every event log: where it is (`last`), the live events its
 * log's own appends handed over and its consumer has not taken yet (bounded), whether it must read
 * from storage first (`stale`: at the start, after a gap, after dropping what it held, or when
 * told storage changed), and the wake-up of a follow waiting for any of that.
 *
 * A log's follow loop: take live events while they continue `last` without a gap; when stale,
 * read on from storage after `last`; else wait.
 */
export class Follower {
  /** The cursor it yielded last. */
  last: number;
  /** It has seen the run exist (so that a run gone afterwards was deleted). */
  seen = false;
  #live: AgentEvent[] = [];
  #next = 0;
  #text = 0;
  #stale = true; // start with a replay from storage
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(after: number) {
    this.last = after;
  }

  /** Events this log committed, in cursor order (`textLength`: their payloads' JSON text, together). */
  events(events: readonly AgentEvent[], textLength: number): void {
    // Behind already: the next read from storage gets these too.
    if (this.#stale) return;
    if (this.#live.length + events.length > FOLLOW_BUFFER_EVENTS || this.#text + textLength > FOLLOW_BUFFER_TEXT) {
      // The consumer is not keeping up: hold nothing, and read on from storage by cursor.
      this.#clear();
      this.#stale = true;
    } else {
      for (const event of events) this.#live.push(event);
      this.#text += textLength;
    }
    this.#poke();
  }

  /** Storage may hold events this follower has not seen (another process appended, or the run went). */
  changed(): void {
    this.#stale = true;
    this.#poke();
  }

  /** Ends the follow: its loop finishes with what it yielded. */
  end(): void {
    this.#ended = true;
    this.#poke();
  }

  get ended(): boolean {
    return this.#ended;
  }

  /**
   * The next live event after {@link last}, or `undefined` when none is held — or when the next
   * one held leaves a gap (events committed before it was handed over), which makes it stale.
   */
  take(): AgentEvent | undefined {
    while (!this.#stale && this.#next < this.#live.length) {
      const event = this.#live[this.#next++]!;
      if (event.cursor <= this.last) continue;
      if (event.cursor === this.last + 1) return event;
      this.#stale = true;
    }
    this.#clear();
    return undefined;
  }

  /** True, once, when it must read on from storage (call after {@link take} returned `undefined`). */
  takeStale(): boolean {
    if (!this.#stale) return false;
    this.#stale = false;
    return true;
  }

  /** Resolves on the next live events, change or end. */
  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
    });
  }

  #clear(): void {
    this.#live = [];
    this.#next = 0;
    this.#text = 0;
  }

  #poke(): void {
    const resolve = this.#wake;
    this.#wake = undefined;
    resolve?.();
  }
}

/** The follows of one event log, by run: both logs register theirs here and hand them live events. */
export class Followers {
  readonly #byRun = new Map<string, Set<Follower>>();

  /** Registers `follower` for `runId`; returns the function that unregisters it. */
  add(runId: string, follower: Follower): () => void {
    let followers = this.#byRun.get(runId);
    if (!followers) this.#byRun.set(runId, (followers = new Set()));
    followers.add(follower);
    return () => {
      followers.delete(follower);
      if (followers.size === 0 && this.#byRun.get(runId) === followers) this.#byRun.delete(runId);
    };
  }

  /** The run's follows, or `undefined` when it has none. */
  of(runId: string): ReadonlySet<Follower> | undefined {
    return this.#byRun.get(runId);
  }

  /** Runs with at least one follow. */
  runIds(): string[] {
    return [...this.#byRun.keys()];
  }

  /** True when no run is followed. */
  get empty(): boolean {
    return this.#byRun.size === 0;
  }

  /** Ends the run's follows (its log was deleted). */
  end(runId: string): void {
    for (const follower of this.#byRun.get(runId) ?? []) follower.end();
  }

  /** Tells every follow that storage may have changed. */
  changedAll(): void {
    for (const followers of this.#byRun.values()) for (const follower of followers) follower.changed();
  }
}
