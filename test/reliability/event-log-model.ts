// A model of the store's contract (DESIGN.md) and the operations drawn against it, shared by
// the model tests of every backend (event-log-model.test.ts and test/postgres/models.test.ts).
import * as path from 'node:path';
import fc from 'fast-check';
import type { EventLog } from '../../src/events/event-log.js';
import { type AgentEvent, AgentEventLog } from '../../src/events/index.js';
import { ModelError, type ModelSpec } from './model-run.js';

// A plain model of AgentEventLog's contract (DESIGN.md): per run, a list of events with cursors
// 1, 2, 3…; a terminal event seals the run.

const T0 = 1_700_000_000_000;
const TERMINAL = ['analysis_completed', 'error', 'end'];
export const MAX_EVENT_BYTES = 300;

type Op =
  | { t: 'append'; runId: string; type: string; payload: unknown }
  | { t: 'read'; runId: string; after: number; limit?: number }
  | { t: 'lastCursor'; runId: string }
  | { t: 'isSealed'; runId: string }
  | { t: 'delete'; runId: string }
  | { t: 'runIds' };

type Model = Map<string, Omit<AgentEvent, 'runId'>[]>;

let now = T0;
const runId = fc.constantFrom('r1', 'r1', 'r2', 'r2', 'r3', 'r3', 'r1', '../x');
const payload = fc.oneof(
  fc.constant(null),
  fc.record({ step: fc.nat(99) }),
  fc.string({ maxLength: 8 }),
  fc.record({ step: fc.nat(99) }),
  fc.constant('x'.repeat(400)), // over maxEventBytes
);
const append: fc.Arbitrary<Op> = fc.record({
  t: fc.constant('append' as const),
  runId,
  type: fc.constantFrom(
    ...['progress', 'progress', 'progress', 'progress', 'tool_call', 'tool_call'],
    ...['analysis_completed', 'error', 'end', ''],
  ),
  payload,
});
const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: append, weight: 8 },
  fc.record(
    { t: fc.constant('read' as const), runId, after: fc.nat(6), limit: fc.integer({ min: 1, max: 3 }) },
    { requiredKeys: ['t', 'runId', 'after'] },
  ),
  fc.record({ t: fc.constant('lastCursor' as const), runId }),
  fc.record({ t: fc.constant('isSealed' as const), runId }),
  fc.record({ t: fc.constant('delete' as const), runId }),
  fc.constant({ t: 'runIds' as const }),
);

function checkRunId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id)) throw new ModelError('INVALID_ID');
}

const sealed = (events: Omit<AgentEvent, 'runId'>[] | undefined) =>
  events !== undefined && events.length > 0 && TERMINAL.includes(events[events.length - 1]!.type);

async function collect(events: AsyncIterable<AgentEvent>): Promise<AgentEvent[]> {
  const out: AgentEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

export const spec: ModelSpec<Op, EventLog, Model> = {
  op,
  batchOp: append,
  open: (root) =>
    root === undefined
      ? AgentEventLog.inMemory({ clock: () => now, maxEventBytes: MAX_EVENT_BYTES })
      : new AgentEventLog({ dir: path.join(root, 'agent_events'), clock: () => now, maxEventBytes: MAX_EVENT_BYTES }),
  close: (log) => log.close(),
  model: () => {
    now = T0;
    return new Map();
  },
  async run(o, log) {
    switch (o.t) {
      case 'append':
        return log.append(o.runId, { type: o.type, payload: o.payload });
      case 'read':
        return collect(
          log.read(o.runId, o.limit === undefined ? { after: o.after } : { after: o.after, limit: o.limit }),
        );
      case 'lastCursor':
        return log.lastCursor(o.runId);
      case 'isSealed':
        return log.isSealed(o.runId);
      case 'delete':
        return log.delete(o.runId);
      case 'runIds':
        return log.runIds();
    }
  },
  apply(o, m) {
    switch (o.t) {
      case 'append': {
        checkRunId(o.runId);
        if (o.type === '') throw new ModelError('VALIDATION');
        const line = `{"cursor":,"type":${JSON.stringify(o.type)},"at":${now},"payload":${JSON.stringify(o.payload)}}\n`;
        if (Buffer.byteLength(line) > MAX_EVENT_BYTES) throw new ModelError('TOO_LARGE');
        const events = m.get(o.runId) ?? [];
        if (sealed(events)) throw new ModelError('SEALED');
        const event = { cursor: events.length + 1, type: o.type, at: now, payload: o.payload };
        m.set(o.runId, [...events, event]);
        return { runId: o.runId, ...event };
      }
      case 'read': {
        checkRunId(o.runId);
        const events = (m.get(o.runId) ?? []).filter((e) => e.cursor > o.after);
        return events.slice(0, o.limit ?? events.length).map((e) => ({ runId: o.runId, ...e }));
      }
      case 'lastCursor':
        checkRunId(o.runId);
        return m.get(o.runId)?.length ?? 0;
      case 'isSealed':
        checkRunId(o.runId);
        return sealed(m.get(o.runId));
      case 'delete':
        checkRunId(o.runId);
        return m.delete(o.runId);
      case 'runIds':
        return [...m.keys()].sort();
    }
  },
  async observe(log) {
    const out: Record<string, unknown> = {};
    for (const id of await log.runIds()) {
      out[id] = { events: await collect(log.read(id)), last: await log.lastCursor(id), sealed: await log.isSealed(id) };
    }
    return out;
  },
  view: (m) =>
    Object.fromEntries(
      [...m.keys()].sort().map((id) => {
        const events = m.get(id)!;
        return [id, { events: events.map((e) => ({ runId: id, ...e })), last: events.length, sealed: sealed(events) }];
      }),
    ),
};

/** The clock the model's stores are opened with (the model moves it). */
export const modelClock = (): number => now;
