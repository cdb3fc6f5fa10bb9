import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FeedbackPipeline } from '../../src/feedback/index.js';
import { diskThatFills } from '../helpers/disk-that-fills.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';

describe('FeedbackPipeline with the io option', () => {
  it('makes a FeedbackPipeline advance fail with code IO on a full disk, changing no file', async () => {
    const dir = tempDir();
    const { io, state } = diskThatFills();
    const pipeline = new FeedbackPipeline({ path: path.join(dir, 'feedback_pipeline.json'), io });
    await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
    const before = snapshotFiles(dir);
    state.full = true;
    await expect(pipeline.advance('e1', { stage: 'case_draft' })).rejects.toMatchObject({ code: 'IO' });
    expect(snapshotFiles(dir)).toEqual(before);
    expect((await pipeline.get('e1'))?.stage).toBe('feedback');
  });
});
