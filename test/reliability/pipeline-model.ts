import * as path from 'node:path';
import fc from 'fast-check';
import { FeedbackPipeline, type PipelineStore } from '../../src/feedback/index.js';
import { ModelError, type ModelSpec } from './model-run.js';

// A plain model of FeedbackPipeline's contract (DESIGN.md), written without the store's code, and the
// spec that runs it against a pipeline: the file and in-memory ones (pipeline-model.test.ts) and
// PostgreSQL's (test/postgres/models.test.ts).

export const T0 = 1_700_000_000_000;
type Stage = 'feedback' | 'case_draft' | 'skill_draft' | 'reviewed' | 'merged' | 'rejected' | 'published';
const STAGES: Stage[] = ['feedback', 'case_draft', 'skill_draft', 'reviewed', 'merged', 'rejected'];
const NEXT: Record<string, Stage[]> = {
  feedback: ['case_draft', 'rejected'],
  case_draft: ['skill_draft', 'rejected'],
  skill_draft: ['reviewed', 'rejected'],
  reviewed: ['merged', 'rejected'],
  merged: [],
  rejected: [],
};
const SIGNED: Stage[] = ['reviewed', 'merged', 'rejected'];

interface Change {
  stage: Stage;
  reviewer?: string;
  case?: { caseId: string; status?: 'draft' | 'reviewed' };
  skillDraftId?: string;
}
export type Op =
  | { t: 'tick'; ms: number }
  | { t: 'create'; entryId: string; feedbackId: string }
  | { t: 'advance'; id: string; change: Change }
  | { t: 'get'; id: string }
  | { t: 'remove'; id: string }
  | { t: 'list'; stage?: Stage };

// biome-ignore lint/suspicious/noExplicitAny: the model's records are plain JSON compared with toEqual.
export type Entry = Record<string, any> & { entryId: string; stage: Stage; updatedAt: number };
export interface Model {
  entries: Map<string, Entry>;
  highWater: number;
}

let now = T0;
/** The clock of the pipelines under test: the model's time, moved by `tick` operations. */
export const modelClock = () => now;
const stage = fc.constantFrom<Stage>(...STAGES, 'case_draft', 'skill_draft', 'published');
const anyChange: fc.Arbitrary<Change> = fc.record(
  {
    stage,
    reviewer: fc.constantFrom(' rita ', 'sam', '   '),
    case: fc.record(
      { caseId: fc.constantFrom('c1', 'c2'), status: fc.constantFrom('draft', 'reviewed') },
      { requiredKeys: ['caseId'] },
    ),
    skillDraftId: fc.constantFrom('s1', 's2'),
  },
  { requiredKeys: ['stage'] },
);
// Mostly a signed move to a real stage, so that entries travel the whole pipeline.
const change: fc.Arbitrary<Change> = fc.oneof(
  anyChange,
  anyChange.map((c) => ({ ...c, stage: STAGES.includes(c.stage) ? c.stage : 'case_draft', reviewer: 'sam' })),
  fc
    .record({ stage: fc.constantFrom<Stage>('case_draft', 'skill_draft', 'reviewed', 'merged') })
    .map((c) => ({ ...c, reviewer: ' rita ' })),
);
/** The operations on entries with these ids: writes (issued alone or together) and everything. */
export function operations(id: fc.Arbitrary<string>): { write: fc.Arbitrary<Op>; op: fc.Arbitrary<Op> } {
  const write: fc.Arbitrary<Op> = fc.oneof(
    {
      arbitrary: fc.record({
        t: fc.constant('create' as const),
        entryId: id,
        feedbackId: fc.constantFrom('f1', 'f2', 'f1', 'f2', ' '),
      }),
      weight: 2,
    },
    { arbitrary: fc.record({ t: fc.constant('advance' as const), id, change }), weight: 5 },
  );
  const op: fc.Arbitrary<Op> = fc.oneof(
    { arbitrary: write, weight: 6 },
    fc.record({ t: fc.constant('remove' as const), id }),
    // The clock may stand still or step back: updatedAt must still increase.
    fc.record({ t: fc.constant('tick' as const), ms: fc.constantFrom(0, 1, 1_000, -5_000) }),
    fc.record({ t: fc.constant('get' as const), id }),
    fc.record({ t: fc.constant('list' as const), stage: fc.constantFrom<Stage>(...STAGES) }, { requiredKeys: ['t'] }),
  );
  return { write, op };
}

