import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';
import { encodeRunFile } from '../src/runs/file-run-backend.js';
import { type AnalysisRun, AnalysisRunStore } from '../src/runs/index.js';
import { type BenchRow, type BenchSuite, median, medianMicros, opsPerSecond, row } from './harness.js';
import { createRunsTable, openSqlite, runStatements } from './peers/sqlite.js';

/**
 * Issue 4's figures: what a heartbeat costs (and that it does not grow with the runs kept), the
 * same heartbeat against SQLite's `UPDATE analysis_runs SET heartbeat_at=?, updated_at=?` with
 * `synchronous=NORMAL`, and a fresh process that lists the running runs of a root holding 10,000.
 *
 * Trials alternate (ours, peer, ours, peer…) so a burst of load on the shared machine hits both;
 * the median trial of each side is reported.
 */

const KEPT_MANY = 10_000;
const KEPT_FEW = 10;
export const LIVE = 10;
const TRIALS = 3;
const LATENCY_SAMPLES = 4_000;
const BEATS = 20_000;
const CREATED = 1_750_000_000_000;
const ROOT_NAME = 'analysis_runs';

function finishedRun(i: number): AnalysisRun {
  return {
    runId: `done-${String(i).padStart(6, '0')}`,
    tenantId: `tenant-${i % 7}`,
    sessionId: `session-${i % 300}`,
    mode: 'deep',
    question: `Why did frame ${i} miss its deadline on the UI thread?`,
    status: i % 10 === 0 ? 'failed' : 'completed',
    createdAt: CREATED + i * 1_000,
    startedAt: CREATED + i * 1_000 + 5,
    completedAt: CREATED + i * 1_000 + 60_000,
    heartbeatAt: CREATED + i * 1_000 + 59_000,
    updatedAt: CREATED + i * 1_000 + 60_000,
    result: { summary: `binder transaction of ${i % 40} ms on the main thread`, findings: i % 5 },
  };
}

/**
 * A root whose `analysis_runs/done/` holds `finished` runs, written directly in the documented
 * file format (going through `complete()` 10,000 times would only add minutes of fsyncs), and
 * `LIVE` running runs created through the store.
 */
export async function seedRoot(finished: number): Promise<{ root: string; live: string[] }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-stores-bench-runs-'));
  const done = path.join(root, ROOT_NAME, 'done');
  fs.mkdirSync(done, { recursive: true });
  for (let i = 0; i < finished; i++) {
    const run = finishedRun(i);
    fs.writeFileSync(path.join(done, `${run.runId}.json`), encodeRunFile(run));
  }
  const store = new AnalysisRunStore({ dir: path.join(root, ROOT_NAME) });
  const live: string[] = [];
  for (let i = 0; i < LIVE; i++) {
    const run = await store.create({ runId: `live-${i}`, sessionId: 'session-live', question: 'What regressed?' });
    await store.start(run.runId);
    live.push(run.runId);
  }
  await store.close();
  return { root, live };
}

async function heartbeatLatency(few: string, many: string, live: string[]): Promise<BenchRow> {
  const stores = [few, many].map((root) => new AnalysisRunStore({ dir: path.join(root, ROOT_NAME) }));
  const [fewStore, manyStore] = stores as [AnalysisRunStore, AnalysisRunStore];
  const fewTimes: number[] = [];
  const manyTimes: number[] = [];
  const beat = (store: AnalysisRunStore) => (i: number) => store.heartbeat(live[i % live.length]!, { step: i });
  for (const store of stores) await opsPerSecond(500, beat(store));
  for (let trial = 0; trial < TRIALS; trial++) {
    fewTimes.push(await medianMicros(LATENCY_SAMPLES, beat(fewStore)));
    manyTimes.push(await medianMicros(LATENCY_SAMPLES, beat(manyStore)));
  }
  for (const store of stores) await store.close();
  return row(
    `heartbeat() median latency with ${KEPT_MANY.toLocaleString('en-US')} finished runs kept (peer: with ${KEPT_FEW})`,
    'µs',
    median(manyTimes),
    median(fewTimes),
    '<= 1.5× the 10-run figure',
    (ratio) => ratio !== null && ratio <= 1.5,
  );
}

