import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentEventLog } from '../src/events/index.js';
import { eventInput } from './events-data.js';
import { SqliteEventPeer } from './events-sqlite.js';
import { type BenchRow, type BenchSuite, hrMicros, median, note, row } from './harness.js';

/** Events in the large run that the read figures are taken on, and in the small run they are compared with. */
const BIG = 1_000_000;
const SMALL = 1_000;
// Appends issued together while building the read fixtures: batches large enough for group commit,
// small enough that their pending events die young (8192 at once spent half the time in GC).
const BUILD_BATCH = 1024;
const IN_FLIGHT = 64;
// Throughput figures are measured in this many slices, ours and the peer's alternating, so that
// both sides see the same noise from the machine's other tenants (the disk is shared).
const SLICES = 20;

/** One side of a throughput comparison: `count` calls of `op` per slice, `concurrency` of them in flight. */
interface Side {
  count: number;
  concurrency: number;
  op: (i: number) => unknown;
}

/** Ours and the peer's operations per second, measured in {@link SLICES} alternating slices. */
async function versus(ours: Side, peer: Side): Promise<{ ours: number; peer: number }> {
  const rates: number[] = [];
  const micros = [0, 0];
  const done = [0, 0];
  for (let slice = 0; slice < SLICES; slice++) {
    for (const [k, side] of [ours, peer].entries()) {
      let next = done[k]!;
      const end = next + side.count;
      const start = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: side.concurrency }, async () => {
          while (next < end) await side.op(next++);
        }),
      );
      micros[k]! += hrMicros(start);
      done[k] = end;
    }
  }
  for (const k of [0, 1]) rates.push(done[k]! / (micros[k]! / 1e6));
  return { ours: rates[0]!, peer: rates[1]! };
}

/** Time from calling `read(runId, { after })` to holding the first event, in µs (also used by the handles suite). */
export async function firstEventMicros(log: AgentEventLog, runId: string, after: number): Promise<number> {
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
    // Each figure appends to one run per side, opened (lock taken, files created) and warmed up
    // (JIT) before the timed slices.
    for (const runId of ['seq', 'inflight']) {
      for (let j = 0; j < 200; j++) await fsyncLog.append(runId, eventInput(j));
      for (let j = 0; j < 200; j++) peer.append(runId, eventInput(j));
    }
    for (let j = 0; j < 2000; j++) await flushLog.append('seq', eventInput(j));

    let start = process.hrtime.bigint();
    const sequentialFsync = await versus(
      { count: 50, concurrency: 1, op: (i) => fsyncLog.append('seq', eventInput(i)) },
      { count: 50, concurrency: 1, op: (i) => peer.append('seq', eventInput(i)) },
    );
    note(`sequential fsync appends measured in ${(hrMicros(start) / 1e6).toFixed(1)} s`);
    start = process.hrtime.bigint();
    const inFlight = await versus(
      { count: IN_FLIGHT * 20, concurrency: IN_FLIGHT, op: (i) => fsyncLog.append('inflight', eventInput(i)) },
      // better-sqlite3 is synchronous: 64 callers in flight are 64 autocommit inserts one after another.
      { count: 50, concurrency: IN_FLIGHT, op: (i) => peer.append('inflight', eventInput(i)) },
    );
    note(`${IN_FLIGHT}-in-flight fsync appends measured in ${(hrMicros(start) / 1e6).toFixed(1)} s`);
    start = process.hrtime.bigint();
    peer.synchronous('NORMAL');
    for (let j = 0; j < 2000; j++) peer.append('normal', eventInput(j));
    const sequentialFlush = await versus(
      { count: 1000, concurrency: 1, op: (i) => flushLog.append('seq', eventInput(i)) },
      { count: 1000, concurrency: 1, op: (i) => peer.append('normal', eventInput(i)) },
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

  // Full replay, parsed, on a fresh instance each round; two rounds per side, alternating.
  const replayMicros = [0, 0];
  for (let round = 0; round < 2; round++) {
    const fresh = new AgentEventLog({ dir });
    let begin = process.hrtime.bigint();
    let expected = 1;
    for await (const event of fresh.read('big')) {
      if (event.cursor !== expected++) throw new Error(`replay skipped to ${event.cursor}`);
    }
    replayMicros[0]! += hrMicros(begin);
    await fresh.close();
    if (expected !== BIG + 1) throw new Error(`replay ended at ${expected - 1}`);
    begin = process.hrtime.bigint();
    expected = 1;
    for (const event of peer.read('big')) {
      if (event.cursor !== expected++) throw new Error(`SQLite replay skipped to ${event.cursor}`);
    }
    replayMicros[1]! += hrMicros(begin);
    if (expected !== BIG + 1) throw new Error(`SQLite replay ended at ${expected - 1}`);
  }
  const replay = { ours: (2 * BIG) / (replayMicros[0]! / 1e6), peer: (2 * BIG) / (replayMicros[1]! / 1e6) };
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
