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
  type PostgresEventLogOptions,
  type PostgresRunStoreOptions,
  type PostgresStores,
} from './create-postgres-stores.js';
export { DEFAULT_SCHEMA, SCHEMA_NAME_PATTERN } from './identifiers.js';
export type { MigrateResult } from './migrate.js';

import type { PostgresConnectionOptions } from './connection.js';
import { type MigrateResult, migrate as migrateSchema } from './migrate.js';

/**
 * Brings the library's tables in the schema up to date: creates the schema when missing, then
 * applies every migration it does not have yet, in one transaction under an advisory lock (so
 * several instances may call it at once). Running it again is a no-op. `createPostgresStores()`
 * does this on first use; call it yourself to migrate at deploy time.
 *
 * @throws ValidationError for bad options, before any SQL.
 * @throws ConflictError when a newer agent-stores migrated the schema.
 * @throws StoreIOError when the server cannot be reached, the connection breaks, or `pg` is not installed.
 */
export function migrate(options: PostgresConnectionOptions): Promise<MigrateResult> {
  return migrateSchema(options);
}
