// close() as every feedback pipeline must do it (DESIGN.md, Lifecycle), run against the file, the
// in-memory twin (lifecycle.test.ts) and PostgreSQL (test/postgres/pipeline.conformance.test.ts).
import { describe, expect, it } from 'vitest';
import type { PipelineStore } from '../../src/feedback/index.js';
import { StoreClosedError } from '../../src/storage/index.js';
import { manualClock } from '../helpers/manual-clock.js';
import type { OpenPipeline } from './helpers.js';

/** Every public method, each called once (some with input that is wrong on purpose). */
const calls: [string, (p: PipelineStore) => Promise<unknown>][] = [
  ['create', (p) => p.create({ entryId: 'x', feedbackId: 'f' })],
  ['create (bad input)', (p) => p.create({ entryId: '', feedbackId: '' })],
  ['advance', (p) => p.advance('a', { stage: 'case_draft' })],
  ['get', (p) => p.get('a')],
  ['remove', (p) => p.remove('a')],
  ['list', (p) => p.list()],
  ['stats', (p) => p.stats()],
];

export function describePipelineCloseConformance(label: string, open: OpenPipeline): void {
  describe(`feedback pipeline close() (${label})`, () => {
    it.each(calls)('makes %s reject with StoreClosedError afterwards', async (_method, call) => {
      const pipeline = open(manualClock());
      await pipeline.create({ entryId: 'a', feedbackId: 'f' });
      await pipeline.close();
      const error = await call(pipeline).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreClosedError);
      expect(error).toMatchObject({ code: 'CLOSED' });
      expect((error as Error).message).toContain(pipeline.constructor.name);
    });

    it('is idempotent: every call resolves, also once closed', async () => {
      const pipeline = open(manualClock());
      await pipeline.list();
      const first = pipeline.close();
      const second = pipeline.close();
      await expect(Promise.all([first, second])).resolves.toEqual([undefined, undefined]);
      await expect(pipeline.close()).resolves.toBeUndefined();
    });

    it('resolves only after the writes in flight settled, and they are kept', async () => {
      const pipeline = open(manualClock());
      const settled: string[] = [];
      const writes = ['a', 'b', 'c'].map((id) =>
        pipeline.create({ entryId: id, feedbackId: 'f' }).then(() => settled.push(id)),
      );
      await pipeline.close();
      expect(settled.sort()).toEqual(['a', 'b', 'c']);
      await Promise.all(writes);
    });
  });
}
