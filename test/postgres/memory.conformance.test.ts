// The memory store's conformance suites (test/memory/*.conformance.ts), the very same tests the
// file and in-memory stores pass, run against PostgreSQL: each test on a fresh schema of its own.
import { PostgresMemoryStore } from '../../src/memory/postgres-memory-store.js';
import { PostgresDatabase } from '../../src/postgres/database.js';
import { usePostgres } from '../helpers/postgres.js';
import { describeBadInputConformance } from '../memory/bad-input.conformance.js';
import type { OpenMemoryStore } from '../memory/helpers.js';
import { describeMemoryCloseConformance } from '../memory/lifecycle.conformance.js';
import { describeMemoryStoreConformance } from '../memory/project-memory-store.conformance.js';
import { describeSaveRuleConformance } from '../memory/save-rule-and-update.conformance.js';
import { tableRows } from './table-rows.js';

const db = usePostgres();

const open: OpenMemoryStore = (clock) =>
  new PostgresMemoryStore(new PostgresDatabase({ pool: db.pool, schema: db.freshSchema() }), { clock });

describeMemoryStoreConformance('PostgreSQL', open);
describeSaveRuleConformance('PostgreSQL', open);
describeMemoryCloseConformance('PostgreSQL', open);
describeBadInputConformance('PostgreSQL', () => {
  const schema = db.freshSchema();
  const database = () => new PostgresDatabase({ pool: db.pool, schema });
  return {
    store: new PostgresMemoryStore(database()),
    // A refused operation rolls back: rows keep their version and content (a row lock it took may leave xmax set).
    snapshot: () => tableRows(db.pool, schema, { xmax: false }),
    reopen: (clock) => new PostgresMemoryStore(database(), { clock }),
  };
});
