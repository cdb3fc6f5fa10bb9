import type { AgentEvent } from '../../src/events/index.js';

/** Every item of an async iterable. */
export async function collect(iterable: AsyncIterable<AgentEvent>): Promise<AgentEvent[]> {
  const out: AgentEvent[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** The cursors of some events. */
export const cursors = (events: readonly AgentEvent[]): number[] => events.map((event) => event.cursor);

/** 1…n. */
export const range = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => from + i);

/** Resolves after the pending I/O callbacks and timers of this turn (not a timing assumption: an ordering one). */
export const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
