// The behaviour every run store must show, run against the file backend and the in-memory twin
// (see run-store.test.ts) and against PostgreSQL (test/postgres/run-store.conformance.test.ts). Time comes from an injected clock: nothing sleeps.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type AnalysisRun,
  ConflictError,
  IllegalTransitionError,
  InvalidIdError,
  NotFoundError,
  type RunEventSink,
  type RunStore,
  StoreClosedError,
  ValidationError,
} from '../../src/index.js';
import { ID_PATTERN } from '../../src/storage/ids.js';
import { FakeEventLog } from './fake-event-log.js';

/** A clock a test moves by hand. */
export class ManualClock {
  constructor(public now = 1_700_000_000_000) {}
  readonly read = () => this.now;
  advance(ms: number): void {
    this.now += ms;
  }
}

export interface OpenOptions {
  clock: () => number;
  events?: RunEventSink;
  staleAfterMs?: number;
}

const DAY = 86_400_000;

/**
 * Captures process warnings instead of letting Node print them: `emitWarning` is replaced for the
 * test (restored by `vi.restoreAllMocks` after each). Returns the warnings so far as `type: message`.
 */
export function captureWarnings(): () => string[] {
  const seen: string[] = [];
  vi.spyOn(process, 'emitWarning').mockImplementation(((warning: string | Error, options?: unknown) => {
    const type = typeof options === 'string' ? options : (options as { type?: string } | undefined)?.type;
    seen.push(`${type ?? 'Warning'}: ${typeof warning === 'string' ? warning : warning.message}`);
  }) as typeof process.emitWarning);
  return () => [...seen];
}

