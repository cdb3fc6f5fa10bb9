/**
 * agent-stores on PostgreSQL, for deployments with several instances: the same four stores as
 * `createStores()`, shared through one database. Needs the `pg` package (an optional peer
 * dependency of agent-stores): `npm install pg`.
 * @packageDocumentation
 */
export type { PostgresConnectionOptions } from './connection.js';
export {
  type CreatePostgresStoresOptions,
  createPostgresStores,
  type PostgresStores,
} from './create-postgres-stores.js';
export { DEFAULT_SCHEMA, SCHEMA_NAME_PATTERN } from './identifiers.js';
export { type MigrateResult, migrate } from './migrate.js';
