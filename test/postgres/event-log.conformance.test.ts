import { afterAll } from 'vitest';
import { PostgresEventLog } from '../../src/events/postgres-event-log.js';
import { PostgresDatabase } from '../../src/postgres/database.js';
import { describeEventLogConformance } from '../events/event-log.conformance.js';
import { usePostgres } from '../helpers/postgres.js';

const db = usePostgres();
const databases: PostgresDatabase[] = [];
afterAll(async () => {
  for (const database of databases) await database.close();
});

// Each test gets a log on a schema of its own.
describeEventLogConformance('PostgreSQL', (options = {}) => {
  const database = new PostgresDatabase({ pool: db.pool, schema: db.freshSchema() });
  databases.push(database);
  return new PostgresEventLog(database, options);
});
