import * as fs from 'node:fs';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { AgentEventLog } from '../../src/events/index.js';
import { type AnalysisRun, AnalysisRunStore, type RunFilesIO } from '../../src/runs/index.js';
import { StoreIOError } from '../../src/storage/errors.js';
import { nodeRunFilesIO } from '../../src/testing.js';
import { tempDir } from '../helpers/tmp.js';
import { describeOutcomes, type FaultCase, type FaultOutcome, sweepFaults } from './fault-sweep.js';
import { FaultyEventLogIO } from './faulty-event-io.js';
import { type FaultInjector, FaultyIO } from './faulty-io.js';
import { refuseLockRemoval } from './lock-removal-faults.js';

const T0 = 1_700_000_000_000;
const STALE_MS = 1_000;
let now = T0;
const clock = () => now;

interface Stores {
  runs: AnalysisRunStore;
  events: AgentEventLog;
}

function openStores(root: string, runIO?: FaultyIO, eventIO?: FaultyEventLogIO): Stores {
  const events = new AgentEventLog({
    dir: path.join(root, 'agent_events'),
    clock,
    io: eventIO,
    lock: { waitMs: 2_000 },
  });
  const runs = new AnalysisRunStore({
    dir: path.join(root, 'analysis_runs'),
    events,
    clock,
    staleAfterMs: STALE_MS,
    io: runIO,
    lock: { waitMs: 2_000 },
  });
  return { runs, events };
}

/** A record as compared: `updatedAt` is checked by the model tests, the error by its code. */
function normal(run: AnalysisRun | undefined): unknown {
  if (!run) return undefined;
  const { updatedAt: _, error, ...rest } = run;
  return error ? { ...rest, error: error.code } : rest;
}

/**
 * What a process that opens the root sees once recovered. Recovery of the run store is a
 * cleanup pass: it finishes a run whose log was sealed by a completion that failed before the
 * record was written (the log is what clients saw). Judged at the case's own time, so nothing
 * else changes.
 */
async function recoveredView({ runs, events }: Stores) {
  await runs.cleanup({ retentionMs: 1e12, now: T0 + 10 });
  const types: string[] = [];
  for await (const event of events.read('a')) types.push(event.type);
  return {
    a: normal(await runs.get('a')),
    b: normal(await runs.get('b')),
    c: normal(await runs.get('c')),
    events: types,
  };
}

async function prepare(root: string): Promise<void> {
  now = T0;
  const stores = openStores(root);
  await stores.runs.create({ runId: 'a', sessionId: 's', question: 'q' });
  await stores.runs.start('a');
  await stores.runs.heartbeat('a', { step: 1 });
  await stores.runs.create({ runId: 'b', sessionId: 's', question: 'q' });
  await stores.events.append('a', { type: 'progress', payload: { step: 1 } });
  await stores.runs.close();
  await stores.events.close();
}

function runCase<I extends FaultInjector>(
  injector: () => I,
  open: (root: string, io: I) => Stores,
  run: (stores: Stores) => Promise<unknown>,
): FaultCase<Stores, unknown, I> {
  return {
    prepare,
    open,
    injector,
    run: async (stores) => {
      now = T0 + 10;
      return run(stores);
    },
    observe: recoveredView,
    probe: (stores) =>
      stores.runs.create({ runId: `p${Math.floor(Math.random() * 1e9)}`, sessionId: 's', question: 'q' }),
    close: async ({ runs, events }) => {
      await runs.close();
      await events.close();
    },
    // A completion appends its terminal event first: from then on the log says how the run
    // ended and recovery makes the record follow, so a later fault leaves the change in doubt.
    committedAfter: ['*', 'log.write', 'writeAtomic'],
  };
}

const withRunFaults = (run: (stores: Stores) => Promise<unknown>) =>
  runCase(
    () => new FaultyIO(),
    (root, io) => openStores(root, io),
    run,
  );
