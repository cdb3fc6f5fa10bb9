// The PostgreSQL plumbing shared by the stores' PostgreSQL backends: connection, migrations, SQL
// errors. Internal until the stores exist; `agent-stores/postgres` will export from here.
export { openConnection, type PostgresConnection, type PostgresConnectionOptions } from './connection.js';
export { loadPg, type Pg, type PgImporter } from './driver.js';
export { DEFAULT_SCHEMA, quoteIdent, SCHEMA_NAME_PATTERN, SchemaNameSchema } from './identifiers.js';
export { type MigrateResult, migrate } from './migrate.js';
export { MIGRATIONS, type Migration } from './migrations.js';
export { fromSqlError, isConnectionLost } from './sql-errors.js';
