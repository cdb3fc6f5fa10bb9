// The run store's fast-check model test (test/reliability/run-store-model.ts) against PostgreSQL,
// with the PostgreSQL event log attached: the same model and operations as on files and in memory,
// each sequence in a schema of its own, the stores closed and reopened on it between steps.
import { describe, it } from 'vitest';
import { createPostgresStores } from '../../src/postgres/public.js';
import { usePostgres } from '../helpers/postgres.js';
import { checkModel, runsFromEnv } from '../reliability/model-run.js';
import { modelClock, STALE_MS, spec } from '../reliability/run-store-model.js';

const db = usePostgres();

describe('PostgresRunStore (with its event log) against a model of its contract', () => {
  it('agrees with the model on every step and after reopening', async () => {
    await checkModel(
      {
        ...spec,
        open: (schema) => {
          if (schema === undefined) throw new Error('runs with a schema per sequence');
          return createPostgresStores({ pool: db.pool, schema, clock: modelClock, runs: { staleAfterMs: STALE_MS } });
        },
      },
      // Each sequence migrates a schema of its own: fewer sequences than on files.
      { file: false, place: () => db.freshSchema(), numRuns: runsFromEnv('FC_PG_RUNS', 40), maxLength: 16 },
    );
  }, 300_000);
});
