// A model of the store's contract (DESIGN.md) and the operations drawn against it, shared by
// the model tests of every backend (run-store-model.test.ts and test/postgres/models.test.ts).
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { expect } from 'vitest';
import type { EventLog } from '../../src/events/event-log.js';
import { AgentEventLog } from '../../src/events/index.js';
import { type AnalysisRun, AnalysisRunStore, type RunStore } from '../../src/runs/index.js';
import { ModelError, type ModelSpec } from './model-run.js';

// A plain model of AnalysisRunStore's contract (DESIGN.md) with its event log attached.
// `updatedAt` is compared as a property (it only ever increases) rather than as a value, and an
// error is compared by its `code` (messages are for people).

const T0 = 1_700_000_000_000;
export const STALE_MS = 1_000;

type Op =
  | { t: 'tick'; ms: number }
  | { t: 'create'; runId: string; sessionId: string }
  | { t: 'start'; runId: string }
  | { t: 'heartbeat'; runId: string; details?: { step: number } }
  | { t: 'complete'; runId: string; result?: { answer: number } }
  | { t: 'fail'; runId: string; message: string }
  | { t: 'cancel'; runId: string; reason?: string }
  | { t: 'get'; runId: string }
  | { t: 'delete'; runId: string; force?: boolean }
  | { t: 'list'; status?: AnalysisRun['status']; sessionId?: string; order?: 'newest' | 'oldest'; limit?: number }
  | { t: 'cleanup'; retentionMs: number };

// biome-ignore lint/suspicious/noExplicitAny: the model's records are plain JSON compared with toEqual.
type Run = Record<string, any> & { runId: string; status: AnalysisRun['status']; createdAt: number };
interface Model {
  runs: Map<string, Run>;
  /** Event types per run, as the attached log holds them. */
  events: Map<string, string[]>;
}
export interface Real {
  runs: RunStore;
  events: EventLog;
}

let now = T0;
/** The `updatedAt` and record last seen per run, to check that every change raises it. */
const lastSeen = new Map<string, { updatedAt: number; record: unknown }>();

const runId = fc.constantFrom('a', 'a', 'a', 'b', 'b', 'c', 'bad/id');
const write: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({ t: fc.constant('create' as const), runId, sessionId: fc.constantFrom('s1', 's2') }),
    weight: 3,
  },
  { arbitrary: fc.record({ t: fc.constant('start' as const), runId }), weight: 2 },
  {
    arbitrary: fc.record(
      { t: fc.constant('heartbeat' as const), runId, details: fc.record({ step: fc.nat(9) }) },
      { requiredKeys: ['t', 'runId'] },
    ),
    weight: 3,
  },
  fc.record(
    { t: fc.constant('complete' as const), runId, result: fc.record({ answer: fc.nat(9) }) },
    { requiredKeys: ['t', 'runId'] },
  ),
  fc.record({ t: fc.constant('fail' as const), runId, message: fc.constantFrom('boom', 'oops') }),
  fc.record(
    { t: fc.constant('cancel' as const), runId, reason: fc.constant('user') },
    { requiredKeys: ['t', 'runId'] },
  ),
  fc.record({ t: fc.constant('delete' as const), runId, force: fc.boolean() }, { requiredKeys: ['t', 'runId'] }),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: write, weight: 6 },
  { arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.constantFrom(100, 600, 1_500) }), weight: 2 },
  fc.record({ t: fc.constant('get' as const), runId }),
  fc.record(
    {
      t: fc.constant('list' as const),
      status: fc.constantFrom<AnalysisRun['status']>('pending', 'running', 'completed', 'failed', 'cancelled'),
      sessionId: fc.constantFrom('s1', 's2'),
      order: fc.constantFrom('newest' as const, 'oldest' as const),
      limit: fc.integer({ min: 1, max: 3 }),
    },
    { requiredKeys: ['t'] },
  ),
  fc.record({ t: fc.constant('cleanup' as const), retentionMs: fc.constantFrom(500, 5_000) }),
);

const TERMINAL = ['completed', 'failed', 'cancelled'];
const EVENT_OF: Record<string, string> = { completed: 'analysis_completed', failed: 'error', cancelled: 'end' };

