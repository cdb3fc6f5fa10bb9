// The event log's fast-check model test (test/reliability/event-log-model.ts) against PostgreSQL:
// the same model and operations as on files and in memory, each sequence in a schema of its own,
// the log closed and reopened on it between steps.
import { describe, it } from 'vitest';
import { createPostgresStores } from '../../src/postgres/public.js';
import { usePostgres } from '../helpers/postgres.js';
import { MAX_EVENT_BYTES, modelClock, spec } from '../reliability/event-log-model.js';
import { checkModel, runsFromEnv } from '../reliability/model-run.js';

const db = usePostgres();

describe('PostgresEventLog against a model of its contract', () => {
  it('agrees with the model on every step and after reopening', async () => {
    await checkModel(
      {
        ...spec,
        open: (schema) => {
          if (schema === undefined) throw new Error('runs with a schema per sequence');
          return createPostgresStores({
            pool: db.pool,
            schema,
            clock: modelClock,
            events: { maxEventBytes: MAX_EVENT_BYTES },
          }).events;
        },
      },
      // Each sequence migrates a schema of its own: fewer sequences than on files.
      { file: false, place: () => db.freshSchema(), numRuns: runsFromEnv('FC_PG_RUNS', 40) },
    );
  }, 300_000);
});
