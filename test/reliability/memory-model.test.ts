import { describe, it } from 'vitest';
import { seededSpec, spec } from './memory.model.js';
import { checkModel, runsFromEnv } from './model-run.js';

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
