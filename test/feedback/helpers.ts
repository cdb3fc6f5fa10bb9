import * as path from 'node:path';
import { FeedbackPipeline } from '../../src/feedback/index.js';
import type { ManualClock } from '../helpers/manual-clock.js';
import { tempDir } from '../helpers/tmp.js';

/** The two backends every conformance test runs against. */
export const pipelineBackends: [string, (clock: ManualClock) => FeedbackPipeline][] = [
  ['file', (clock) => new FeedbackPipeline({ path: path.join(tempDir(), 'feedback_pipeline.json'), clock })],
  ['in-memory', (clock) => FeedbackPipeline.inMemory({ clock })],
];
