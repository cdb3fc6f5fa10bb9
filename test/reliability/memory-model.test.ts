import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { type MemoryStore, ProjectMemoryStore } from '../../src/memory/index.js';
import { type Entry, type Model, modelClock, type Op, operations, setModelClock, spec } from './memory-model.js';
import { checkModel, type ModelSpec, runsFromEnv } from './model-run.js';

// The memory file of the implementation agent-stores replaces (pretty-printed, no rev, project
// entries without projectKey, an audit row of a removed entry). The model takes it over as it is.
const SEED = path.join(import.meta.dirname, '../fixtures/seed-reference/analysis_project_memory.json');
const SEED_NOW = 1_800_000_000_000;
const seeded = operations(fc.constantFrom('mem-0', 'mem-3', 'mem-5', 'mem-6', 'm1'));

const seededSpec: ModelSpec<Op, MemoryStore, Model> = {
  ...spec,
  op: seeded.op,
  batchOp: seeded.queued,
  open: (root) => {
    if (root === undefined) throw new Error('the seeded model runs on files only');
    const file = path.join(root, 'analysis_project_memory.json');
    if (!fs.existsSync(file)) fs.copyFileSync(SEED, file);
    return new ProjectMemoryStore({ path: file, clock: modelClock });
  },
  model: () => {
    setModelClock(SEED_NOW);
    const doc = JSON.parse(fs.readFileSync(SEED, 'utf8'));
    return { entries: new Map(doc.entries.map((e: Entry) => [e.entryId, e])), audit: doc.promotionAudit };
  },
};

describe('ProjectMemoryStore against a model of its contract', () => {
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
