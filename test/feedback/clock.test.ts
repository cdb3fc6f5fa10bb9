import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FeedbackPipeline } from '../../src/feedback/index.js';
import { ValidationError } from '../../src/storage/index.js';
import { manualClock } from '../helpers/manual-clock.js';
import { tempDir } from '../helpers/tmp.js';

const T0 = 1_700_000_000_000;

describe('FeedbackPipeline checks every clock reading before it writes', () => {
  it.each([
    ['1e20 (past the year 9999)', 1e20],
    ['a negative time', -1],
    ['a fraction', T0 + 0.5],
    ['NaN', Number.NaN],
  ])(
    'refuses a clock that returns %s once with ValidationError, writes nothing, and stamps normally after',
    async (_what, bad) => {
      const file = path.join(tempDir(), 'feedback_pipeline.json');
      const clock = manualClock(T0);
      let next: number | undefined;
      const pipeline = new FeedbackPipeline({ path: file, clock: () => next ?? clock() });
      await pipeline.create({ entryId: 'a', feedbackId: 'f' });
      const bytes = fs.readFileSync(file);

      next = bad;
      const error = await pipeline.advance('a', { stage: 'case_draft' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as Error).message).toContain('nothing was written');
      await expect(pipeline.create({ entryId: 'b', feedbackId: 'f' })).rejects.toBeInstanceOf(ValidationError);
      expect(fs.readFileSync(file)).toEqual(bytes);

      next = undefined;
      clock.advance(5);
      const advanced = await pipeline.advance('a', { stage: 'case_draft' });
      expect(advanced.updatedAt).toBe(T0 + 5);
      clock.advance(5);
      const created = await pipeline.create({ entryId: 'b', feedbackId: 'f' });
      expect(created.updatedAt).toBe(T0 + 10);
      const reopened = new FeedbackPipeline({ path: file, clock });
      clock.advance(1);
      expect((await reopened.advance('b', { stage: 'case_draft' })).updatedAt).toBe(T0 + 11);
    },
  );

  it('refuses a bad reading in memory too', async () => {
    const pipeline = FeedbackPipeline.inMemory({ clock: () => 1e20 });
    await expect(pipeline.create({ entryId: 'a', feedbackId: 'f' })).rejects.toBeInstanceOf(ValidationError);
    expect(await pipeline.list()).toEqual([]);
  });
});
