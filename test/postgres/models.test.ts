// The fast-check model tests of the four stores (test/reliability/*-model.ts) against PostgreSQL:
// the same models and operations as on files and in memory, random sequences with some writes
// issued together, compared with the model after every step. Each sequence works in a schema of
// its own, and "reopening" is a new instance on that schema.
import { describe, it } from 'vitest';
import {
  type CreatePostgresStoresOptions,
  createPostgresStores,
  type PostgresStores,
} from '../../src/postgres/public.js';
import { usePostgres } from '../helpers/postgres.js';
import * as eventLog from '../reliability/event-log-model.js';
import * as memory from '../reliability/memory-model.js';
import { checkModel, type ModelSpec, runsFromEnv } from '../reliability/model-run.js';
import * as pipeline from '../reliability/pipeline-model.js';
import * as runStore from '../reliability/run-store-model.js';

const db = usePostgres();

/**
 * Runs `spec`'s sequences with the store `pick` takes from PostgreSQL stores opened on the
 * sequence's schema, on the test's pool, with the model's clock. Each sequence migrates a schema
 * of its own, so there are fewer sequences than on files.
 */
async function checkOnPostgres<Op, Real, Model>(
  spec: ModelSpec<Op, Real, Model>,
  pick: (stores: PostgresStores) => Real,
  options: { clock: () => number; numRuns: number; maxLength?: number } & Pick<
    CreatePostgresStoresOptions,
    'events' | 'runs'
  >,
): Promise<void> {
  const { clock, numRuns, maxLength, events, runs } = options;
  await checkModel(
    {
      ...spec,
      open: (schema) => {
        if (schema === undefined) throw new Error('runs with a schema per sequence');
        return pick(createPostgresStores({ pool: db.pool, schema, clock, events, runs }));
      },
    },
    { file: false, place: () => db.freshSchema(), numRuns, ...(maxLength === undefined ? {} : { maxLength }) },
  );
}

const pgRuns = () => runsFromEnv('FC_PG_RUNS', 40);
const jsonRuns = () => Math.min(runsFromEnv('FC_FILE_RUNS', 60), 100);

describe('the stores on PostgreSQL against the models of their contracts', () => {
  it('PostgresEventLog agrees with the model on every step and after reopening', async () => {
    await checkOnPostgres(eventLog.spec, (stores) => stores.events, {
      clock: eventLog.modelClock,
      events: { maxEventBytes: eventLog.MAX_EVENT_BYTES },
      numRuns: pgRuns(),
    });
  }, 300_000);

  it('PostgresRunStore (with its event log) agrees with the model on every step and after reopening', async () => {
    await checkOnPostgres(runStore.spec, (stores) => stores, {
      clock: runStore.modelClock,
      runs: { staleAfterMs: runStore.STALE_MS },
      numRuns: pgRuns(),
      maxLength: 16,
    });
  }, 300_000);

  it('PostgresMemoryStore agrees with the model on every step and after reopening', async () => {
    await checkOnPostgres({ ...memory.spec, close: (store) => store.close() }, (stores) => stores.memory, {
      clock: memory.modelClock,
      numRuns: jsonRuns(),
    });
  }, 300_000);

  it('PostgresFeedbackPipeline agrees with the model on every step and after reopening', async () => {
    await checkOnPostgres({ ...pipeline.spec, close: (store) => store.close() }, (stores) => stores.pipeline, {
      clock: pipeline.modelClock,
      numRuns: jsonRuns(),
    });
  }, 300_000);
});
