import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FeedbackPipeline } from '../../src/feedback/index.js';
import { descriptorsOn } from '../helpers/descriptors.js';
import { tempDir } from '../helpers/tmp.js';
import { pipelineBackends } from './helpers.js';
import { describePipelineCloseConformance } from './lifecycle.conformance.js';

for (const [label, open] of pipelineBackends) describePipelineCloseConformance(label, open);

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