function live(m: Model, id: string): Run {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id)) throw new ModelError('INVALID_ID');
  const run = m.runs.get(id);
  if (!run) throw new ModelError('NOT_FOUND');
  return run;
}

function end(m: Model, id: string, status: 'completed' | 'failed' | 'cancelled', fields: Partial<Run>): Run {
  const run = live(m, id);
  if (TERMINAL.includes(run.status)) throw new ModelError('ILLEGAL_TRANSITION');
  // The terminal event goes to the log before the status changes.
  m.events.set(id, [...(m.events.get(id) ?? []), EVENT_OF[status]!]);
  const next: Run = { ...run, ...fields, status, completedAt: now };
  m.runs.set(id, next);
  return next;
}

/** A run as compared: without `updatedAt` (checked apart), its error by code only. */
function normal(run: AnalysisRun | Run | undefined): unknown {
  if (run === undefined) return undefined;
  const { updatedAt: _, error, ...rest } = run;
  return error ? { ...rest, error: { code: error.code } } : rest;
}

function lastSignOfLife(run: Run): number {
  return Math.max(run.heartbeatAt ?? 0, run.startedAt ?? 0, run.createdAt);
}

function byCreation(a: Run, b: Run): number {
  return a.createdAt - b.createdAt || (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0);
}

