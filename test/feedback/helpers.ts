import * as path from 'node:path';
import { FeedbackPipeline } from '../../src/feedback/index.js';
import { tempDir } from '../helpers/tmp.js';

/** A clock the test moves by hand. */
export function manualClock(start = 1_700_000_000_000) {
  let now = start;
  const clock = () => now;
  return Object.assign(clock, {
    set(value: number) {
      now = value;
    },
    advance(ms: number) {
      now += ms;
    },
  });
}

export type ManualClock = ReturnType<typeof manualClock>;

/** The two backends every conformance test runs against. */
export const pipelineBackends: [string, (clock: ManualClock) => FeedbackPipeline][] = [
  ['file', (clock) => new FeedbackPipeline({ path: path.join(tempDir(), 'feedback_pipeline.json'), clock })],
  ['in-memory', (clock) => FeedbackPipeline.inMemory({ clock })],
];
