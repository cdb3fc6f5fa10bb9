import type { PoolClient } from 'pg';
import { ConflictError } from '../storage/errors.js';
import { openConnection, type PostgresConnectionOptions } from './connection.js';
import { quoteIdent } from './identifiers.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import { fromSqlError } from './sql-errors.js';

/** The first key of the advisory lock every agent-stores migration takes ("agst"). */
const LOCK_NAMESPACE = 0x61677374;

/** What {@link migrate} did. */
export interface MigrateResult {
  /** The schema migrated. */
  schema: string;
  /** Ids of the migrations this call applied, in order; empty when the schema was up to date. */
  applied: number[];
  /** The id of the newest migration now in the schema. */
  version: number;
}

/**
 * Brings the library's tables in `schema` up to date: creates the schema and its
 * `schema_migrations` table when missing, then applies, in order, every migration not yet recorded
 * there, each recorded with its id. Running it again is a no-op.
 *
 * Safe with several instances starting at once: all of it runs in one transaction under a
 * PostgreSQL advisory lock for the schema, so each migration is applied exactly once and the
 * others wait, then find nothing to do. If a migration fails, none of this call's changes stay.
 *
 * `createPostgresStores()` calls it on first use; call it yourself to migrate at deploy time.
 *
 * @throws ValidationError for bad options (a schema name that is not a safe identifier), before any SQL.
 * @throws ConflictError when the schema was migrated by a newer agent-stores than this one.
 * @throws StoreIOError when the server cannot be reached or the connection breaks.
 */
export async function migrate(
  options: PostgresConnectionOptions,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrateResult> {
  const connection = await openConnection(options);
  try {
    const what = `migrating schema '${connection.schema}'`;
    let client: PoolClient;
    try {
      client = await connection.pool.connect();
    } catch (error) {
      throw fromSqlError(error, what);
    }
    let broken: unknown;
    try {
      return await migrateWith(client, connection.schema, migrations, what);
    } catch (error) {
      broken = error;
      throw error;
    } finally {
      // A client whose transaction did not end cleanly is not given back for reuse.
      client.release(broken instanceof Error ? broken : undefined);
    }
  } finally {
    await connection.close();
  }
}

async function migrateWith(
  client: PoolClient,
  schema: string,
  migrations: readonly Migration[],
  what: string,
): Promise<MigrateResult> {
  const s = quoteIdent(schema);
  let committing = false;
  try {
    await client.query('BEGIN');
    // Held until COMMIT or ROLLBACK; another migrate() of the same schema waits here.
    await client.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [LOCK_NAMESPACE, schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (
        id integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`,
    );
    const rows = await client.query<{ id: number }>(`SELECT id FROM ${s}.schema_migrations ORDER BY id`);
    const done = new Set(rows.rows.map((row) => row.id));
    const known = Math.max(0, ...migrations.map((migration) => migration.id));
    const newest = Math.max(0, ...done);
    if (newest > known) {
      throw new ConflictError(
        `schema '${schema}' is at migration ${newest}, newer than this agent-stores knows (${known}); it was migrated by a newer version. Upgrade agent-stores, or use another schema`,
      );
    }
    const applied: number[] = [];
    for (const migration of [...migrations].sort((a, b) => a.id - b.id)) {
      if (done.has(migration.id)) continue;
      await client.query(migration.sql(s));
      await client.query(`INSERT INTO ${s}.schema_migrations (id, name) VALUES ($1, $2)`, [
        migration.id,
        migration.name,
      ]);
      applied.push(migration.id);
    }
    committing = true;
    await client.query('COMMIT');
    return { schema, applied, version: Math.max(newest, ...applied) };
  } catch (error) {
    if (!committing) await client.query('ROLLBACK').catch(() => {});
    throw fromSqlError(error, what, { inDoubt: committing });
  }
}