async function heartbeatThroughput(many: string, live: string[], withDetails: boolean): Promise<BenchRow> {
  const store = new AnalysisRunStore({ dir: path.join(many, ROOT_NAME) });
  const peer = openSqlite({ synchronous: 'NORMAL' });
  createRunsTable(peer.db);
  const statements = runStatements(peer.db);
  peer.db.transaction(() => {
    for (let i = 0; i < KEPT_MANY; i++) {
      const run = finishedRun(i);
      statements.insert.run(run.runId, run.sessionId, run.question, run.status, run.createdAt, run.updatedAt);
    }
    for (const runId of live)
      statements.insert.run(runId, 'session-live', 'What regressed?', 'running', CREATED, CREATED);
  })();
  // What an agent reports with each beat: a new object each time, as a progress callback makes it.
  const details = (i: number) => ({ step: i % 40, of: 40, message: `profiling frame ${i} of the trace` });
  // Each side does what a heartbeat must: stamp the time and store it (and the details) for one run.
  const ours = withDetails
    ? (i: number) => store.heartbeat(live[i % live.length]!, details(i))
    : (i: number) => store.heartbeat(live[i % live.length]!);
  const sqlite = withDetails
    ? (i: number) => {
        const now = Date.now();
        statements.heartbeatWithDetails.run(now, now, JSON.stringify(details(i)), live[i % live.length]!);
      }
    : (i: number) => {
        const now = Date.now();
        statements.heartbeat.run(now, now, live[i % live.length]!);
      };
  await opsPerSecond(1_000, ours);
  await opsPerSecond(1_000, sqlite);
  const oursRates: number[] = [];
  const peerRates: number[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    oursRates.push(await opsPerSecond(BEATS, ours));
    peerRates.push(await opsPerSecond(BEATS, sqlite));
  }
  await store.close();
  peer.close();
  return withDetails
    ? row(
        'heartbeat(runId, { step, of, message }) throughput, one run at a time (peer: SQLite UPDATE heartbeat_at, updated_at, details, WAL, synchronous=NORMAL)',
        'ops/s',
        median(oursRates),
        median(peerRates),
        '>= 1× SQLite',
        (ratio) => ratio !== null && ratio >= 1,
      )
    : row(
        'heartbeat() throughput, one run at a time (peer: SQLite UPDATE heartbeat_at, updated_at, WAL, synchronous=NORMAL)',
        'ops/s',
        median(oursRates),
        median(peerRates),
        '>= 0.5× SQLite',
        (ratio) => ratio !== null && ratio >= 0.5,
      );
}

/** Bundles the child with esbuild (the library's own dependencies stay external), as an app would ship it. */
async function bundleChild(): Promise<string> {
  // Under node_modules so the bundle resolves the library's dependencies as an installed app would.
  const outfile = path.join(import.meta.dirname, '..', 'node_modules', '.cache', 'agent-stores-bench', 'runs-list.mjs');
  await build({
    entryPoints: [path.join(import.meta.dirname, 'runs-list-child.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'silent',
  });
  return outfile;
}

interface ChildReport {
  running: number;
  maxRssKb: number;
  loadedMs: number;
  listedMs: number;
}

function runChild(script: string, root: string): Promise<{ wallMs: number; report: ChildReport }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, [script, root], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const wallMs = performance.now() - start;
      if (code !== 0) reject(new Error(`runs-list child exited with ${code}`));
      else resolve({ wallMs, report: JSON.parse(out) as ChildReport });
    });
  });
}

async function freshProcessList(many: string): Promise<BenchRow[]> {
  const script = await bundleChild();
  const walls: number[] = [];
  const rss: number[] = [];
  const lists: number[] = [];
  for (let trial = 0; trial < TRIALS + 2; trial++) {
    const { wallMs, report } = await runChild(script, many);
    if (report.running !== LIVE) throw new Error(`the child listed ${report.running} running runs, expected ${LIVE}`);
    walls.push(wallMs);
    rss.push(report.maxRssKb / 1024);
    lists.push(report.listedMs - report.loadedMs);
  }
  const figure = `fresh process: import, createStores() on a root of ${KEPT_MANY.toLocaleString('en-US')} runs, list running`;
  return [
    row(`${figure} (wall, spawn to exit)`, 'ms', median(walls), null, '<= 300 ms', (_r, ours) => ours <= 300),
    row(`${figure} (peak RSS)`, 'MB', median(rss), null, '<= 100 MB', (_r, ours) => ours <= 100),
    // The part of the wall time that is the run store's own work, not Node's start-up or imports.
    row(
      '  of which createStores() + list({ status: "running" }), once the library is loaded',
      'ms',
      median(lists),
      null,
      '(part of the 300 ms)',
      () => true,
    ),
  ];
}

export const runsSuite: BenchSuite = {
  name: 'runs',
  async run() {
    const few = await seedRoot(KEPT_FEW);
    const many = await seedRoot(KEPT_MANY);
    try {
      return [
        await heartbeatLatency(few.root, many.root, many.live),
        await heartbeatThroughput(many.root, many.live, false),
        await heartbeatThroughput(many.root, many.live, true),
        ...(await freshProcessList(many.root)),
      ];
    } finally {
      for (const root of [few.root, many.root]) fs.rmSync(root, { recursive: true, force: true });
    }
  },
};
