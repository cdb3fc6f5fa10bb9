import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentEventLog } from '../src/events/index.js';
import { eventInput } from './events-data.js';
import { SqliteEventPeer } from './events-sqlite.js';
import { type BenchRow, type BenchSuite, row } from './harness.js';

/** Events in the large run that the read figures are taken on, and in the small run they are compared with. */
const BIG = 1_000_000;
const SMALL = 1_000;
// Appends issued together while building the read fixtures: large batches, so building is fast.
const BUILD_BATCH = 8192;
const IN_FLIGHT = 64;
// Throughput figures are the median of this many rounds, ours and the peer's interleaved so that
// both see the same noise from the machine's other tenants.
const ROUNDS = 3;

const hrMicros = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e3;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const note = (text: string) => process.stdout.write(`  ${text}\n`);

/** Runs `op(0..total-1)` with `concurrency` operations in flight and returns operations per second. */
async function throughput(total: number, concurrency: number, op: (i: number) => unknown): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await op(next++);
    }),
  );
  return total / (hrMicros(start) / 1e6);
}

/** Median over {@link ROUNDS} of ours and the peer's throughput, measured alternately. */
async function versus(
  ours: (round: number) => Promise<number>,
  peer: (round: number) => Promise<number>,
): Promise<{ ours: number; peer: number }> {
  const a: number[] = [];
  const b: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    a.push(await ours(round));
    b.push(await peer(round));
  }
  return { ours: median(a), peer: median(b) };
}

/** Time from calling `read(runId, { after })` to holding the first event, in µs. */
async function firstEventMicros(log: AgentEventLog, runId: string, after: number): Promise<number> {
  const start = process.hrtime.bigint();
  const iterator = log.read(runId, { after })[Symbol.asyncIterator]();
  const first = await iterator.next();
  const micros = hrMicros(start);
  await iterator.return?.();
  if (first.done || first.value.cursor !== after + 1) throw new Error(`read(${runId}, after ${after}) began wrong`);
  return micros;
}

async function appendFigures(root: string): Promise<BenchRow[]> {
  const fsyncLog = new AgentEventLog({ dir: path.join(root, 'fsync'), durability: 'fsync' });
  const flushLog = new AgentEventLog({ dir: path.join(root, 'flush'), durability: 'flush' });
  const peer = new SqliteEventPeer(path.join(root, 'appends.db'), 'FULL');
  try {
    // Warm up both sides' code paths (JIT, first file creation, lock) outside the timed rounds.
    await throughput(500, 1, (i) => fsyncLog.append('warmup', eventInput(i)));
    await throughput(500, 1, (i) => flushLog.append('warmup', eventInput(i)));
    await throughput(500, 1, (i) => peer.append('warmup', eventInput(i)));

    let start = process.hrtime.bigint();
    const sequentialFsync = await versus(
      (r) => throughput(1000, 1, (i) => fsyncLog.append(`seq-${r}`, eventInput(i))),
      async (r) => throughput(1000, 1, (i) => peer.append(`seq-${r}`, eventInput(i))),
    );
    note(`sequential fsync appends measured in ${(hrMicros(start) / 1e6).toFixed(1)} s`);
    start = process.hrtime.bigint();
    const inFlight = await versus(
      (r) => throughput(IN_FLIGHT * 400, IN_FLIGHT, (i) => fsyncLog.append(`inflight-${r}`, eventInput(i))),
      // better-sqlite3 is synchronous: 64 callers in flight are 64 autocommit inserts one after another.
      async (r) => throughput(1000, IN_FLIGHT, (i) => peer.append(`inflight-${r}`, eventInput(i))),
    );
    note(`${IN_FLIGHT}-in-flight fsync appends measured in ${(hrMicros(start) / 1e6).toFixed(1)} s`);
    start = process.hrtime.bigint();
    peer.synchronous('NORMAL');
    const sequentialFlush = await versus(
      (r) => throughput(20_000, 1, (i) => flushLog.append(`seq-${r}`, eventInput(i))),
      async (r) => throughput(20_000, 1, (i) => peer.append(`normal-${r}`, eventInput(i))),
    );
    note(`sequential flush appends measured in ${(hrMicros(start) / 1e6).toFixed(1)} s`);
    return [
      row(
        'append, sequential awaited, fsync vs SQLite synchronous=FULL',
        'ops/s',
        sequentialFsync.ours,
        sequentialFsync.peer,
        '>= 0.9x SQLite FULL',
        (ratio) => ratio !== null && ratio >= 0.9,
      ),
      row(
        `append, ${IN_FLIGHT} in flight to one run, fsync vs SQLite FULL autocommit`,
        'ops/s',
        inFlight.ours,
        inFlight.peer,
        '>= 20x SQLite FULL',
        (ratio) => ratio !== null && ratio >= 20,
      ),
      row(
        'append, sequential awaited, flush vs SQLite synchronous=NORMAL',
        'ops/s',
        sequentialFlush.ours,
        sequentialFlush.peer,
        '>= 2x SQLite NORMAL',
        (ratio) => ratio !== null && ratio >= 2,
      ),
    ];
  } finally {
    await fsyncLog.close();
    await flushLog.close();
    peer.close();
  }
}

/** Child process measuring peak RSS growth while replaying `runId`; returns bytes. */
function replayRssGrowth(mode: 'ours' | 'sqlite', location: string, runId: string): Promise<number> {
  const script = path.join(import.meta.dirname, 'events-rss.ts');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, mode, location, runId], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`events-rss ${mode} exited with ${code}`));
      const result = JSON.parse(out) as { events: number; baselineRss: number; peakRss: number; maxRssGrowth: number };
      if (result.events !== BIG) return reject(new Error(`events-rss ${mode} replayed ${result.events} events`));
      resolve(Math.max(result.peakRss - result.baselineRss, result.maxRssGrowth));
    });
  });
}

