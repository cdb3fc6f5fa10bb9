import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentEventLog } from '../src/events/index.js';
import { firstEventMicros } from './events.js';
import { eventInput } from './events-data.js';
import { SqliteEventPeer } from './events-sqlite.js';
import { type BenchRow, type BenchSuite, hrMicros, median, note, row } from './harness.js';

const BIG = 1_000_000;
const AFTER = 500_000;
const BUILD_BATCH = 1024;
const MANY_RUNS = 10_000;
const FEW_RUNS = 10;
const ROUNDS = 3;
/** The descriptor limit the many-runs child runs under: a common default. */
const FD_LIMIT = 1024;

interface ManyRunsResult {
  events: number;
  roundMicros: number[];
  idleCpuMsPerSecond: number;
}

/** Runs `many-runs-child.ts` under `ulimit -n` {@link FD_LIMIT} in a child process. */
function manyRunsChild(dir: string, runs: number, rounds: number): Promise<ManyRunsResult> {
  const script = path.join(import.meta.dirname, 'many-runs-child.ts');
  const command = `ulimit -n ${FD_LIMIT} && exec "$0" --import tsx "$1" "$2" "$3" "$4"`;
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command, process.execPath, script, dir, String(runs), String(rounds)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`many-runs-child ${runs} runs exited with ${code}: ${out}`));
      resolve(JSON.parse(out) as ManyRunsResult);
    });
  });
}

/** Appends per second after the first round (every run exists and holds its lock: the steady state). */
const steadyRate = (result: ManyRunsResult, runs: number) =>
  ((result.roundMicros.length - 1) * runs) / (result.roundMicros.slice(1).reduce((a, b) => a + b, 0) / 1e6);

async function manyRunsFigures(root: string): Promise<BenchRow[]> {
  // The 10-run side runs before and after the 10,000-run one, averaged: the machine's load drifts.
  const fewBefore = await manyRunsChild(path.join(root, 'few-1'), FEW_RUNS, (MANY_RUNS * ROUNDS) / FEW_RUNS);
  const many = await manyRunsChild(path.join(root, 'many'), MANY_RUNS, ROUNDS);
  const fewAfter = await manyRunsChild(path.join(root, 'few-2'), FEW_RUNS, (MANY_RUNS * ROUNDS) / FEW_RUNS);
  if (many.events !== MANY_RUNS * ROUNDS) throw new Error(`the many-runs child appended ${many.events} events`);
  const few = (steadyRate(fewBefore, FEW_RUNS) + steadyRate(fewAfter, FEW_RUNS)) / 2;
  note(
    `round 1 (creates ${MANY_RUNS.toLocaleString('en-US')} runs: files, locks, directory fsyncs) took ${(many.roundMicros[0]! / 1e6).toFixed(1)} s`,
  );
  note(
    `CPU at rest while holding the writer locks (refresh timers): ${many.idleCpuMsPerSecond.toFixed(1)} ms/s with ${MANY_RUNS.toLocaleString('en-US')} runs, ${((fewBefore.idleCpuMsPerSecond + fewAfter.idleCpuMsPerSecond) / 2).toFixed(1)} ms/s with ${FEW_RUNS}`,
  );
  return [
    row(
      `many live runs: ${MANY_RUNS.toLocaleString('en-US')} runs round robin under ulimit -n ${FD_LIMIT}, rounds 2-${ROUNDS} (flush), vs the same appends over ${FEW_RUNS} runs`,
      'appends/s',
      steadyRate(many, MANY_RUNS),
      few,
      'completes; >= 0.5x 10 runs',
      (ratio) => ratio !== null && ratio >= 0.5,
    ),
  ];
}

async function readerSeekFigures(root: string): Promise<BenchRow[]> {
  const dir = path.join(root, 'read');
  const dbFile = path.join(root, 'read.db');
  let start = process.hrtime.bigint();
  const writer = new AgentEventLog({ dir, durability: 'flush' });
  for (let i = 0; i < BIG; i += BUILD_BATCH) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(BIG, i + BUILD_BATCH); j++) batch.push(writer.append('big', eventInput(j)));
    await Promise.all(batch);
  }
  await writer.close();
  note(`built 1M-event log in ${(hrMicros(start) / 1e6).toFixed(1)} s`);
  start = process.hrtime.bigint();
  const peer = new SqliteEventPeer(dbFile, 'OFF');
  peer.bulkAppend('big', BIG, eventInput);
  peer.close();
  note(`built 1M-row SQLite table in ${(hrMicros(start) / 1e6).toFixed(1)} s`);

  const peerSeek = (db: SqliteEventPeer) => {
    const t = process.hrtime.bigint();
    const event = db.firstAfter('big', AFTER);
    const micros = hrMicros(t);
    if (event?.cursor !== AFTER + 1) throw new Error('SQLite seek began wrong');
    return micros;
  };

  // Repeated reads on one instance that never wrote the run (an SSE server in another process).
  const reader = new AgentEventLog({ dir });
  const db = new SqliteEventPeer(dbFile, 'OFF');
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let i = 0; i < 200; i++) {
    await firstEventMicros(reader, 'big', AFTER);
    peerSeek(db);
  }
  for (let i = 0; i < 5000; i++) {
    ours.push(await firstEventMicros(reader, 'big', AFTER));
    theirs.push(peerSeek(db));
  }
  await reader.close();
  db.close();

  // A fresh instance per sample against a fresh SQLite connection per sample (open, prepare, query, close).
  const freshOurs: number[] = [];
  const freshTheirs: number[] = [];
  for (let i = 0; i < 201; i++) {
    const fresh = new AgentEventLog({ dir });
    freshOurs.push(await firstEventMicros(fresh, 'big', AFTER));
    await fresh.close();
    const t = process.hrtime.bigint();
    const connection = new SqliteEventPeer(dbFile, 'OFF');
    peerSeek(connection);
    connection.close();
    freshTheirs.push(hrMicros(t));
  }
  return [
    row(
      'seek from a reader instance: first event after 500,000 of 1M, repeated reads, vs SQLite by primary key',
      'µs',
      median(ours),
      median(theirs),
      '<= 1.5x SQLite',
      (ratio) => ratio !== null && ratio <= 1.5,
    ),
    row(
      'seek from a fresh reader instance (opens the files), vs a fresh SQLite connection (open, prepare, query)',
      'µs',
      median(freshOurs),
      median(freshTheirs),
      '<= 1.5x SQLite',
      (ratio) => ratio !== null && ratio <= 1.5,
    ),
  ];
}

/** Issue 14's handle figures: many live runs under a descriptor limit, and seeks by a reader instance. */
export const handlesSuite: BenchSuite = {
  name: 'handles',
  async run() {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-stores-bench-handles-'));
    try {
      return [...(await readerSeekFigures(root)), ...(await manyRunsFigures(root))];
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  },
};
