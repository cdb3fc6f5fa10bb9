import type { AgentEvent } from './agent-event.js';

interface Slot {
  cursor: number;
  type: string;
  at: number;
  payloadText: string;
}

/**
 * The last events appended to a run by this process, so a client that reconnects to a live run
 * gets its first event without touching the disk. Only a cache: the log on disk is the truth, and
 * whatever the cache does not hold is read from there.
 */
export class RecentEvents {
  readonly #slots: (Slot | undefined)[];
  #last = 0;

  constructor(readonly capacity: number) {
    this.#slots = new Array(capacity);
  }

  add(cursor: number, type: string, at: number, payloadText: string): void {
    this.#slots[cursor % this.capacity] = { cursor, type, at, payloadText };
    this.#last = cursor;
  }

  /** Event `cursor` as a read from disk would return it (a fresh payload), or `undefined` when not held. */
  get(runId: string, cursor: number): AgentEvent | undefined {
    if (cursor > this.#last || cursor <= this.#last - this.capacity) return undefined;
    const slot = this.#slots[cursor % this.capacity];
    if (slot?.cursor !== cursor) return undefined;
    return { runId, cursor, type: slot.type, at: slot.at, payload: JSON.parse(slot.payloadText) };
  }
}