export function describeRunStoreConformance(label: string, open: (options: OpenOptions) => RunStore): void {
  describe(`AnalysisRunStore conformance (${label})`, () => {
    const opened: RunStore[] = [];
    afterEach(async () => {
      vi.useRealTimers();
      vi.restoreAllMocks();
      for (const store of opened.splice(0)) await store.close();
    });

    function setup(options: { staleAfterMs?: number; withEvents?: boolean } = {}) {
      const clock = new ManualClock();
      const events = options.withEvents === false ? undefined : new FakeEventLog(clock.read);
      const store = open({ clock: clock.read, events, staleAfterMs: options.staleAfterMs ?? 60_000 });
      opened.push(store);
      return { clock, events: events as FakeEventLog, store };
    }

    describe('lifecycle', () => {
      it('creates a pending run with the given fields, stamped by the clock', async () => {
        const { clock, store } = setup();
        const run = await store.create({
          runId: 'r1',
          sessionId: 's1',
          question: 'why?',
          tenantId: 't1',
          workspaceId: 'w1',
          mode: 'deep',
        });
        expect(run).toEqual({
          runId: 'r1',
          sessionId: 's1',
          question: 'why?',
          tenantId: 't1',
          workspaceId: 'w1',
          mode: 'deep',
          status: 'pending',
          createdAt: clock.now,
          updatedAt: clock.now,
        });
        expect(await store.get('r1')).toEqual(run);
      });

      it('generates run ids that match the id rule and sort by creation', async () => {
        const { clock, store } = setup();
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          ids.push((await store.create({ sessionId: 's', question: 'q' })).runId);
          if (i === 2) clock.advance(1_000);
        }
        for (const id of ids) expect(id).toMatch(ID_PATTERN);
        expect([...ids].sort()).toEqual(ids);
        expect(new Set(ids).size).toBe(5);
      });

      it('refuses a second run with the same id with ConflictError', async () => {
        const { store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        await expect(store.create({ runId: 'r1', sessionId: 's', question: 'other' })).rejects.toBeInstanceOf(
          ConflictError,
        );
        expect((await store.get('r1'))?.question).toBe('q');
      });

      it('starts a pending run: running, with startedAt', async () => {
        const { clock, store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        clock.advance(5);
        const run = await store.start('r1');
        expect(run.status).toBe('running');
        expect(run.startedAt).toBe(clock.now);
        expect((await store.get('r1'))?.status).toBe('running');
      });

      it('refuses to start a run twice with IllegalTransitionError', async () => {
        const { store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        await store.start('r1');
        await expect(store.start('r1')).rejects.toBeInstanceOf(IllegalTransitionError);
      });

      it('takes heartbeats on pending and on running runs', async () => {
        const { clock, store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        clock.advance(10);
        expect((await store.heartbeat('r1')).heartbeatAt).toBe(clock.now);
        await store.start('r1');
        clock.advance(10);
        const beat = await store.heartbeat('r1', { step: 'join' });
        expect(beat).toMatchObject({ status: 'running', heartbeatAt: clock.now, heartbeatDetails: { step: 'join' } });
        expect(await store.get('r1')).toEqual(beat);
      });

      it('keeps the last heartbeat details until a heartbeat brings new ones', async () => {
        const { store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        await store.heartbeat('r1', { step: 1 });
        expect((await store.heartbeat('r1')).heartbeatDetails).toEqual({ step: 1 });
        expect((await store.heartbeat('r1', { step: 2 })).heartbeatDetails).toEqual({ step: 2 });
        await store.start('r1');
        expect((await store.get('r1'))?.heartbeatDetails).toEqual({ step: 2 });
      });

      it('completes a run with its result and completedAt', async () => {
        const { clock, store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        await store.start('r1');
        clock.advance(100);
        const run = await store.complete('r1', { answer: 42 });
        expect(run).toMatchObject({ status: 'completed', result: { answer: 42 }, completedAt: clock.now });
        expect(await store.get('r1')).toEqual(run);
      });

      it('fails a run with a message, an Error or an error object', async () => {
        const { store } = setup();
        for (const id of ['a', 'b', 'c']) await store.create({ runId: id, sessionId: 's', question: 'q' });
        expect((await store.fail('a', 'boom')).error).toEqual({ code: 'failed', message: 'boom' });
        const withCode = Object.assign(new Error('disk full'), { code: 'ENOSPC' });
        expect((await store.fail('b', withCode)).error).toEqual({ code: 'ENOSPC', message: 'disk full' });
        expect((await store.fail('c', { code: 'tool', message: 'sql', details: { line: 3 } })).error).toEqual({
          code: 'tool',
          message: 'sql',
          details: { line: 3 },
        });
        expect((await store.get('a'))?.status).toBe('failed');
      });

      it('cancels a run, keeping the reason as error.message', async () => {
        const { store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        const run = await store.cancel('r1', 'user closed the tab');
        expect(run.status).toBe('cancelled');
        expect(run.error).toEqual({ code: 'cancelled', message: 'user closed the tab' });
      });

      it.each([
        ['complete', (s: RunStore) => s.complete('r1', 1)],
        ['fail', (s: RunStore) => s.fail('r1', 'x')],
        ['cancel', (s: RunStore) => s.cancel('r1')],
      ])(
        'refuses a second ending (%s after complete) with IllegalTransitionError and changes nothing',
        async (_name, end) => {
          const { store } = setup();
          await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
          const done = await store.complete('r1', 'first');
          await expect(end(store)).rejects.toBeInstanceOf(IllegalTransitionError);
          expect(await store.get('r1')).toEqual(done);
        },
      );

      it('refuses a heartbeat on a finished run with IllegalTransitionError and changes nothing', async () => {
        const { clock, store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        const done = await store.fail('r1', 'x');
        clock.advance(1_000);
        await expect(store.heartbeat('r1', { late: true })).rejects.toBeInstanceOf(IllegalTransitionError);
        expect(await store.get('r1')).toEqual(done);
      });

      it('keeps updatedAt strictly increasing while the clock stands still or steps back', async () => {
        const { clock, store } = setup();
        const stamps: number[] = [];
        stamps.push((await store.create({ runId: 'r1', sessionId: 's', question: 'q' })).updatedAt);
        stamps.push((await store.heartbeat('r1')).updatedAt);
        stamps.push((await store.start('r1')).updatedAt);
        clock.advance(-5_000);
        stamps.push((await store.heartbeat('r1')).updatedAt);
        stamps.push((await store.heartbeat('r1')).updatedAt);
        stamps.push((await store.complete('r1')).updatedAt);
        for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThan(stamps[i - 1]!);
      });

      it('returns copies: changing a returned run changes nothing stored', async () => {
        const { store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        const beat = await store.heartbeat('r1', { nested: { n: 1 } });
        (beat.heartbeatDetails as { nested: { n: number } }).nested.n = 99;
        beat.status = 'failed';
        expect(await store.get('r1')).toMatchObject({ status: 'pending', heartbeatDetails: { nested: { n: 1 } } });
      });
    });

    describe('events', () => {
      it.each([
        ['complete', 'analysis_completed', (s: RunStore) => s.complete('r1', { answer: 1 })],
        ['fail', 'error', (s: RunStore) => s.fail('r1', 'boom')],
        ['cancel', 'end', (s: RunStore) => s.cancel('r1', 'stop')],
      ])('%s appends %s while the run is still live, then ends it', async (_name, type, end) => {
        const { events, store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        await store.start('r1');
        const statusAtAppend: string[] = [];
        events.onAppend = async (runId) => {
          statusAtAppend.push((await store.get(runId))?.status ?? 'missing');
        };
        await end(store);
        expect(events.types('r1')).toEqual([type]);
        expect(statusAtAppend).toEqual(['running']);
      });

      it('puts the result in the analysis_completed payload', async () => {
        const { events, store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        await store.complete('r1', { answer: 42 });
        expect(events.logs.get('r1')?.[0]?.payload).toMatchObject({ result: { answer: 42 } });
      });

      it('puts { code, message } in the error payload', async () => {
        const { events, store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        await store.fail('r1', { code: 'tool', message: 'sql failed' });
        expect(events.logs.get('r1')?.[0]?.payload).toEqual({ code: 'tool', message: 'sql failed' });
      });

      it('leaves the run live when appending the terminal event fails', async () => {
        const { events, store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        events.onAppend = () => {
          throw new Error('log unavailable');
        };
        await expect(store.complete('r1', 1)).rejects.toThrow('log unavailable');
        expect((await store.get('r1'))?.status).toBe('pending');
        events.onAppend = undefined;
        expect((await store.complete('r1', 1)).status).toBe('completed');
      });

      it('finishes a run from its log when the log already ended the same way (a retried completion)', async () => {
        const { clock, events, store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        await events.append('r1', { type: 'analysis_completed', payload: { status: 'completed', result: 7 } });
        const logAt = clock.now;
        clock.advance(50);
        const run = await store.complete('r1', 7);
        expect(run).toMatchObject({ status: 'completed', result: 7, completedAt: logAt });
        expect(events.types('r1')).toEqual(['analysis_completed']);
      });

      it('refuses an ending that contradicts the sealed log, and records what the log says', async () => {
        const { events, store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        await events.append('r1', { type: 'error', payload: { code: 'x', message: 'died' } });
        await expect(store.complete('r1', 1)).rejects.toBeInstanceOf(IllegalTransitionError);
        expect(await store.get('r1')).toMatchObject({ status: 'failed', error: { code: 'x', message: 'died' } });
      });
    });

    describe('reads', () => {
      it('returns undefined from get for an unknown run', async () => {
        const { store } = setup();
        expect(await store.get('nope')).toBeUndefined();
      });

      it.each([
        ['start', (s: RunStore) => s.start('nope')],
        ['heartbeat', (s: RunStore) => s.heartbeat('nope')],
        ['complete', (s: RunStore) => s.complete('nope')],
        ['fail', (s: RunStore) => s.fail('nope', 'x')],
        ['cancel', (s: RunStore) => s.cancel('nope')],
      ])('throws NotFoundError from %s for an unknown run', async (_name, call) => {
        const { store } = setup();
        await expect(call(store)).rejects.toBeInstanceOf(NotFoundError);
      });

      it('lists runs by status, session, tenant and workspace, newest first', async () => {
        const { clock, store } = setup();
        await store.create({ runId: 'b', sessionId: 's1', question: 'q', tenantId: 't1', workspaceId: 'w1' });
        clock.advance(1);
        await store.create({ runId: 'a', sessionId: 's2', question: 'q', tenantId: 't1' });
        clock.advance(1);
        await store.create({ runId: 'c', sessionId: 's1', question: 'q', tenantId: 't2', workspaceId: 'w1' });
        await store.start('a');
        await store.complete('c');
        const ids = (runs: AnalysisRun[]) => runs.map((run) => run.runId);
        expect(ids(await store.list())).toEqual(['c', 'a', 'b']);
        expect(ids(await store.list({ status: 'running' }))).toEqual(['a']);
        expect(ids(await store.list({ status: 'completed' }))).toEqual(['c']);
        expect(ids(await store.list({ sessionId: 's1' }))).toEqual(['c', 'b']);
        expect(ids(await store.list({ tenantId: 't1' }))).toEqual(['a', 'b']);
        expect(ids(await store.list({ workspaceId: 'w1', status: 'pending' }))).toEqual(['b']);
      });

      it('orders by createdAt then runId, oldest first on request, and stops at limit', async () => {
        const { clock, store } = setup();
        for (const runId of ['m', 'z', 'a']) await store.create({ runId, sessionId: 's', question: 'q' });
        clock.advance(1);
        await store.create({ runId: 'late', sessionId: 's', question: 'q' });
        const ids = (runs: AnalysisRun[]) => runs.map((run) => run.runId);
        expect(ids(await store.list())).toEqual(['late', 'z', 'm', 'a']);
        expect(ids(await store.list({ order: 'oldest' }))).toEqual(['a', 'm', 'z', 'late']);
        expect(ids(await store.list({ limit: 2 }))).toEqual(['late', 'z']);
        expect(ids(await store.list({ order: 'oldest', limit: 1 }))).toEqual(['a']);
        await expect(store.list({ limit: 0 })).rejects.toBeInstanceOf(ValidationError);
      });

      it('pages through every run once with an opaque cursor, while runs come and go', async () => {
        const { clock, store } = setup();
        for (let i = 0; i < 7; i++) {
          await store.create({ runId: `r${i}`, sessionId: 's', question: 'q' });
          clock.advance(1);
        }
        const first = await store.page({ limit: 3 });
        expect(first.runs.map((run) => run.runId)).toEqual(['r6', 'r5', 'r4']);
        // A newer run and a deleted one between pages: neither repeats nor skips the others.
        await store.create({ runId: 'r7', sessionId: 's', question: 'q' });
        await store.delete('r3', { force: true });
        const second = await store.page({ limit: 3, cursor: first.nextCursor });
        expect(second.runs.map((run) => run.runId)).toEqual(['r2', 'r1', 'r0']);
        expect(second.nextCursor).toBeUndefined();
        const oldest = await store.page({ limit: 4, order: 'oldest' });
        expect(oldest.runs.map((run) => run.runId)).toEqual(['r0', 'r1', 'r2', 'r4']);
        const rest = await store.page({ limit: 4, order: 'oldest', cursor: oldest.nextCursor });
        expect(rest.runs.map((run) => run.runId)).toEqual(['r5', 'r6', 'r7']);
        expect(rest.nextCursor).toBeUndefined();
      });

      it('refuses a cursor it did not give out, or one given for the other order', async () => {
        const { store } = setup();
        for (const runId of ['a', 'b']) await store.create({ runId, sessionId: 's', question: 'q' });
        const { nextCursor } = await store.page({ limit: 1 });
        await expect(store.page({ limit: 1, cursor: 'garbage' })).rejects.toBeInstanceOf(ValidationError);
        await expect(store.page({ limit: 1, cursor: nextCursor, order: 'oldest' })).rejects.toBeInstanceOf(
          ValidationError,
        );
        await expect(store.page({ limit: 0 })).rejects.toBeInstanceOf(ValidationError);
      });

      it('judges staleness from the latest of heartbeatAt, startedAt and createdAt', async () => {
        const { clock, store } = setup({ staleAfterMs: 1_000 });
        const created = await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        expect(store.isStale(created, clock.now + 1_000)).toBe(false);
        expect(store.isStale(created, clock.now + 1_001)).toBe(true);
        clock.advance(500);
        const started = await store.start('r1');
        expect(store.isStale(started, clock.now + 1_000)).toBe(false);
        clock.advance(500);
        const beat = await store.heartbeat('r1');
        expect(store.isStale(beat, clock.now + 1_000)).toBe(false);
        expect(store.isStale(beat, clock.now + 1_001)).toBe(true);
      });

      it('never calls a finished run stale', async () => {
        const { clock, store } = setup({ staleAfterMs: 1_000 });
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        const done = await store.complete('r1');
        expect(store.isStale(done, clock.now + DAY)).toBe(false);
      });
    });

    describe('cleanup', () => {
      /** The table of the issue: one run per row, judged at `now` with staleAfterMs 60 s, retention 1 day. */
      async function table() {
        const ctx = setup({ staleAfterMs: 60_000 });
        const { clock, store } = ctx;
        const start = clock.now;
        await store.create({ runId: 'finished-old', sessionId: 's', question: 'q' });
        await store.complete('finished-old', 'done long ago');
        await store.create({ runId: 'fresh-old', sessionId: 's', question: 'q' });
        await store.start('fresh-old');
        await store.create({ runId: 'stale-running', sessionId: 's', question: 'q' });
        await store.start('stale-running');
        await store.create({ runId: 'stale-pending', sessionId: 's', question: 'q' });
        clock.advance(2 * DAY);
        await store.create({ runId: 'finished-recent', sessionId: 's', question: 'q' });
        await store.fail('finished-recent', 'recent failure');
        clock.advance(60_000);
        // Fresh: beats 30 s before `now`, though it started two days ago.
        await store.heartbeat('fresh-old');
        clock.advance(30_000);
        return { ...ctx, start };
      }

      it('keeps a live run with a fresh heartbeat however old it is, and a recently finished run', async () => {
        const { store } = await table();
        const report = await store.cleanup({ retentionMs: DAY });
        expect(report.kept.sort()).toEqual(['finished-recent', 'fresh-old']);
        expect((await store.get('fresh-old'))?.status).toBe('running');
      });

      it('fails stale running and stale pending runs with heartbeat_stale and a terminal error event', async () => {
        const { events, store } = await table();
        const report = await store.cleanup({ retentionMs: DAY });
        expect(report.abandoned.sort()).toEqual(['stale-pending', 'stale-running']);
        for (const runId of report.abandoned) {
          expect(await store.get(runId)).toMatchObject({ status: 'failed', error: { code: 'heartbeat_stale' } });
          expect(events.logs.get(runId)?.at(-1)).toMatchObject({ type: 'error', payload: { code: 'heartbeat_stale' } });
        }
      });

      it('deletes a finished run past retention together with its event log', async () => {
        const { events, store } = await table();
        expect(events.logs.has('finished-old')).toBe(true);
        const report = await store.cleanup({ retentionMs: DAY });
        expect(report.deleted).toEqual(['finished-old']);
        expect(await store.get('finished-old')).toBeUndefined();
        expect(events.logs.has('finished-old')).toBe(false);
      });

      it('reports with dryRun what a pass would do and changes nothing', async () => {
        const { events, store } = await table();
        const before = await store.list();
        const logsBefore = [...events.logs.keys()].sort();
        const planned = await store.cleanup({ retentionMs: DAY, dryRun: true });
        expect(await store.list()).toEqual(before);
        expect([...events.logs.keys()].sort()).toEqual(logsBefore);
        const done = await store.cleanup({ retentionMs: DAY });
        const sorted = (r: typeof done) => ({
          kept: r.kept.sort(),
          abandoned: r.abandoned.sort(),
          deleted: r.deleted.sort(),
        });
        expect(sorted(planned)).toEqual(sorted(done));
      });

      it('judges by the now and staleAfterMs it is given', async () => {
        const { clock, store } = setup({ staleAfterMs: 60_000 });
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        const at = clock.now;
        expect((await store.cleanup({ retentionMs: DAY, now: at + 60_000 })).kept).toEqual(['r1']);
        expect((await store.cleanup({ retentionMs: DAY, now: at + 1_000, staleAfterMs: 999 })).abandoned).toEqual([
          'r1',
        ]);
      });

      it('finishes a live run whose log was already sealed from the log, and counts it kept', async () => {
        const { events, store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        await store.start('r1');
        await events.append('r1', { type: 'analysis_completed', payload: { status: 'completed', result: 'from log' } });
        const report = await store.cleanup({ retentionMs: DAY });
        expect(report).toEqual({ kept: ['r1'], abandoned: [], deleted: [], unreadable: [] });
        expect(await store.get('r1')).toMatchObject({ status: 'completed', result: 'from log' });
        expect(events.types('r1')).toEqual(['analysis_completed']);
      });

      it('abandons a run only once over repeated passes', async () => {
        const { clock, store } = setup({ staleAfterMs: 1_000 });
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        clock.advance(5_000);
        expect((await store.cleanup({ retentionMs: DAY })).abandoned).toEqual(['r1']);
        expect(await store.cleanup({ retentionMs: DAY })).toEqual({
          kept: ['r1'],
          abandoned: [],
          deleted: [],
          unreadable: [],
        });
      });

      it('works without an event log', async () => {
        const { clock, store } = setup({ staleAfterMs: 1_000, withEvents: false });
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        clock.advance(5_000);
        expect((await store.cleanup({ retentionMs: DAY })).abandoned).toEqual(['r1']);
        expect((await store.get('r1'))?.error?.code).toBe('heartbeat_stale');
      });
    });

    describe('delete', () => {
      it('deletes a finished run with its event log and says whether there was one', async () => {
        const { events, store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        await store.complete('r1', 1);
        expect(await store.delete('r1')).toBe(true);
        expect(await store.get('r1')).toBeUndefined();
        expect(await events.lastCursor('r1')).toBe(0);
        expect(await store.delete('r1')).toBe(false);
        expect(await store.list()).toEqual([]);
      });

      it('refuses a live run with a fresh heartbeat with ConflictError unless forced', async () => {
        const { store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        await store.start('r1');
        await expect(store.delete('r1')).rejects.toBeInstanceOf(ConflictError);
        expect((await store.get('r1'))?.status).toBe('running');
        expect(await store.delete('r1', { force: true })).toBe(true);
        expect(await store.get('r1')).toBeUndefined();
        await expect(store.heartbeat('r1')).rejects.toBeInstanceOf(NotFoundError);
      });

      it('deletes a live run whose heartbeat is stale without force', async () => {
        const { clock, store } = setup({ staleAfterMs: 1_000 });
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        clock.advance(5_000);
        expect(await store.delete('r1')).toBe(true);
        expect(await store.get('r1')).toBeUndefined();
      });

      it('validates its arguments', async () => {
        const { store } = setup();
        await expect(store.delete('../r1')).rejects.toBeInstanceOf(InvalidIdError);
        await expect(store.delete('r1', { force: 'yes' } as never)).rejects.toBeInstanceOf(ValidationError);
      });
    });

    describe('startCleanup', () => {
      it('runs a pass at once and then every everyMs, each report to onResult, until stopped', async () => {
        const { clock, store } = setup({ staleAfterMs: 1_000 });
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
        const reports: { abandoned: string[] }[] = [];
        const handle = store.startCleanup({ everyMs: 60_000, retentionMs: DAY, onResult: (r) => reports.push(r) });
        await vi.waitFor(() => expect(reports).toHaveLength(1));
        expect(reports[0]?.abandoned).toEqual([]);
        clock.advance(5_000);
        await vi.advanceTimersByTimeAsync(60_000);
        await vi.waitFor(() => expect(reports).toHaveLength(2));
        expect(reports[1]?.abandoned).toEqual(['r1']);
        await handle.stop();
        await vi.advanceTimersByTimeAsync(120_000);
        expect(reports).toHaveLength(2);
      });

      it('reports a failed pass to onError and goes on', async () => {
        const { store } = setup();
        vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
        const errors: unknown[] = [];
        let passes = 0;
        const handle = store.startCleanup({
          everyMs: 1_000,
          retentionMs: DAY,
          onResult: () => {
            passes++;
            throw new Error('onResult broke');
          },
          onError: (error) => errors.push(error),
        });
        await vi.waitFor(() => expect(errors).toHaveLength(1));
        await vi.advanceTimersByTimeAsync(1_000);
        await vi.waitFor(() => expect(errors).toHaveLength(2));
        expect(passes).toBe(2);
        await handle.stop();
      });

      it('makes a failed pass without onError a process warning, not an unhandled rejection', async () => {
        const { store } = setup();
        const warnings = captureWarnings();
        const handle = store.startCleanup({
          everyMs: 60_000,
          retentionMs: DAY,
          onResult: () => {
            throw new Error('onResult broke');
          },
        });
        await vi.waitFor(() =>
          expect(warnings()).toEqual(['AgentStoresCleanupWarning: cleanup failed: onResult broke']),
        );
        await handle.stop();
      });

      it('is stopped by close()', async () => {
        const { store } = setup();
        vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
        let passes = 0;
        store.startCleanup({ everyMs: 1_000, retentionMs: DAY, onResult: () => passes++ });
        await store.close();
        const after = passes;
        await vi.advanceTimersByTimeAsync(10_000);
        expect(passes).toBe(after);
      });

      it('validates its options', () => {
        const { store } = setup();
        expect(() => store.startCleanup({ everyMs: 0, retentionMs: DAY })).toThrow(ValidationError);
        expect(() => store.startCleanup({ everyMs: 10 } as never)).toThrow(ValidationError);
      });
    });

    describe('close', () => {
      it('refuses every method afterwards with StoreClosedError', async () => {
        const { store } = setup();
        const run = await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        await store.close();
        const calls: [string, () => Promise<unknown>][] = [
          ['create', () => store.create({ runId: 'r2', sessionId: 's', question: 'q' })],
          ['start', () => store.start('r1')],
          ['heartbeat', () => store.heartbeat('r1')],
          ['complete', () => store.complete('r1')],
          ['fail', () => store.fail('r1', 'boom')],
          ['cancel', () => store.cancel('r1')],
          ['get', () => store.get('r1')],
          ['list', () => store.list()],
          ['cleanup', () => store.cleanup({ retentionMs: DAY })],
        ];
        for (const [name, call] of calls) {
          await expect(call(), name).rejects.toBeInstanceOf(StoreClosedError);
        }
        expect(() => store.startHeartbeat('r1', { intervalMs: 10 })).toThrow(StoreClosedError);
        expect(() => store.isStale(run)).toThrow(StoreClosedError);
      });

      it('is idempotent: every call returns the same promise', async () => {
        const { store } = setup();
        const first = store.close();
        expect(store.close()).toBe(first);
        await first;
        await expect(store.close()).resolves.toBeUndefined();
      });

      it('resolves only after a status change in flight has finished', async () => {
        const { store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        let completed = false;
        const completion = store.complete('r1', 42).then(() => {
          completed = true;
        });
        await store.close();
        expect(completed).toBe(true);
        await completion;
      });

      it('lets a cleanup pass in flight finish every run before it resolves', async () => {
        const { clock, store } = setup({ staleAfterMs: 1_000 });
        for (const runId of ['a', 'b', 'c']) await store.create({ runId, sessionId: 's', question: 'q' });
        clock.advance(5_000);
        const pass = store.cleanup({ retentionMs: DAY });
        await store.close();
        expect((await pass).abandoned.sort()).toEqual(['a', 'b', 'c']);
      });

      it('stops heartbeat timers without a warning, the beat in flight settled', async () => {
        const { clock, store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        const errors: unknown[] = [];
        store.startHeartbeat('r1', { intervalMs: 5, onError: (error) => errors.push(error) });
        await store.close();
        clock.advance(1_000);
        await new Promise((resolve) => setTimeout(resolve, 30));
        expect(errors).toEqual([]);
      });
    });

    describe('startHeartbeat', () => {
      it('beats at once and then every intervalMs until stopped', async () => {
        const { clock, store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        // The beats the timer starts, to wait for them to land (a store on a server takes a round trip).
        const beats: Promise<unknown>[] = [];
        const beat = store.heartbeat.bind(store);
        vi.spyOn(store, 'heartbeat').mockImplementation((...args) => {
          const beating = beat(...args);
          beats.push(beating);
          return beating;
        });
        vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
        const handle = store.startHeartbeat('r1', { intervalMs: 1_000 });
        await vi.advanceTimersByTimeAsync(0);
        await Promise.all(beats);
        expect((await store.get('r1'))?.heartbeatAt).toBe(clock.now);
        clock.advance(1_000);
        await vi.advanceTimersByTimeAsync(1_000);
        await Promise.all(beats);
        expect((await store.get('r1'))?.heartbeatAt).toBe(clock.now);
        expect(beats).toHaveLength(2);
        await handle.stop();
        const stoppedAt = clock.now;
        clock.advance(5_000);
        await vi.advanceTimersByTimeAsync(5_000);
        expect((await store.get('r1'))?.heartbeatAt).toBe(stoppedAt);
      });

      it('reports a failed beat to onError and stops by itself once the run is finished', async () => {
        const { store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        await store.complete('r1');
        const errors: unknown[] = [];
        const handle = store.startHeartbeat('r1', { intervalMs: 10, onError: (error) => errors.push(error) });
        await vi.waitFor(() => expect(errors).toHaveLength(1));
        expect(errors[0]).toBeInstanceOf(IllegalTransitionError);
        await handle.stop();
        expect(errors).toHaveLength(1);
      });

      it('stops quietly, without a process warning, when the run finished and no onError was given', async () => {
        const { store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        await store.complete('r1');
        const warnings = captureWarnings();
        const handle = store.startHeartbeat('r1', { intervalMs: 10 });
        await new Promise((resolve) => setTimeout(resolve, 50));
        await handle.stop();
        expect(warnings().filter((w) => w.includes("'r1'"))).toEqual([]);
      });

      it('lets stop() wait for the beat in flight', async () => {
        const { store } = setup();
        await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
        const handle = store.startHeartbeat('r1', { intervalMs: 60_000 });
        // The first beat started synchronously; stop() must not resolve before it has landed.
        await handle.stop();
        expect((await store.get('r1'))?.heartbeatAt).toBeDefined();
      });

      it('makes a failed beat without onError a process warning, not an unhandled rejection', async () => {
        const { store } = setup();
        const warnings = captureWarnings();
        const handle = store.startHeartbeat('missing-run', { intervalMs: 10 });
        await vi.waitFor(() => expect(warnings().some((w) => w.includes("'missing-run'"))).toBe(true));
        await handle.stop();
        expect(warnings()[0]).toMatch(
          /^AgentStoresHeartbeatWarning: heartbeat failed: run 'missing-run' does not exist/,
        );
      });

      it('validates its options', () => {
        const { store } = setup();
        expect(() => store.startHeartbeat('r1', { intervalMs: 0 })).toThrow(ValidationError);
        expect(() => store.startHeartbeat('../r1', { intervalMs: 10 })).toThrow(InvalidIdError);
      });
    });
  });
}
