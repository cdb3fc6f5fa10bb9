import type { Pool } from 'pg';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, type Migration, migrate } from '../../src/postgres/index.js';
import { ConflictError, ValidationError } from '../../src/storage/errors.js';
import { usePostgres } from '../helpers/postgres.js';

const db = usePostgres();

/** Migration 1's tables, and the table that records migrations. */
const TABLES = [
  'event_logs',
  'events',
  'memory_entries',
  'memory_promotion_audit',
  'pipeline_entries',
  'runs',
  'schema_migrations',
  'stamps',
];

async function tablesIn(schema: string): Promise<string[]> {
  const result = await db.pool.query<{ table_name: string }>(
    'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
    [schema],
  );
  return result.rows.map((row) => row.table_name);
}

async function recorded(schema: string): Promise<{ id: number; name: string; applied_at: Date }[]> {
  const result = await db.pool.query(`SELECT id, name, applied_at FROM "${schema}".schema_migrations ORDER BY id`);
  return result.rows;
}

async function schemaExists(schema: string): Promise<boolean> {
  const result = await db.pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
  return result.rowCount === 1;
}

/** A pool that records every call and answers none: proof that nothing reached a server. */
function recordingPool(): { pool: Pool; calls: string[] } {
  const calls: string[] = [];
  const pool = {
    connect: async () => {
      calls.push('connect');
      throw new Error('connect must not be called');
    },
    query: async (sql: string) => {
      calls.push(`query ${sql}`);
      throw new Error('query must not be called');
    },
  } as unknown as Pool;
  return { pool, calls };
}

describe('migrate()', () => {
  it('creates every table of migration 1 in an empty schema and records the migration', async () => {
    await db.pool.query(`CREATE SCHEMA "${db.schema}"`);
    expect(await tablesIn(db.schema)).toEqual([]);

    const result = await migrate({ pool: db.pool, schema: db.schema });

    expect(result).toEqual({ schema: db.schema, applied: [1], version: 1 });
    expect(await tablesIn(db.schema)).toEqual(TABLES);
    expect((await recorded(db.schema)).map(({ id, name }) => ({ id, name }))).toEqual(
      MIGRATIONS.map(({ id, name }) => ({ id, name })),
    );
  });

  it('creates the schema when it does not exist', async () => {
    const schema = db.freshSchema();
    expect(await schemaExists(schema)).toBe(false);
    await migrate({ pool: db.pool, schema });
    expect(await tablesIn(schema)).toEqual(TABLES);
  });

  it('applies nothing when run again, and leaves the recorded migrations as they were', async () => {
    const schema = db.freshSchema();
    await migrate({ pool: db.pool, schema });
    const before = await recorded(schema);

    const again = await migrate({ pool: db.pool, schema });

    expect(again).toEqual({ schema, applied: [], version: 1 });
    expect(await recorded(schema)).toEqual(before);
    expect(await tablesIn(schema)).toEqual(TABLES);
  });

  it('opens and ends a pool of its own when given a connection string', async () => {
    const schema = db.freshSchema();
    const result = await migrate({ connectionString: db.url, schema });
    expect(result.applied).toEqual([1]);
    expect(await tablesIn(schema)).toEqual(TABLES);
  });

  it('applies only the migrations a schema lacks, in order', async () => {
    const schema = db.freshSchema();
    await migrate({ pool: db.pool, schema });
    const second: Migration = {
      id: 2,
      name: 'a test column',
      sql: (s) => `ALTER TABLE ${s}.runs ADD COLUMN note text`,
    };

    const result = await migrate({ pool: db.pool, schema }, [...MIGRATIONS, second]);

    expect(result).toEqual({ schema, applied: [2], version: 2 });
    expect((await recorded(schema)).map((row) => row.id)).toEqual([1, 2]);
  });

  it('leaves nothing behind when a migration fails', async () => {
    const schema = db.freshSchema();
    const broken: Migration = { id: 2, name: 'broken', sql: (s) => `ALTER TABLE ${s}.no_such_table ADD COLUMN x int` };

    await expect(migrate({ pool: db.pool, schema }, [...MIGRATIONS, broken])).rejects.toThrow(/no_such_table/);

    expect(await schemaExists(schema)).toBe(false);
  });

  it('refuses a schema migrated by a newer agent-stores, changing nothing', async () => {
    const schema = db.freshSchema();
    const future: Migration = { id: 2, name: 'from the future', sql: () => 'SELECT 1' };
    await migrate({ pool: db.pool, schema }, [...MIGRATIONS, future]);

    const error = await migrate({ pool: db.pool, schema }).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toMatch(/migration 2, newer than this agent-stores knows \(1\)/);
    expect((await recorded(schema)).map((row) => row.id)).toEqual([1, 2]);
  });

  it.each([
    ['upper case', 'Agent_Stores'],
    ['a hyphen', 'agent-stores'],
    ['a quote and SQL', 'x"; DROP SCHEMA public CASCADE; --'],
    ['a leading digit', '1stores'],
    ['the reserved pg_ prefix', 'pg_stores'],
    ['64 characters', 'a'.repeat(64)],
    ['an empty name', ''],
  ])('refuses a schema name with %s before any SQL', async (_, schema) => {
    const { pool, calls } = recordingPool();
    await expect(migrate({ pool, schema })).rejects.toBeInstanceOf(ValidationError);
    expect(calls).toEqual([]);
  });

  it('refuses options with both a pool and a connection string, or neither, before any SQL', async () => {
    const { pool, calls } = recordingPool();
    const both = { pool, connectionString: db.url } as unknown as Parameters<typeof migrate>[0];
    const neither = {} as unknown as Parameters<typeof migrate>[0];
    await expect(migrate(both)).rejects.toThrow(/exactly one of pool and connectionString/);
    await expect(migrate(neither)).rejects.toBeInstanceOf(ValidationError);
    expect(calls).toEqual([]);
  });
});
