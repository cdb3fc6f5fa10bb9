// The memory store's conformance suites (test/memory/*.conformance.ts), the very same tests the
// file and in-memory stores pass, run against PostgreSQL: each test on a fresh schema of its own.
import { PostgresMemoryStore } from '../../src/memory/postgres-memory-store.js';
import { PostgresDatabase } from '../../src/postgres/database.js';
import { usePostgres } from '../helpers/postgres.js';
import type { OpenMemoryStore } from '../memory/helpers.js';
import { describeMemoryCloseConformance } from '../memory/lifecycle.conformance.js';
import { describeMemoryStoreConformance } from '../memory/project-memory-store.conformance.js';
import { describeSaveRuleConformance } from '../memory/save-rule-and-update.conformance.js';

const db = usePostgres();

const open: OpenMemoryStore = (clock) =>
  new PostgresMemoryStore(new PostgresDatabase({ pool: db.pool, schema: db.freshSchema() }), { clock });

describeMemoryStoreConformance('PostgreSQL', open);
describeSaveRuleConformance('PostgreSQL', open);
describeMemoryCloseConformance('PostgreSQL', open);