async function readFigures(root: string): Promise<BenchRow[]> {
  const dir = path.join(root, 'read');
  const dbFile = path.join(root, 'read.db');

  // Fixtures: built through the public API with `flush` and large concurrent batches (group commit).
  let start = process.hrtime.bigint();
  const writer = new AgentEventLog({ dir, durability: 'flush' });
  for (let i = 0; i < BIG; i += BUILD_BATCH) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(BIG, i + BUILD_BATCH); j++) batch.push(writer.append('big', eventInput(j)));
    await Promise.all(batch);
  }
  for (let j = 0; j < SMALL; j++) await writer.append('small', eventInput(j));
  note(`built 1M-event log in ${(hrMicros(start) / 1e6).toFixed(1)} s (flush, batches of ${BUILD_BATCH})`);
  start = process.hrtime.bigint();
  const peer = new SqliteEventPeer(dbFile, 'OFF');
  peer.bulkAppend('big', BIG, eventInput);
  peer.bulkAppend('small', SMALL, eventInput);
  note(`built 1M-row SQLite table in ${(hrMicros(start) / 1e6).toFixed(1)} s (one transaction)`);

  const rows: BenchRow[] = [];
  try {
    // Reconnect to the live run: its writer is still open and may serve recent events from memory.
    const last = await writer.lastCursor('big');
    const reconnectOurs: number[] = [];
    const reconnectPeer: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const after = last - 1 - ((i * 397) % 1024);
      reconnectOurs.push(await firstEventMicros(writer, 'big', after));
      const t = process.hrtime.bigint();
      const event = peer.firstAfter('big', after);
      reconnectPeer.push(hrMicros(t));
      if (event?.cursor !== after + 1) throw new Error('SQLite reconnect began wrong');
    }
    rows.push(
      row(
        'reconnect to a live run after one of its last 1,024 events: first event, vs SQLite by primary key',
        'µs',
        median(reconnectOurs),
        median(reconnectPeer),
        '<= SQLite',
        (ratio) => ratio !== null && ratio <= 1,
      ),
    );
  } finally {
    await writer.close();
  }

  // Cold: a fresh instance per sample, so nothing of the run is cached in this process. The files
  // were just written, so the OS page cache is warm: "cold" here means cold for the process only.
  const coldBig: number[] = [];
  const coldSmall: number[] = [];
  for (let i = 0; i < 41; i++) {
    for (const [runId, after, samples] of [
      ['big', BIG / 2, coldBig],
      ['small', SMALL / 2, coldSmall],
    ] as const) {
      const fresh = new AgentEventLog({ dir });
      samples.push(await firstEventMicros(fresh, runId, after));
      await fresh.close();
    }
  }
  rows.push(
    row(
      'first event after cursor 500,000 of a 1M-event run, fresh instance (OS page cache warm)',
      'µs',
      median(coldBig),
      null,
      '<= 50 µs',
      (_ratio, ours) => ours <= 50,
    ),
    row(
      'first event after 500,000 of 1M (ours) vs after 500 of 1k (peer column), fresh instance',
      'µs',
      median(coldBig),
      median(coldSmall),
      '<= 1.5x the 1k-event run',
      (ratio) => ratio !== null && ratio <= 1.5,
    ),
  );

  // Full replay, parsed, on a fresh instance each round.
  const replay = await versus(
    async () => {
      const fresh = new AgentEventLog({ dir });
      const begin = process.hrtime.bigint();
      let expected = 1;
      for await (const event of fresh.read('big')) {
        if (event.cursor !== expected++) throw new Error(`replay skipped to ${event.cursor}`);
      }
      const seconds = hrMicros(begin) / 1e6;
      await fresh.close();
      if (expected !== BIG + 1) throw new Error(`replay ended at ${expected - 1}`);
      return BIG / seconds;
    },
    async () => {
      const begin = process.hrtime.bigint();
      let expected = 1;
      for (const event of peer.read('big')) {
        if (event.cursor !== expected++) throw new Error(`SQLite replay skipped to ${event.cursor}`);
      }
      return BIG / (hrMicros(begin) / 1e6);
    },
  );
  peer.close();
  rows.push(
    row(
      'full replay of 1M events, parsed, vs SQLite ordered scan + JSON.parse',
      'events/s',
      replay.ours,
      replay.peer,
      '>= 1x SQLite',
      (ratio) => ratio !== null && ratio >= 1,
    ),
  );

  const ourRss = await replayRssGrowth('ours', dir, 'big');
  const peerRss = await replayRssGrowth('sqlite', dbFile, 'big');
  note(`SQLite's peak RSS growth over the same replay: ${(peerRss / 2 ** 20).toFixed(1)} MB`);
  rows.push(
    row(
      'peak RSS growth while replaying 1M events (child process, sampled every 1,024 events)',
      'MB',
      ourRss / 2 ** 20,
      null,
      '<= 64 MB',
      (_ratio, ours) => ours <= 64,
    ),
  );
  return rows;
}

/** Issue 3's figures: `AgentEventLog` against SQLite (better-sqlite3, WAL) on the same ~200-byte events. */
export const eventsSuite: BenchSuite = {
  name: 'events',
  async run() {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-stores-bench-events-'));
    try {
      return [...(await appendFigures(root)), ...(await readFigures(root))];
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  },
};
