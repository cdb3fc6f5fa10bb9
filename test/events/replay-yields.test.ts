import { describe, expect, it } from 'vitest';
import { AgentEventLog } from '../../src/events/index.js';
import { tempDir } from '../helpers/tmp.js';

/** A log holding `count` events of one run, the last one terminal. */
async function logWith(count: number, dir = tempDir()): Promise<AgentEventLog> {
  const log = new AgentEventLog({ dir, durability: 'flush' });
  await Promise.all(
    Array.from({ length: count - 1 }, (_, i) => log.append('run-1', { type: 'progress', payload: { i } })),
  );
  await log.append('run-1', { type: 'end', payload: null });
  return log;
}

/** Counts how often the event loop got a turn (a macrotask ran) while `consume` ran. */
async function turnsDuring(consume: () => Promise<number>): Promise<{ turns: number; events: number }> {
  let turns = 0;
  let running = true;
  const tick = () => {
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  const events = await consume();
  running = false;
  return { turns, events };
}

describe('long replays share the event loop', () => {
  it('read() lets timers and I/O run while it replays thousands of events', async () => {
    const log = await logWith(5_000);
    const { turns, events } = await turnsDuring(async () => {
      let n = 0;
      for await (const _event of log.read('run-1')) n++;
      return n;
    });
    expect(events).toBe(5_000);
    expect(turns).toBeGreaterThanOrEqual(3);
    await log.close();
  });

  it('follow() lets timers and I/O run while it replays a sealed run from disk', async () => {
    const dir = tempDir();
    await (await logWith(5_000, dir)).close();
    // A fresh instance has nothing in memory, so it replays from the file.
    const reader = new AgentEventLog({ dir });
    const { turns, events } = await turnsDuring(async () => {
      let n = 0;
      for await (const _event of reader.follow('run-1')) n++;
      return n;
    });
    expect(events).toBe(5_000);
    expect(turns).toBeGreaterThanOrEqual(3);
    await reader.close();
  });
});
