import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { createStores, STORE_FILE_NAMES, StoreClosedError, ValidationError } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';

async function useAll(stores: ReturnType<typeof createStores>): Promise<void> {
  await stores.memory.save({
    entryId: 'm1',
    scope: 'project',
    projectKey: 'p',
    tags: ['t'],
    insight: 'i',
    confidence: 0.5,
    status: 'provisional',
    createdAt: 1,
  });
  await stores.pipeline.create({ entryId: 'e1', feedbackId: 'f1' });
  await stores.runs.create({ runId: 'r1', sessionId: 's', question: 'q' });
  await stores.runs.complete('r1', { answer: 42 });
}

describe('createStores', () => {
  it('keeps the four stores under the root with the default names', async () => {
    const root = tempDir();
    const stores = createStores({ root });
    await useAll(stores);
    await stores.close();
    expect(fs.readdirSync(root).sort()).toEqual(
      [STORE_FILE_NAMES.events, STORE_FILE_NAMES.memory, STORE_FILE_NAMES.runs, STORE_FILE_NAMES.pipeline].sort(),
    );
    expect(STORE_FILE_NAMES).toEqual({
      memory: 'analysis_project_memory.json',
      pipeline: 'feedback_pipeline.json',
      events: 'agent_events',
      runs: 'analysis_runs',
    });
  });

  it('wires the run store to the event log: a completion ends the run’s stream', async () => {
    const root = tempDir();
    const stores = createStores({ root });
    await useAll(stores);
    const events = [];
    for await (const event of stores.events.read('r1')) events.push(event);
    expect(events).toMatchObject([{ cursor: 1, type: 'analysis_completed', payload: { result: { answer: 42 } } }]);
    expect(await stores.events.isSealed('r1')).toBe(true);
    await stores.close();
  });

  it('uses ./logs when no root is given', async () => {
    const cwd = process.cwd();
    const dir = tempDir();
    process.chdir(dir);
    try {
      const stores = createStores();
      await stores.runs.create({ runId: 'r1', sessionId: 's', question: 'q' });
      await stores.close();
      expect(fs.existsSync(path.join(dir, 'logs', 'analysis_runs', 'active', 'r1.json'))).toBe(true);
    } finally {
      process.chdir(cwd);
    }
  });

  it('creates nothing on disk until a store is used', async () => {
    const root = path.join(tempDir(), 'not-yet');
    const stores = createStores({ root });
    expect(await stores.runs.list({ status: 'running' })).toEqual([]);
    await stores.close();
    expect(fs.existsSync(root)).toBe(false);
  });

  it('passes per-store options through, and a shared clock to every store', async () => {
    const root = tempDir();
    const stores = createStores({ root, clock: () => 5_000, runs: { staleAfterMs: 1_234 } });
    expect(stores.runs.staleAfterMs).toBe(1_234);
    const run = await stores.runs.create({ runId: 'r1', sessionId: 's', question: 'q' });
    expect(run.createdAt).toBe(5_000);
    const event = await stores.events.append('r1', { type: 'progress' });
    expect(event.at).toBe(5_000);
    await stores.close();
  });

  it('stops the run store’s heartbeat timers on close', async () => {
    const root = tempDir();
    let now = 1_000;
    const stores = createStores({ root, clock: () => now });
    await stores.runs.create({ runId: 'r1', sessionId: 's', question: 'q' });
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      stores.runs.startHeartbeat('r1', { intervalMs: 5 });
      await vi.advanceTimersByTimeAsync(0);
      await stores.close();
      now = 2_000;
      await vi.advanceTimersByTimeAsync(100);
    } finally {
      vi.useRealTimers();
    }
    const reader = createStores({ root });
    expect((await reader.runs.get('r1'))?.heartbeatAt).toBe(1_000);
    await reader.close();
  });

  it('closes all four stores, and closes again on a later call', async () => {
    const stores = createStores({ root: tempDir() });
    const closes = [stores.runs, stores.events, stores.memory, stores.pipeline].map((store) =>
      'close' in store ? vi.spyOn(store as { close(): Promise<void> }, 'close') : undefined,
    );
    await stores.close();
    await expect(stores.runs.list()).rejects.toBeInstanceOf(StoreClosedError);
    await stores.events.append('r1', { type: 'progress', payload: {} }).catch(() => {});
    await stores.close();
    for (const spy of closes) if (spy) expect(spy).toHaveBeenCalledTimes(2);
    expect(closes[0]).toBeDefined();
    expect(closes[1]).toBeDefined();
  });

  it('refuses an empty root', () => {
    expect(() => createStores({ root: '' })).toThrow(ValidationError);
  });
});