const withEventFaults = (run: (stores: Stores) => Promise<unknown>) =>
  runCase(
    () => new FaultyEventLogIO(),
    (root, io) => openStores(root, undefined, io),
    run,
  );

function expectCovered(outcomes: FaultOutcome[]): void {
  expect(
    outcomes.filter((o) => o.result === 'not-reached'),
    describeOutcomes(outcomes),
  ).toEqual([]);
  const untyped = outcomes.filter((o) => o.result !== 'absorbed' && !['IO', 'LOCKED'].includes(o.errorCode ?? ''));
  expect(untyped, describeOutcomes(outcomes)).toEqual([]);
  if (process.env.SHOW_FAULTS) console.log(describeOutcomes(outcomes));
}

describe('AnalysisRunStore under injected faults in its own files', () => {
  it('create() is all-or-nothing', async () => {
    expectCovered(
      await sweepFaults(withRunFaults((s) => s.runs.create({ runId: 'c', sessionId: 's', question: 'q' }))),
    );
  });

  it('start() is all-or-nothing', async () => {
    expectCovered(await sweepFaults(withRunFaults((s) => s.runs.start('b'))));
  });

  it('complete() ends the run with its terminal event, or leaves it running', async () => {
    expectCovered(await sweepFaults(withRunFaults((s) => s.runs.complete('a', { answer: 42 }))));
  });

  it('cleanup() abandons each stale run with its error event, or leaves it for the next pass', async () => {
    const sweep = withRunFaults(async (s) => {
      now = T0 + 10 * STALE_MS;
      return s.runs.cleanup({ retentionMs: 1e12 });
    });
    // A pass judges run after run: a fault stops it between two, each of them whole.
    sweep.partial = (seen, before, after) => {
      const [s, b, a] = [seen, before, after] as Record<string, unknown>[];
      return (
        ['a', 'b', 'c'].every((id) => isDeepStrictEqual(s![id], b![id]) || isDeepStrictEqual(s![id], a![id])) &&
        isDeepStrictEqual(s!.events, (isDeepStrictEqual(s!.a, a!.a) ? a! : b!).events)
      );
    };
    expectCovered(await sweepFaults(sweep));
  });
});

describe('AnalysisRunStore under injected faults in the attached event log', () => {
  it('complete() never finishes the record without its terminal event', async () => {
    expectCovered(await sweepFaults(withEventFaults((s) => s.runs.fail('a', 'boom'))));
  });
});

// Heartbeat faults go through the run store's own seam for beat files (`files: RunFilesIO`):
// test/runs/file-backend.test.ts rejects a beat the disk refuses (EIO) with StoreIOError while the
// last beat stays readable, and reads a beat torn by a crash as a lost beat, never garbage. Below:
// short counts and writes that take nothing, as a filling disk answers.

/**
 * The beat-file seam as a disk that is filling up: each `write` takes at most `take` bytes
 * (a short count), or none at all once `take` is 0. Counts the calls, so a loop that spins is seen.
 */
class ShortWriteFiles {
  take = Number.POSITIVE_INFINITY;
  calls = 0;
  readonly files: RunFilesIO = {
    ...nodeRunFilesIO,
    write: (fd, data, offset, length, position) => {
      this.calls++;
      if (this.calls > 10_000) throw new Error('the write loop spins');
      return nodeRunFilesIO.write(fd, data, offset, Math.min(length, this.take), position);
    },
  };
}

