import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { FeedbackPipeline, type PipelineStore } from '../../src/feedback/index.js';
import { checkModel, type ModelSpec, runsFromEnv } from './model-run.js';
import { type Entry, type Model, modelClock, type Op, operations, spec } from './pipeline-model.js';

// The pipeline file of the implementation agent-stores replaces: no rev, no meta, no history. The
// model takes it over as DESIGN.md and the entry's TSDoc say: every entry as it is with an empty
// history, and stamps strictly above the highest updatedAt in the file (the clock is far behind).
const SEED = path.join(import.meta.dirname, '../fixtures/seed-reference/feedback_pipeline.json');
const seededEntries = (): Entry[] =>
  JSON.parse(fs.readFileSync(SEED, 'utf8')).entries.map((e: Entry) => ({ ...e, history: [] }));
const seeded = operations(fc.constantFrom('fb-entry-0', 'fb-entry-2', 'fb-entry-3', 'fb-entry-5', 'e1'));

const seededSpec: ModelSpec<Op, PipelineStore, Model> = {
  ...spec,
  op: seeded.op,
  batchOp: seeded.write,
  open: (root) => {
    if (root === undefined) throw new Error('the seeded model runs on files only');
    const file = path.join(root, 'feedback_pipeline.json');
    if (!fs.existsSync(file)) fs.copyFileSync(SEED, file);
    return new FeedbackPipeline({ path: file, clock: modelClock });
  },
  model: () => {
    spec.model(); // starts the clock again
    const entries = seededEntries();
    return {
      entries: new Map(entries.map((e) => [e.entryId, e])),
      highWater: Math.max(...entries.map((e) => e.updatedAt)),
    };
  },
};

describe('FeedbackPipeline against a model of its contract', () => {
  it('agrees with the model on every step of random sequences (in-memory twin)', async () => {
    await checkModel(spec, { file: false, numRuns: runsFromEnv('FC_RUNS', 1_000) });
  });

  it('agrees with the model on every step and after reopening (file backend)', async () => {
    await checkModel(spec, { file: true, numRuns: runsFromEnv('FC_FILE_RUNS', 1_000) });
  });

  it('agrees with the model on a file the replaced implementation wrote, taken over as it is', async () => {
    await checkModel(seededSpec, { file: true, numRuns: runsFromEnv('FC_FILE_RUNS', 300) });
  });
});