/** Strictly above every stamp ever issued, whatever the clock says. */
function stamp(m: Model): number {
  m.highWater = Math.max(now, m.highWater + 1);
  return m.highWater;
}

function advance(m: Model, entryId: string, c: Change): Entry {
  if (!STAGES.includes(c.stage)) throw new ModelError('VALIDATION');
  const reviewer = c.reviewer?.trim();
  if (reviewer === '') throw new ModelError('VALIDATION');
  if (SIGNED.includes(c.stage) && reviewer === undefined) throw new ModelError('VALIDATION');
  const entry = m.entries.get(entryId);
  if (!entry) throw new ModelError('NOT_FOUND');
  if (!NEXT[entry.stage]?.includes(c.stage)) throw new ModelError('ILLEGAL_TRANSITION');
  const at = stamp(m);
  const row: Record<string, unknown> = { stage: c.stage, at };
  const next: Entry = { ...entry, stage: c.stage, updatedAt: at, history: [...entry.history, row] };
  if (reviewer !== undefined) row.reviewer = next.reviewer = reviewer;
  if (c.case) next.case = c.case;
  if (c.skillDraftId) next.skillDraftId = c.skillDraftId;
  m.entries.set(entryId, next);
  return next;
}

function listed(m: Model, only?: Stage): Entry[] {
  return [...m.entries.values()]
    .filter((e) => only === undefined || e.stage === only)
    .sort((a, b) => b.updatedAt - a.updatedAt);
}

const fresh = operations(fc.constantFrom('e1', 'e1', 'e2'));

/** The spec over the file pipeline (or its in-memory twin); replace `open` for another backend. */
export const spec: ModelSpec<Op, PipelineStore, Model> = {
  op: fresh.op,
  batchOp: fresh.write,
  open: (root) =>
    root === undefined
      ? FeedbackPipeline.inMemory({ clock: modelClock })
      : new FeedbackPipeline({ path: path.join(root, 'feedback_pipeline.json'), clock: modelClock }),
  model: () => {
    now = T0;
    return { entries: new Map(), highWater: 0 };
  },
  async run(o, p) {
    switch (o.t) {
      case 'tick':
        now += o.ms;
        return now;
      case 'create':
        return p.create({ entryId: o.entryId, feedbackId: o.feedbackId });
      case 'advance':
        return p.advance(o.id, o.change as Parameters<PipelineStore['advance']>[1]);
      case 'get':
        return p.get(o.id);
      case 'remove':
        return p.remove(o.id);
      case 'list':
        return p.list(o.stage === undefined ? {} : { stage: o.stage as never });
    }
  },
  apply(o, m) {
    switch (o.t) {
      case 'tick':
        return now;
      case 'create': {
        if (o.feedbackId.trim() === '') throw new ModelError('VALIDATION');
        if (m.entries.has(o.entryId)) throw new ModelError('CONFLICT');
        const at = stamp(m);
        const entry: Entry = {
          entryId: o.entryId,
          feedbackId: o.feedbackId,
          stage: 'feedback',
          updatedAt: at,
          history: [{ stage: 'feedback', at }],
        };
        m.entries.set(o.entryId, entry);
        return entry;
      }
      case 'advance':
        return advance(m, o.id, o.change);
      case 'get':
        return m.entries.get(o.id);
      case 'remove':
        return m.entries.delete(o.id);
      case 'list':
        return listed(m, o.stage);
    }
  },
  async observe(p) {
    return { entries: await p.list(), stats: await p.stats() };
  },
  view: (m) => ({
    entries: listed(m),
    stats: Object.fromEntries(STAGES.map((s) => [s, [...m.entries.values()].filter((e) => e.stage === s).length])),
  }),
};
