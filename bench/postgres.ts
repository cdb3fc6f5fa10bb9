import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pg from 'pg';
import { createStores, type Stores } from '../src/index.js';
import { createPostgresStores, type PostgresStores } from '../src/postgres/public.js';
import { type BenchRow, type BenchSuite, hrMicros, median, note, row } from './harness.js';

/**
 * Issue 13's figures: the PostgreSQL backend against the file backend, same run, same data, so
 * the README can say what the switch costs on one machine. `ours` is PostgreSQL, `peer` the files
 * (fsync durability, the default). The server is `AGENT_STORES_PG_URL`, else the local one on its
 * socket or 127.0.0.1:5432; with none, the suite says so and reports nothing.
 */

const IN_FLIGHT = 64;
const REPLAY = 100_000;
const SEEK_RUN = 20_000;

const payload = (i: number) => ({ step: i, message: `step ${i} of the analysis`, detail: { ms: i * 3, ok: true } });

async function findServer(): Promise<string | undefined> {
  const candidates = [
    process.env.AGENT_STORES_PG_URL,
    'postgresql://postgres@/test?host=/var/run/postgresql',
    'postgresql://postgres@127.0.0.1:5432/test',
  ].filter((url): url is string => Boolean(url));
  for (const url of candidates) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return url;
    } catch {
      // try the next
    } finally {
      await client.end().catch(() => {});
    }
  }
  return undefined;
}

/** `count` appends to one run, `concurrency` at a time. */
async function appendMany(stores: Stores | PostgresStores, runId: string, count: number, concurrency: number) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        await stores.events.append(runId, { type: 'step', payload: payload(i) });
      }
    }),
  );
}

/**
 * Events per second of `count` appends to one run, `concurrency` at a time, in steady state: after
 * as many untimed ones (the JIT and the server's caches warm, the run's rows and pages there).
 */
async function appendRate(stores: Stores | PostgresStores, runId: string, count: number, concurrency: number) {
  await appendMany(stores, runId, count, concurrency);
  const start = process.hrtime.bigint();
  await appendMany(stores, runId, count, concurrency);
  return count / (hrMicros(start) / 1e6);
}

async function fill(stores: Stores | PostgresStores, runId: string, count: number): Promise<void> {
  for (let done = 0; done < count; done += 1_000) {
    await Promise.all(
      Array.from({ length: Math.min(1_000, count - done) }, (_, i) =>
        stores.events.append(runId, { type: 'step', payload: payload(done + i) }),
      ),
    );
  }
}

async function firstAfterMicros(stores: Stores | PostgresStores, runId: string, after: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 301; i++) {
    const start = process.hrtime.bigint();
    for await (const _event of stores.events.read(runId, { after: after + (i % 50), limit: 1 })) break;
    if (i >= 50) times.push(hrMicros(start));
  }
  return median(times);
}

async function replayRate(stores: Stores | PostgresStores, runId: string): Promise<number> {
  const start = process.hrtime.bigint();
  let n = 0;
  for await (const _event of stores.events.read(runId)) n++;
  if (n !== REPLAY) throw new Error(`replay read ${n} events, expected ${REPLAY}`);
  return n / (hrMicros(start) / 1e6);
}

async function heartbeatRate(stores: Stores | PostgresStores): Promise<number> {
  await stores.runs.create({ runId: 'beat', sessionId: 's', question: 'q' });
  await stores.runs.start('beat');
  for (let i = 0; i < 200; i++) await stores.runs.heartbeat('beat');
  const count = 3_000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await stores.runs.heartbeat('beat');
  return count / (hrMicros(start) / 1e6);
}

async function memorySaveRate(stores: Stores | PostgresStores): Promise<number> {
  const entry = (i: number) => ({
    entryId: `mem-${i % 500}`,
    scope: 'project' as const,
    projectKey: `project-${i % 20}`,
    tags: ['latency', `skill-${i % 50}`],
    insight: `Insight ${i}: frame p95 regresses when binder transactions exceed 16 ms on the UI thread.`,
    confidence: (i % 100) / 100,
  });
  const rounds = 20;
  const start = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) {
    await Promise.all(Array.from({ length: IN_FLIGHT }, (_, i) => stores.memory.save(entry(r * IN_FLIGHT + i))));
  }
  return (rounds * IN_FLIGHT) / (hrMicros(start) / 1e6);
}

/** The stores of the follow latency figure: `postgres <url> <schema>` or `files - <root>` (also the child's). */
export function openFollowStores(args: readonly string[]): Stores | PostgresStores {
  const [kind, url, schemaOrRoot] = args as [string, string, string];
  return kind === 'postgres'
    ? createPostgresStores({ connectionString: url, schema: schemaOrRoot })
    : createStores({ root: schemaOrRoot });
}

/**
 * Median and p99 ms from an append in this process to its delivery to a follower in another, on a
 * run that already has an event (the follower attaches after it, as a reconnecting client does).
 */
