// close() as every memory store must do it (DESIGN.md, Lifecycle), run against the file, the
// in-memory twin (lifecycle.test.ts) and PostgreSQL (test/postgres/memory.conformance.test.ts).
import { describe, expect, it } from 'vitest';
import type { MemoryStore } from '../../src/memory/index.js';
import { StoreClosedError } from '../../src/storage/index.js';
import { manualClock } from '../helpers/manual-clock.js';
import { type OpenMemoryStore, projectEntry } from './helpers.js';

/** Every public method, each called once (some with input that is wrong on purpose). */
const calls: [string, (s: MemoryStore) => Promise<unknown>][] = [
  ['save', (s) => s.save(projectEntry('x'))],
  ['save (bad input)', (s) => s.save({ ...projectEntry('x'), scope: 'session' as 'project' })],
  ['update', (s) => s.update('a', { confidence: 0.1 })],
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

export function describeMemoryCloseConformance(label: string, open: OpenMemoryStore): void {
  describe(`memory store close() (${label})`, () => {
    it.each(calls)('makes %s reject with StoreClosedError afterwards', async (_method, call) => {
      const store = open(manualClock());
      await store.save(projectEntry('a'));
      await store.close();
      const error = await call(store).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreClosedError);
      expect(error).toMatchObject({ code: 'CLOSED' });
      expect((error as Error).message).toContain(store.constructor.name);
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
}