export const spec: ModelSpec<Op, Real, Model> = {
  op,
  // Calls on one run are ordered by its lock, and heartbeats take none: only calls on different
  // runs are issued together (their terminal events share the event log's group commit).
  batch: fc.uniqueArray(write, { minLength: 2, maxLength: 3, selector: (o) => (o as { runId: string }).runId }),
  open: (root) => {
    const events =
      root === undefined
        ? AgentEventLog.inMemory({ clock: () => now })
        : new AgentEventLog({ dir: path.join(root, 'agent_events'), clock: () => now });
    const runs =
      root === undefined
        ? AnalysisRunStore.inMemory({ events, clock: () => now, staleAfterMs: STALE_MS })
        : new AnalysisRunStore({
            dir: path.join(root, 'analysis_runs'),
            events,
            clock: () => now,
            staleAfterMs: STALE_MS,
          });
    return { runs, events };
  },
  close: async (real) => {
    await real.runs.close();
    await real.events.close();
  },
  model: () => {
    now = T0;
    lastSeen.clear();
    return { runs: new Map(), events: new Map() };
  },
  async run(o, { runs }) {
    switch (o.t) {
      case 'tick':
        now += o.ms;
        return now;
      case 'create':
        return normal(await runs.create({ runId: o.runId, sessionId: o.sessionId, question: 'why?' }));
      case 'start':
        return normal(await runs.start(o.runId));
      case 'heartbeat':
        return normal(await runs.heartbeat(o.runId, o.details));
      case 'complete':
        return normal(await runs.complete(o.runId, o.result));
      case 'fail':
        return normal(await runs.fail(o.runId, o.message));
      case 'cancel':
        return normal(await runs.cancel(o.runId, o.reason));
      case 'get':
        return normal(await runs.get(o.runId));
      case 'delete':
        return runs.delete(o.runId, o.force === undefined ? {} : { force: o.force });
      case 'list':
        return (await runs.list({ status: o.status, sessionId: o.sessionId, order: o.order, limit: o.limit })).map(
          normal,
        );
      case 'cleanup': {
        const report = await runs.cleanup({ retentionMs: o.retentionMs });
        return { kept: report.kept.sort(), abandoned: report.abandoned.sort(), deleted: report.deleted.sort() };
      }
    }
  },
  apply(o, m) {
    switch (o.t) {
      case 'tick':
        return now;
      case 'create': {
        if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(o.runId)) throw new ModelError('INVALID_ID');
        if (m.runs.has(o.runId)) throw new ModelError('CONFLICT');
        const run: Run = {
          runId: o.runId,
          sessionId: o.sessionId,
          question: 'why?',
          status: 'pending',
          createdAt: now,
        };
        m.runs.set(o.runId, run);
        return normal(run);
      }
      case 'start': {
        const run = live(m, o.runId);
        if (run.status !== 'pending') throw new ModelError('ILLEGAL_TRANSITION');
        const next: Run = { ...run, status: 'running', startedAt: now };
        m.runs.set(o.runId, next);
        return normal(next);
      }
      case 'heartbeat': {
        const run = live(m, o.runId);
        if (TERMINAL.includes(run.status)) throw new ModelError('ILLEGAL_TRANSITION');
        const next: Run = { ...run, heartbeatAt: now };
        if (o.details !== undefined) next.heartbeatDetails = o.details;
        m.runs.set(o.runId, next);
        return normal(next);
      }
      case 'complete':
        return normal(end(m, o.runId, 'completed', o.result === undefined ? {} : { result: o.result }));
      case 'fail':
        return normal(end(m, o.runId, 'failed', { error: { code: 'failed' } }));
      case 'cancel':
        return normal(end(m, o.runId, 'cancelled', { error: { code: 'cancelled' } }));
      case 'get':
        if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(o.runId)) throw new ModelError('INVALID_ID');
        return normal(m.runs.get(o.runId));
      case 'delete': {
        if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(o.runId)) throw new ModelError('INVALID_ID');
        const run = m.runs.get(o.runId);
        if (!run) return false;
        if (!TERMINAL.includes(run.status) && !o.force && now - lastSignOfLife(run) <= STALE_MS) {
          throw new ModelError('CONFLICT');
        }
        m.runs.delete(o.runId);
        m.events.delete(o.runId);
        return true;
      }
      case 'list': {
        // Newest first by default: by createdAt, then runId, both descending.
        const matches = [...m.runs.values()]
          .filter(
            (r) =>
              (o.status === undefined || r.status === o.status) &&
              (o.sessionId === undefined || r.sessionId === o.sessionId),
          )
          .sort(byCreation);
        if (o.order !== 'oldest') matches.reverse();
        return matches.slice(0, o.limit ?? matches.length).map(normal);
      }
      case 'cleanup': {
        const report = { kept: [] as string[], abandoned: [] as string[], deleted: [] as string[] };
        for (const run of [...m.runs.values()]) {
          if (!TERMINAL.includes(run.status)) {
            if (now - lastSignOfLife(run) > STALE_MS) {
              m.events.set(run.runId, [...(m.events.get(run.runId) ?? []), 'error']);
              m.runs.set(run.runId, { ...run, status: 'failed', completedAt: now, error: { code: 'heartbeat_stale' } });
              report.abandoned.push(run.runId);
            } else report.kept.push(run.runId);
          } else if (now - run.completedAt > o.retentionMs) {
            m.runs.delete(run.runId);
            m.events.delete(run.runId);
            report.deleted.push(run.runId);
          } else report.kept.push(run.runId);
        }
        return { kept: report.kept.sort(), abandoned: report.abandoned.sort(), deleted: report.deleted.sort() };
      }
    }
  },
  async observe({ runs, events }) {
    const all = await runs.list({ order: 'oldest' });
    // A deleted run is gone: a new run under its id starts a history of its own.
    for (const id of [...lastSeen.keys()]) if (!all.some((run) => run.runId === id)) lastSeen.delete(id);
    for (const run of all) {
      const record = normal(run);
      const before = lastSeen.get(run.runId);
      if (before && !isDeepStrictEqual(before.record, record)) {
        expect(run.updatedAt, `updatedAt of ${run.runId} rises with each change`).toBeGreaterThan(before.updatedAt);
      } else if (before)
        expect(run.updatedAt, `updatedAt of ${run.runId} never goes back`).toBeGreaterThanOrEqual(before.updatedAt);
      lastSeen.set(run.runId, { updatedAt: run.updatedAt, record });
    }
    const log: Record<string, string[]> = {};
    for (const id of await events.runIds()) {
      const types: string[] = [];
      for await (const event of events.read(id)) types.push(event.type);
      log[id] = types;
    }
    return { runs: all.map(normal), log };
  },
  view: (m) => ({
    runs: [...m.runs.values()].sort(byCreation).map(normal),
    log: Object.fromEntries([...m.events].sort(([a], [b]) => (a < b ? -1 : 1))),
  }),
};

/** The clock the model's stores are opened with (the model moves it). */
export const modelClock = (): number => now;
