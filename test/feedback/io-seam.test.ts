import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FeedbackPipeline } from '../../src/feedback/index.js';
import { nodeIO, type StorageIO } from '../../src/index.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';

/** The real file system, except that writes fail with ENOSPC while `full` is set. */
function diskThatFills() {
  const state = { full: false };
  const io: StorageIO = {
    ...nodeIO,
    async writeAtomic(file, data, options) {
      if (state.full) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      return nodeIO.writeAtomic(file, data, options);
    },
  };
  return { io, state };
}

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
