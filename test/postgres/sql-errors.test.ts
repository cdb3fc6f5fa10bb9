import * as net from 'node:net';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { fromSqlError, migrate } from '../../src/postgres/index.js';
import { ConflictError, StoreIOError, ValidationError } from '../../src/storage/errors.js';
import { usePostgres } from '../helpers/postgres.js';

const db = usePostgres();

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('fromSqlError()', () => {
  it('turns text jsonb cannot hold (a \\u0000 in a string) into a ValidationError', async () => {
    const raw = await db.pool
      .query(`SELECT $1::jsonb`, [JSON.stringify({ note: 'a\u0000b' })])
      .catch((e: unknown) => e);
    const error = fromSqlError(raw, "appending to run 'r1'");
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/appending to run 'r1' failed: .*\\u0000.*remove the NUL characters/);
  });

  it('turns a unique violation into a ConflictError naming the constraint', async () => {
    await migrate({ pool: db.pool, schema: db.schema });
    const insert = `INSERT INTO "${db.schema}".pipeline_entries (entry_id, stage, updated_at, entry) VALUES ('e1', 'feedback', 1, '{}')`;
    await db.pool.query(insert);

    const raw = await db.pool.query(insert).catch((caught: unknown) => caught);
    const error = fromSqlError(raw, "creating pipeline entry 'e1'");

    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).code).toBe('CONFLICT');
    expect((error as Error).message).toMatch(
      /creating pipeline entry 'e1' failed: it already exists \(pipeline_entries_pkey\)/,
    );
  });

  it('turns a connection the server terminated into a StoreIOError that is not in doubt', async () => {
    const client = new pg.Client({ connectionString: db.url });
    client.on('error', () => {});
    await client.connect();
    try {
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await db.pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);

      const raw = await client.query('SELECT 1').catch((caught: unknown) => caught);
      const error = fromSqlError(raw, 'reading run r1');

      expect(error).toBeInstanceOf(StoreIOError);
      expect((error as StoreIOError).inDoubt).toBe(false);
      expect((error as Error).message).toMatch(
        /^reading run r1 on PostgreSQL failed .*Check that the database is reachable/,
      );
    } finally {
      await client.end().catch(() => {});
    }
  });

  it('reports a connection lost during a commit as in doubt', async () => {
    const lost = Object.assign(new Error('Connection terminated unexpectedly'), {});
    const error = fromSqlError(lost, 'appending to run r1', { inDoubt: true });
    expect(error).toBeInstanceOf(StoreIOError);
    expect((error as StoreIOError).inDoubt).toBe(true);
    expect((error as Error).message).toMatch(/may or may not have been saved/);
  });

  it('makes migrate() against a server that does not answer fail with a StoreIOError', async () => {
    const url = `postgres://postgres@127.0.0.1:${await closedPort()}/test`;
    const error = await migrate({ connectionString: url, schema: db.freshSchema() }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StoreIOError);
    expect((error as StoreIOError).errno).toBe('ECONNREFUSED');
  });

  it('passes any other SQL error through unchanged', async () => {
    const raw = await db.pool.query('SELEC 1').catch((caught: unknown) => caught);
    expect((raw as { code?: string }).code).toBe('42601');
    expect(fromSqlError(raw, 'anything')).toBe(raw);
  });
});