async function followLatency(args: string[]): Promise<{ median: number; p99: number }> {
  const stores = openFollowStores(args);
  await stores.events.append('follow', { type: 'start' });
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, 'postgres-follow-child.ts'), ...args],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  let out = '';
  const ready = new Promise<void>((resolve) =>
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.startsWith('ready\n')) resolve();
    }),
  );
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await ready;
  const sent: number[] = [];
  for (let i = 0; i < 200; i++) {
    sent.push(performance.timeOrigin + performance.now());
    await stores.events.append('follow', { type: 'step', payload: { i } });
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await stores.events.append('follow', { type: 'end' });
  await exited;
  await stores.close();
  const received = (JSON.parse(out.split('\n')[1]!) as number[]).slice(0, sent.length);
  const latencies = received.map((at, i) => at - sent[i]!).sort((a, b) => a - b);
  return { median: median(latencies), p99: latencies[Math.floor(latencies.length * 0.99)]! };
}

export const postgresSuite: BenchSuite = {
  name: 'postgres (issue 13)',
  async run(): Promise<BenchRow[]> {
    const url = await findServer();
    if (url === undefined) {
      note('no PostgreSQL server answered (AGENT_STORES_PG_URL, local socket, 127.0.0.1:5432): suite not run');
      return [];
    }
    const schema = `agent_stores_bench_${process.pid}`;
    const admin = new pg.Pool({ connectionString: url, max: 2 });
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-stores-bench-pg-'));
    const files = createStores({ root });
    const db = createPostgresStores({ connectionString: url, schema });
    const rows: BenchRow[] = [];
    try {
      // Warm both: the schema migrated, the pool and the directories open.
      await db.events.append('warm', { type: 'step' });
      await files.events.append('warm', { type: 'step' });

      const inflight = [
        await appendRate(db, 'inflight', IN_FLIGHT * 100, IN_FLIGHT),
        await appendRate(files, 'inflight', IN_FLIGHT * 100, IN_FLIGHT),
      ];
      rows.push(
        row(
          `append, ${IN_FLIGHT} in flight to one run: PostgreSQL (group commit) vs files (fsync)`,
          'events/s',
          inflight[0]!,
          inflight[1]!,
          '>= 10,000 events/s on PostgreSQL',
          (_ratio, ours) => ours >= 10_000,
        ),
      );
      const sequential = [await appendRate(db, 'seq', 1_000, 1), await appendRate(files, 'seq', 300, 1)];
      rows.push(
        row(
          'append, sequential awaited: PostgreSQL vs files (fsync)',
          'events/s',
          sequential[0]!,
          sequential[1]!,
          '— (what the switch costs)',
          () => true,
        ),
      );

      await fill(db, 'seek', SEEK_RUN);
      await fill(files, 'seek', SEEK_RUN);
      const seek = [
        await firstAfterMicros(db, 'seek', SEEK_RUN / 2),
        await firstAfterMicros(files, 'seek', SEEK_RUN / 2),
      ];
      rows.push(
        row(
          `first event after cursor ${SEEK_RUN / 2} of ${SEEK_RUN.toLocaleString('en-US')}: PostgreSQL vs files`,
          'µs',
          seek[0]!,
          seek[1]!,
          '<= 1 ms on PostgreSQL',
          (_ratio, ours) => ours <= 1_000,
        ),
      );

      await fill(db, 'replay', REPLAY);
      await fill(files, 'replay', REPLAY);
      const replay = [await replayRate(db, 'replay'), await replayRate(files, 'replay')];
      rows.push(
        row(
          `full replay of ${REPLAY.toLocaleString('en-US')} events: PostgreSQL vs files`,
          'events/s',
          replay[0]!,
          replay[1]!,
          '— (what the switch costs)',
          () => true,
        ),
      );

      const beat = [await heartbeatRate(db), await heartbeatRate(files)];
      rows.push(
        row(
          'heartbeat(), one run at a time: PostgreSQL vs files',
          'ops/s',
          beat[0]!,
          beat[1]!,
          '— (what the switch costs)',
          () => true,
        ),
      );

      const saves = [await memorySaveRate(db), await memorySaveRate(files)];
      rows.push(
        row(
          `memory save(), ${IN_FLIGHT} concurrent: PostgreSQL vs files`,
          'ops/s',
          saves[0]!,
          saves[1]!,
          '— (what the switch costs)',
          () => true,
        ),
      );

      const followPg = await followLatency(['postgres', url, schema]);
      const followFiles = await followLatency(['files', '-', root]);
      note(`follow latency p99: PostgreSQL ${followPg.p99.toFixed(2)} ms, files ${followFiles.p99.toFixed(2)} ms`);
      rows.push(
        row(
          'follow latency, append in one process to delivery in another (median): PostgreSQL vs files',
          'ms',
          followPg.median,
          followFiles.median,
          '<= 20 ms median on PostgreSQL',
          (_ratio, ours) => ours <= 20,
        ),
      );
    } finally {
      await db.close();
      await files.close();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
      await admin.end();
      fs.rmSync(root, { recursive: true, force: true });
    }
    return rows;
  },
};
