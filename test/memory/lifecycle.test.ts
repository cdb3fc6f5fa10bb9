import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProjectMemoryStore } from '../../src/memory/index.js';
import { StoreClosedError } from '../../src/storage/index.js';
import { descriptorsOn } from '../helpers/descriptors.js';
import { manualClock } from '../helpers/manual-clock.js';
import { tempDir } from '../helpers/tmp.js';
import { memoryBackends, projectEntry } from './helpers.js';

/** Every public method, each called once (some with input that is wrong on purpose). */
const calls: [string, (s: ProjectMemoryStore) => Promise<unknown>][] = [
  ['save', (s) => s.save(projectEntry('x'))],
  ['save (bad input)', (s) => s.save({ ...projectEntry('x'), scope: 'session' as 'project' })],
  ['get', (s) => s.get('a')],
  ['remove', (s) => s.remove('a')],
  ['list', (s) => s.list()],
  ['recall', (s) => s.recall({ tags: ['cpu'] })],
  ['promote', (s) => s.promote('a', { fromScope: 'project', toScope: 'project', trigger: 'user_feedback' })],
  ['promotionAudit', (s) => s.promotionAudit()],
  ['stats', (s) => s.stats()],
  ['applyFeedback', (s) => s.applyFeedback('a', 'positive')],
  ['sweepAutoConfirm', (s) => s.sweepAutoConfirm()],
];

describe.each(memoryBackends)('ProjectMemoryStore.close() (%s)', (_name, open) => {
  it.each(calls)('makes %s reject with StoreClosedError afterwards', async (_method, call) => {
    const store = open(manualClock());
    await store.save(projectEntry('a'));
    await store.close();
    const error = await call(store).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreClosedError);
    expect(error).toMatchObject({ code: 'CLOSED' });
    expect((error as Error).message).toContain('ProjectMemoryStore');
  });

  it('is idempotent: every call resolves, also once closed', async () => {
    const store = open(manualClock());
    await store.list();
    const first = store.close();
    const second = store.close();
    await expect(Promise.all([first, second])).resolves.toEqual([undefined, undefined]);
    await expect(store.close()).resolves.toBeUndefined();
  });

  it('resolves only after the writes in flight settled', async () => {
    const store = open(manualClock());
    const settled: string[] = [];
    const writes = ['a', 'b', 'c'].map((id) => store.save(projectEntry(id)).then(() => settled.push(id)));
    await store.close();
    expect(settled.sort()).toEqual(['a', 'b', 'c']);
    await Promise.all(writes);
  });
});

describe('ProjectMemoryStore.close() on a file', () => {
  it('leaves the writes made before it on disk for the next instance', async () => {
    const file = path.join(tempDir(), 'analysis_project_memory.json');
    const store = new ProjectMemoryStore({ path: file });
    const pending = store.save(projectEntry('a'));
    await store.close();
    await pending;
    expect((await new ProjectMemoryStore({ path: file }).get('a'))?.entryId).toBe('a');
  });

  it.skipIf(process.platform !== 'linux')('releases the descriptor it held on the file (Linux /proc)', async () => {
    const file = path.join(tempDir(), 'analysis_project_memory.json');
    const store = new ProjectMemoryStore({ path: file });
    await store.save(projectEntry('a'));
    await store.get('a');
    expect(descriptorsOn(file)).toBe(1);
    await store.close();
    expect(descriptorsOn(file)).toBe(0);
  });
});
