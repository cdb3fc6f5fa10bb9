// The run store's conformance suite (test/runs/run-store.conformance.ts, the very tests the file
// store passes) against PostgreSQL: each store opens on a fresh schema of its own.
import { PostgresDatabase } from '../../src/postgres/database.js';
import { PostgresRunStore } from '../../src/runs/postgres-run-store.js';
import { usePostgres } from '../helpers/postgres.js';
import { describeRunStoreConformance } from '../runs/run-store.conformance.js';

const db = usePostgres();

describeRunStoreConformance(
  'PostgreSQL',
  (options) => new PostgresRunStore(new PostgresDatabase({ pool: db.pool, schema: db.freshSchema() }), options),
);
