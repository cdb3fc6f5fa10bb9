import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type AgentEvent, AgentEventLog } from '../../src/events/index.js';
import { CorruptStoreError } from '../../src/storage/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { describeOutcomes, type FaultCase, type FaultOutcome, sweepFaults } from './fault-sweep.js';
import { FaultyEventLogIO, SILENT_FAULTS, type SilentFault } from './faulty-event-io.js';
import type { FaultKind } from './faulty-io.js';

const T0 = 1_700_000_000_000;
const clock = () => T0;
const dirOf = (root: string) => path.join(root, 'agent_events');

async function collect(events: AsyncIterable<AgentEvent>): Promise<AgentEvent[]> {
  const out: AgentEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

function openLog(root: string, io: FaultyEventLogIO): AgentEventLog {
  return new AgentEventLog({ dir: dirOf(root), io, clock, lock: { waitMs: 2_000 } });
}

function eventCase(
  prepare: (log: AgentEventLog) => Promise<unknown>,
  run: (log: AgentEventLog) => Promise<unknown>,
): FaultCase<AgentEventLog, unknown, FaultyEventLogIO> {
  return {
    prepare: async (root) => {
      const log = new AgentEventLog({ dir: dirOf(root), clock });
      await prepare(log);
      await log.close();
    },
    open: openLog,
    injector: () => new FaultyEventLogIO(),
    run,
    observe: async (log) => ({
      r1: await collect(log.read('r1')),
      last: await log.lastCursor('r1'),
      sealed: await log.isSealed('r1'),
    }),
    probe: async (log) => {
      // The run itself keeps taking appends (unless sealed), and so does another one.
      if (!(await log.isSealed('r1'))) await log.append('r1', { type: 'probe', payload: null });
      await log.append('r2', { type: 'probe', payload: null });
      const again = await collect(log.read('r1'));
      expect(again.map((e) => e.cursor)).toEqual(again.map((_, i) => i + 1));
    },
    close: (log) => log.close(),
    // Once the bytes are in the log file (the write returned), a crash cannot take them back.
    committedAfter: ['log.write'],
    // A crash tearing a batch's write keeps its complete lines: a prefix of the batch, never a gap.
    partial: (seen, before, after, kind) => {
      const [s, b, a] = [seen, before, after] as { r1: AgentEvent[] }[];
      return (
        kind === 'crash' &&
        s!.r1.length > b!.r1.length &&
        s!.r1.length < a!.r1.length &&
        JSON.stringify(s!.r1) === JSON.stringify(a!.r1.slice(0, s!.r1.length))
      );
    },
  };
}

const threeEvents = async (log: AgentEventLog) => {
  for (let i = 1; i <= 3; i++) await log.append('r1', { type: 'progress', payload: { step: i } });
};

function expectCovered(outcomes: FaultOutcome[]): void {
  expect(
    outcomes.filter((o) => o.result === 'not-reached'),
    describeOutcomes(outcomes),
  ).toEqual([]);
  const untyped = outcomes.filter((o) => o.result !== 'absorbed' && !['IO', 'LOCKED'].includes(o.errorCode ?? ''));
  expect(untyped, describeOutcomes(outcomes)).toEqual([]);
  expect(outcomes.some((o) => o.step === 'log.write' && o.result === 'unchanged')).toBe(true);
  if (process.env.SHOW_FAULTS) console.log(describeOutcomes(outcomes));
}

describe('AgentEventLog under injected disk faults at every step of an append', () => {
  it('the first append to a new run either is there after reopening or was refused', async () => {
    expectCovered(
      await sweepFaults(
        eventCase(
          async () => {},
          (log) => log.append('r1', { type: 'progress', payload: { step: 1 } }),
        ),
      ),
    );
  });

  it('an append to an existing run (opening, recovery, write, fsync, index) is all-or-nothing', async () => {
    expectCovered(
      await sweepFaults(
        eventCase(threeEvents, (log) =>
          log.append('r1', { type: 'progress', payload: { step: 4, text: 'x'.repeat(40) } }),
        ),
      ),
    );
  });

  it('a group commit of three appends is acknowledged whole or refused whole', async () => {
    expectCovered(
      await sweepFaults(
        eventCase(threeEvents, async (log) => {
          const results = await Promise.allSettled(
            [4, 5, 6].map((step) => log.append('r1', { type: 'progress', payload: { step } })),
          );
          const refused = results.filter((r) => r.status === 'rejected');
          expect([0, 3]).toContain(refused.length);
          if (refused.length) throw (refused[0] as PromiseRejectedResult).reason;
        }),
      ),
    );
  });

  it('a terminal append seals the run only if it is there', async () => {
    const outcomes = await sweepFaults(
      eventCase(threeEvents, (log) => log.append('r1', { type: 'analysis_completed', payload: { report: 'r' } })),
    );
    expectCovered(outcomes);
  });
});

describe('AgentEventLog after a crash between appending and indexing', () => {
  it('serves every acknowledged event and rebuilds the index on the next open', async () => {
    const root = tempDir();
    const io = new FaultyEventLogIO();
    const log = openLog(root, io);
    await threeEvents(log);
    // Fail the index write of the next append: the event is in the log, the index lags.
    const mark = io.count;
    await log.append('r1', { type: 'progress', payload: { step: 4 } });
    const indexStep = io.calls.slice(mark).findIndex((c) => c.step === 'idx.write');
    expect(indexStep).toBeGreaterThanOrEqual(0);
    io.failAt(indexStep, 'EIO');
    const acknowledged = await log.append('r1', { type: 'progress', payload: { step: 5 } });
    expect(acknowledged.cursor).toBe(5);
    expect(io.fired.map((f) => f.step)).toEqual(['idx.write']);
    await log.close();

    const reopened = openLog(root, new FaultyEventLogIO());
    expect((await collect(reopened.read('r1', { after: 4 }))).map((e) => e.cursor)).toEqual([5]);
    const report = await reopened.verify('r1');
    expect(report.lastCursor).toBe(5);
    await reopened.append('r1', { type: 'progress', payload: { step: 6 } });
    expect((await reopened.verify('r1')).indexProblems).toEqual([]);
    expect((await collect(reopened.read('r1', { after: 3 }))).map((e) => e.cursor)).toEqual([4, 5, 6]);
    await reopened.close();
  });

  it('cuts a torn line left by a crash mid-write, keeping every acknowledged event', async () => {
    const root = tempDir();
    const io = new FaultyEventLogIO();
    const log = openLog(root, io);
    await threeEvents(log);
    const mark = io.count;
    await log.append('r1', { type: 'progress', payload: { step: 4 } });
    const writeStep = io.calls.slice(mark).findIndex((c) => c.step === 'log.write');
    io.failAt(writeStep, 'crash');
    await expect(
      log.append('r1', { type: 'progress', payload: { step: 5, pad: 'y'.repeat(100) } }),
    ).rejects.toMatchObject({
      code: 'IO',
    });
    const logFile = path.join(dirOf(root), 'r1.ndjson');
    expect(fs.readFileSync(logFile, 'utf8').endsWith('\n')).toBe(false);
    // The "dead" process never closes; a new one takes over its lock (same pid: release it first).
    io.heal();
    await log.close();

    const reopened = openLog(root, new FaultyEventLogIO());
    expect((await reopened.verify('r1')).tornTailBytes).toBeGreaterThan(0);
    const next = await reopened.append('r1', { type: 'progress', payload: { step: 5 } });
    expect(next.cursor).toBe(5);
    expect((await collect(reopened.read('r1'))).map((e) => e.cursor)).toEqual([1, 2, 3, 4, 5]);
    expect(fs.readFileSync(logFile, 'utf8').endsWith('\n')).toBe(true);
    await reopened.close();
  });
});

/** The appends the silent-fault sweeps run against three existing events: one alone, then a group of three. */
const silentCases: [string, (log: AgentEventLog) => Promise<unknown>][] = [
  ['one append', (log) => log.append('r1', { type: 'progress', payload: { step: 4, text: 'x'.repeat(40) } })],
  [
    'a group commit of three appends',
    (log) => Promise.all([4, 5, 6].map((step) => log.append('r1', { type: 'progress', payload: { step } }))),
  ],
];

/** Indexes of the write calls an operation makes (on a clean root), for sweeps that only concern writes. */
async function writeSteps(run: (log: AgentEventLog) => Promise<unknown>): Promise<number[]> {
  const root = tempDir('agent-stores-fault-');
  await eventCase(threeEvents, run).prepare(root);
  const io = new FaultyEventLogIO();
  const log = openLog(root, io);
  await log.read('r1')[Symbol.asyncIterator]().next();
  const mark = io.count;
  await run(log);
  await log.close();
  return io.calls.flatMap((call, i) => (i >= mark && call.step.endsWith('.write') ? [i - mark] : []));
}

describe('AgentEventLog on a disk that fills (a short write, then ENOSPC) or takes writes short', () => {
  it.each(silentCases)(
    '%s: ENOSPC at any step is refused whole, typed IO, and the log keeps whole events only',
    async (_what, run) => {
      const outcomes = await sweepFaults(eventCase(threeEvents, run), () => ['ENOSPC']);
      expect(
        outcomes.filter((o) => o.result === 'not-reached'),
        describeOutcomes(outcomes),
      ).toEqual([]);
      expect(
        outcomes.filter((o) => o.result !== 'absorbed' && o.errorCode !== 'IO'),
        describeOutcomes(outcomes),
      ).toEqual([]);
      expect(outcomes.filter((o) => o.step === 'log.write').map((o) => o.result)).toEqual(['unchanged']);
    },
  );

  it.each(silentCases)(
    '%s: a short write count at any write is completed, and acknowledged only once whole',
    async (_what, run) => {
      const writes = new Set(await writeSteps(run));
      expect(writes.size).toBeGreaterThan(0);
      const outcomes = await sweepFaults(eventCase(threeEvents, run), (index) =>
        writes.has(index) ? (['short'] as unknown as FaultKind[]) : [],
      );
      expect(
        outcomes.map((o) => o.result),
        describeOutcomes(outcomes),
      ).toEqual([...writes].map(() => 'absorbed'));
    },
  );
});

describe('AgentEventLog when the disk silently stores zeros or a flipped bit', () => {
  const kinds = SILENT_FAULTS.filter((kind) => kind !== 'short');
  for (const [what, run] of silentCases) {
    it.each(kinds)(
      `${what}: %s in any write is read back exactly or refused loudly, never as other events`,
      async (kind) => {
        const writes = await writeSteps(run);
        const after = await expectedAfter(run);
        for (const index of writes) {
          const root = tempDir('agent-stores-fault-');
          await eventCase(threeEvents, run).prepare(root);
          const io = new FaultyEventLogIO();
          const log = openLog(root, io);
          await log.read('r1')[Symbol.asyncIterator]().next();
          io.failAt(index, kind as SilentFault);
          // The disk said yes: the appends are acknowledged.
          await run(log);
          expect(io.fired, `${kind} at write ${index}`).toHaveLength(1);
          await log.close();
          const where = `${kind} at write ${index} (${io.fired[0]!.step})`;

          const fresh = openLog(root, new FaultyEventLogIO());
          const seen = await collect(fresh.read('r1')).catch((error: unknown) => error);
          if (seen instanceof Error) {
            expect(seen, where).toBeInstanceOf(CorruptStoreError);
            expect(io.fired[0]!.step, `${where}: only damage to the log may fail a read`).toBe('log.write');
            // Nothing is cut and no cursor is given out again.
            const bytes = fs.readFileSync(path.join(dirOf(root), 'r1.ndjson'));
            await expect(fresh.append('r1', { type: 'probe' }), where).rejects.toBeInstanceOf(CorruptStoreError);
            expect(fs.readFileSync(path.join(dirOf(root), 'r1.ndjson')), where).toEqual(bytes);
          } else {
            expect(seen, `${where}: read back as other events`).toEqual(after);
            expect(await fresh.lastCursor('r1'), where).toBe(after.length);
          }
          await fresh.close();
        }
      },
    );
  }
});

/** The events a clean run of `run` leaves. */
async function expectedAfter(run: (log: AgentEventLog) => Promise<unknown>): Promise<AgentEvent[]> {
  const root = tempDir('agent-stores-fault-');
  await eventCase(threeEvents, run).prepare(root);
  const log = openLog(root, new FaultyEventLogIO());
  await run(log);
  await log.close();
  const fresh = openLog(root, new FaultyEventLogIO());
  const events = await collect(fresh.read('r1'));
  await fresh.close();
  return events;
}
