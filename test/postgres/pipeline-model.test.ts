// The feedback pipeline's model-based test (test/reliability/pipeline-model.ts) against
// PostgreSQL: random sequences of operations, some issued together, compared with a plain model
// of DESIGN.md after every step and after "reopening" (a new instance on the same schema).
import { describe, it } from 'vitest';
import { PostgresFeedbackPipeline } from '../../src/feedback/postgres-feedback-pipeline.js';
import { PostgresDatabase } from '../../src/postgres/database.js';
import { usePostgres } from '../helpers/postgres.js';
import { checkModel, runsFromEnv } from '../reliability/model-run.js';
import { modelClock, spec } from '../reliability/pipeline-model.js';

const db = usePostgres();

/** One schema per sequence: the harness gives each sequence a root of its own, reopened on the same root. */
const schemas = new Map<string, string>();

describe('PostgresFeedbackPipeline against a model of its contract', () => {
  it('agrees with the model on every step and after reopening', async () => {
    await checkModel(
      {
        ...spec,
        open: (root) => {
          if (root === undefined) throw new Error('runs with a root per sequence');
          let schema = schemas.get(root);
          if (schema === undefined) schemas.set(root, (schema = db.freshSchema()));
          return new PostgresFeedbackPipeline(new PostgresDatabase({ pool: db.pool, schema }), { clock: modelClock });
        },
        close: (pipeline) => pipeline.close(),
      },
      // Each sequence migrates a schema of its own: fewer sequences than on files.
      { file: true, numRuns: Math.min(runsFromEnv('FC_FILE_RUNS', 60), 100) },
    );
  });
});
