import { describe, it } from 'vitest';
import { checkModel, runsFromEnv } from './model-run.js';
import { spec } from './run-store-model.js';

describe('AnalysisRunStore (with its event log) against a model of its contract', () => {
  it('agrees with the model on every step of random sequences (in-memory twins)', async () => {
    await checkModel(spec, { file: false, numRuns: runsFromEnv('FC_RUNS', 1_000), maxLength: 16 });
  });

  it('agrees with the model on every step and after reopening (file backends)', async () => {
    await checkModel(spec, { file: true, numRuns: runsFromEnv('FC_FILE_RUNS', 1_000), maxLength: 16 });
  });
});
