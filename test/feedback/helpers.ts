import * as path from 'node:path';
import { FeedbackPipeline, type PipelineStore } from '../../src/feedback/index.js';
import type { ManualClock } from '../helpers/manual-clock.js';
import { tempDir } from '../helpers/tmp.js';

/** Opens a feedback pipeline, empty, on the clock given: what a conformance suite runs against. */
export type OpenPipeline = (clock: ManualClock) => PipelineStore;

/** The two backends of this folder that every conformance suite runs against (PostgreSQL's are in test/postgres/). */
export const pipelineBackends: [string, OpenPipeline][] = [
  ['file', (clock) => new FeedbackPipeline({ path: path.join(tempDir(), 'feedback_pipeline.json'), clock })],
  ['in-memory', (clock) => FeedbackPipeline.inMemory({ clock })],
];
