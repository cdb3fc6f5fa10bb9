import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FeedbackPipeline } from '../../src/feedback/index.js';
import { StoreClosedError } from '../../src/storage/index.js';
import { descriptorsOn } from '../helpers/descriptors.js';
import { manualClock } from '../helpers/manual-clock.js';
import { tempDir } from '../helpers/tmp.js';
import { pipelineBackends } from './helpers.js';

/** Every public method, each called once (some with input that is wrong on purpose). */
const calls: [string, (p: FeedbackPipeline) => Promise<unknown>][] = [
  ['create', (p) => p.create({ entryId: 'x', feedbackId: 'f' })],
  ['create (bad input)', (p) => p.create({ entryId: '', feedbackId: '' })],
  ['advance', (p) => p.advance('a', { stage: 'case_draft' })],
  ['get', (p) => p.get('a')],
  ['remove', (p) => p.remove('a')],
  ['list', (p) => p.list()],
  ['stats', (p) => p.stats()],
];

describe.each(pipelineBackends)('FeedbackPipeline.close() (%s)', (_name, open) => {
  it.each(calls)('makes %s reject with StoreClosedError afterwards', async (_method, call) => {
    const pipeline = open(manualClock());
    await pipeline.create({ entryId: 'a', feedbackId: 'f' });
    await pipeline.close();
    const error = await call(pipeline).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreClosedError);
    expect(error).toMatchObject({ code: 'CLOSED' });
    expect((error as Error).message).toContain('FeedbackPipeline');
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

describe('FeedbackPipeline.close() on a file', () => {
  it('leaves the writes made before it on disk for the next instance', async () => {
    const file = path.join(tempDir(), 'feedback_pipeline.json');
    const pipeline = new FeedbackPipeline({ path: file });
    const pending = pipeline.create({ entryId: 'a', feedbackId: 'f' });
    await pipeline.close();
    await pending;
    expect((await new FeedbackPipeline({ path: file }).get('a'))?.stage).toBe('feedback');
  });

  it.skipIf(process.platform !== 'linux')('releases the descriptor it held on the file (Linux /proc)', async () => {
    const file = path.join(tempDir(), 'feedback_pipeline.json');
    const pipeline = new FeedbackPipeline({ path: file });
    await pipeline.create({ entryId: 'a', feedbackId: 'f' });
    await pipeline.get('a');
    expect(descriptorsOn(file)).toBe(1);
    await pipeline.close();
    expect(descriptorsOn(file)).toBe(0);
  });
});