describe('AnalysisRunStore beat files on a disk that takes part of a write, or none', () => {
  function openRuns(dir: string, disk?: ShortWriteFiles) {
    return new AnalysisRunStore({ dir, clock, staleAfterMs: STALE_MS, files: disk?.files });
  }

  it('finishes every beat and status change when each write takes only a few bytes', async () => {
    now = T0;
    const disk = new ShortWriteFiles();
    disk.take = 3;
    const dir = path.join(tempDir(), 'analysis_runs');
    const runs = openRuns(dir, disk);
    await runs.create({ runId: 'a', sessionId: 's', question: 'q' });
    await runs.start('a');
    now += 10;
    const beat = await runs.heartbeat('a', { step: 'x'.repeat(100) });
    expect(await openRuns(dir).get('a')).toEqual(beat);
    const done = await runs.complete('a');
    expect(await openRuns(dir).get('a')).toEqual(done);
    expect(disk.calls).toBeGreaterThan(30);
  });

  it('refuses a heartbeat the disk takes none of with StoreIOError (ENOSPC), without spinning', async () => {
    now = T0;
    const disk = new ShortWriteFiles();
    const dir = path.join(tempDir(), 'analysis_runs');
    const runs = openRuns(dir, disk);
    await runs.create({ runId: 'a', sessionId: 's', question: 'q' });
    const started = await runs.start('a');
    disk.take = 0;
    now += 10;
    const error = await runs.heartbeat('a', { step: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreIOError);
    expect(((error as StoreIOError).cause as { code?: string }).code).toBe('ENOSPC');
    // Nothing acknowledged, nothing half-read: another reader sees the record as it was.
    const seen = await openRuns(dir).get('a');
    expect(seen?.heartbeatAt).toBe(started.heartbeatAt);
    expect(seen?.status).toBe('running');
  });

  it('keeps the beats whole when a write is cut short and the next one takes none', async () => {
    now = T0;
    const disk = new ShortWriteFiles();
    const dir = path.join(tempDir(), 'analysis_runs');
    const runs = openRuns(dir, disk);
    await runs.create({ runId: 'a', sessionId: 's', question: 'q' });
    const beat = await runs.heartbeat('a', { step: 1 });
    let left = 5;
    disk.files.write = (fd, data, offset, length, position) => {
      const take = Math.min(length, left);
      left -= take;
      return nodeRunFilesIO.write(fd, data, offset, take, position);
    };
    now += 10;
    await expect(runs.heartbeat('a', { step: 22 })).rejects.toBeInstanceOf(StoreIOError);
    // The cut beat reads as no beat: never as a beat the caller was not given.
    const seen = await openRuns(dir).get('a');
    expect(seen?.heartbeatAt === beat.heartbeatAt || seen?.heartbeatAt === undefined).toBe(true);
    expect(seen?.heartbeatDetails === undefined || isDeepStrictEqual(seen.heartbeatDetails, { step: 1 })).toBe(true);
  });

  it('creates no run and leaves no temp file when its new beat file gets no bytes', async () => {
    now = T0;
    const disk = new ShortWriteFiles();
    disk.take = 0;
    const dir = path.join(tempDir(), 'analysis_runs');
    const runs = openRuns(dir, disk);
    await expect(runs.create({ runId: 'a', sessionId: 's', question: 'q' })).rejects.toBeInstanceOf(StoreIOError);
    expect(fs.readdirSync(path.join(dir, 'active'))).toEqual([]);
    expect(await openRuns(dir).get('a')).toBeUndefined();
  });
});

describe('AnalysisRunStore when the disk refuses to remove a run lock', () => {
  it('acknowledges the status change it wrote, and takes the lock left behind over at its next change', async () => {
    now = T0;
    const dir = path.join(tempDir(), 'analysis_runs');
    const runs = new AnalysisRunStore({ dir, clock, staleAfterMs: STALE_MS, lock: { waitMs: 0, staleMs: 60_000 } });
    await runs.create({ runId: 'a', sessionId: 's', question: 'q' });
    const heal = refuseLockRemoval('EIO');
    let started: AnalysisRun;
    try {
      started = await runs.start('a');
    } finally {
      heal();
    }
    expect(started.status).toBe('running');
    expect(await new AnalysisRunStore({ dir }).get('a')).toEqual(started);
    now += 10;
    await expect(runs.complete('a')).resolves.toMatchObject({ status: 'completed' });
  });
});
