// The PostgreSQL side of a test file: a real server (found or started by postgres-server.ts), a
// pool, and fresh schemas with random names that are dropped after the file. A file that calls
// usePostgres() fails, with the reasons, when there is no server: it never skips.
//
// Each file that ran tests against the server leaves a marker in .tmp/postgres-ran/ (the file, the
// project, the server and the number of tests); .ci/run fails when a PostgreSQL test file left none.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, inject } from 'vitest';

/** Where the markers go: `<repo>/.tmp/postgres-ran/`. */
export const MARKER_DIR = path.resolve(import.meta.dirname, '..', '..', '.tmp', 'postgres-ran');

/** The database a test file works in. Its members are usable inside tests and hooks. */
export interface PostgresTestDatabase {
  /** The server's URL. */
  readonly url: string;
  /** Which server: `AGENT_STORES_PG_URL`, the local one, or a throwaway one. */
  readonly source: string;
  /** A pool on the server, ended after the file. */
  readonly pool: pg.Pool;
  /** A schema name of this file's own, not created yet, dropped after the file. */
  readonly schema: string;
  /** Another schema name, not created yet, dropped after the file. */
  freshSchema(): string;
}

/** A random schema name that no other test file or run will use. */
function randomSchemaName(): string {
  return `agent_stores_test_${randomBytes(6).toString('hex')}`;
}

/** Registers the hooks of a PostgreSQL test file and returns its database. Call once, at the top of the file. */
export function usePostgres(): PostgresTestDatabase {
  let url: string | undefined;
  let source = '';
  let pool: pg.Pool | undefined;
  let schema: string | undefined;
  const schemas: string[] = [];
  let tests = 0;
  let file = '';
  let project = '';

  const fresh = () => {
    const name = randomSchemaName();
    schemas.push(name);
    return name;
  };

  beforeAll(async () => {
    const info = inject('postgres');
    if (info === undefined) {
      throw new Error(
        'no PostgreSQL server info: run through vitest with test/helpers/postgres-server.ts as globalSetup',
      );
    }
    if (info.error !== undefined) throw new Error(info.error);
    url = info.url;
    source = info.source;
    pool = new pg.Pool({ connectionString: url, max: 4 });
    pool.on('error', () => {}); // an idle client dropped by the server; the next query says so
    await pool.query('SELECT 1');
    schema = fresh();
  });

  beforeEach((context) => {
    tests += 1;
    file = path.relative(path.resolve(import.meta.dirname, '..', '..'), context.task.file.filepath);
    project = context.task.file.projectName ?? '';
  });

  afterAll(async () => {
    if (pool !== undefined) {
      for (const name of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
      await pool.end();
    }
    if (tests > 0) {
      fs.mkdirSync(MARKER_DIR, { recursive: true });
      const name = `${project || 'default'}--${file.replaceAll(/[\\/]/g, '__')}.json`;
      fs.writeFileSync(path.join(MARKER_DIR, name), `${JSON.stringify({ file, project, source, tests })}\n`);
    }
  });

  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined)
      throw new Error(`${what} is only there inside tests and hooks, after usePostgres()'s beforeAll`);
    return value;
  };
  return {
    get url() {
      return need(url, 'url');
    },
    get source() {
      return source;
    },
    get pool() {
      return need(pool, 'pool');
    },
    get schema() {
      return need(schema, 'schema');
    },
    freshSchema: fresh,
  };
}
