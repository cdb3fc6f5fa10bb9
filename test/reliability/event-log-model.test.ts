import { describe, it } from 'vitest';
import { spec } from './event-log-model.js';
import { checkModel, runsFromEnv } from './model-run.js';

describe('AgentEventLog against a model of its contract', () => {
  it('agrees with the model on every step of random sequences (in-memory twin)', async () => {
    await checkModel(spec, { file: false, numRuns: runsFromEnv('FC_RUNS', 1_000) });
  });

  it('agrees with the model on every step and after reopening (file backend)', async () => {
    await checkModel(spec, { file: true, numRuns: runsFromEnv('FC_FILE_RUNS', 1_000) });
  });
});
