import * as path from 'node:path';
import fc from 'fast-check';
import { type MemoryStore, ProjectMemoryStore } from '../../src/memory/index.js';
import { ModelError, type ModelSpec } from './model-run.js';

// A plain model of ProjectMemoryStore's contract (DESIGN.md), written without the store's code, and
// the spec that runs it against a memory store: the file and in-memory ones (memory-model.test.ts)
// and PostgreSQL's (test/postgres/models.test.ts).
// Where DESIGN.md is silent the store's TSDoc decides, and the choice is marked "(TSDoc)".

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = 1_700_000_000_000;

type Scope = 'project' | 'world' | 'session';
type Trigger = 'user_feedback' | 'reviewer_approval' | 'skill_eval_pass' | 'gut_feeling';
interface Policy {
  fromScope: Scope;
  toScope: Scope;
  trigger: Trigger;
  reviewer?: string;
  evalCaseId?: string;
  promotedAt?: number;
}
interface EntryInput {
  entryId: string;
  scope: Scope;
  projectKey?: string;
  tags?: string[];
  insight: string;
  confidence: number;
  status?: 'provisional' | 'confirmed';
  promotionLevel?: number;
  promotionPolicy?: Policy;
  unsupportedReason?: string;
}
/** What update() is given: its six fields (null removes), and sometimes a key it must refuse. */
interface Patch {
  tags?: string[];
  insight?: string;
  confidence?: number;
  lastSeenAt?: number | null;
  unsupportedReason?: string | null;
  scope?: Scope;
  status?: string;
}
// biome-ignore lint/suspicious/noExplicitAny: the model's records are plain JSON compared with toEqual.
export type Entry = Record<string, any> & { entryId: string; scope: 'project' | 'world'; status: string };

export type Op =
  | { t: 'tick'; ms: number }
  | { t: 'save'; entry: EntryInput }
  | { t: 'get'; id: string }
  | { t: 'remove'; id: string }
  | { t: 'list'; scope?: 'project' | 'world'; projectKey?: string; anyOfTags?: string[] }
  | { t: 'recall'; scope?: 'project' | 'world'; projectKey?: string; tags?: string[]; topK?: number }
  | { t: 'promote'; id: string; policy: Policy }
  | { t: 'update'; id: string; patch: Patch }
  | { t: 'feedback'; id: string; rating: 'positive' | 'negative' }
  | { t: 'sweep' };

export interface Model {
  entries: Map<string, Entry>;
  audit: { entryId: string; policy: Policy; auditedAt: number }[];
}

let now = T0;
/** The clock of the stores under test: the model's time, moved by `tick` operations. */
export const modelClock = () => now;
/** Sets the model's time (a sequence starts at `T0`, see `spec.model`). */
export function setModelClock(value: number): void {
  now = value;
}

const scope = fc.constantFrom<Scope>('project', 'project', 'project', 'world', 'session');
const tags = fc.subarray(['x', 'y', 'z']);
// Mostly policies the rules accept, so that promotions get through; sometimes anything at all.
const validPolicy: fc.Arbitrary<Policy> = fc.oneof(
  fc.record({
    fromScope: fc.constant<Scope>('project'),
    toScope: fc.constant<Scope>('world'),
    trigger: fc.constant<Trigger>('reviewer_approval'),
    reviewer: fc.constantFrom(' ann ', 'bob'),
  }),
  fc.record({
    fromScope: fc.constantFrom<Scope>('project', 'world'),
    toScope: fc.constantFrom<Scope>('project', 'world'),
    trigger: fc.constant<Trigger>('reviewer_approval'),
    reviewer: fc.constant('bob'),
  }),
  fc.record({
    fromScope: fc.constant<Scope>('project'),
    toScope: fc.constant<Scope>('project'),
    trigger: fc.constantFrom<Trigger>('user_feedback', 'skill_eval_pass'),
    evalCaseId: fc.constant('case-1'),
  }),
);
const anyPolicy: fc.Arbitrary<Policy> = fc.record(
  {
    fromScope: fc.constantFrom<Scope>('project', 'world', 'session'),
    toScope: fc.constantFrom<Scope>('project', 'world', 'session'),
    trigger: fc.constantFrom<Trigger>('user_feedback', 'reviewer_approval', 'skill_eval_pass', 'gut_feeling'),
    reviewer: fc.constantFrom(' ann ', 'bob', '  '),
    evalCaseId: fc.constant('case-1'),
  },
  { requiredKeys: ['fromScope', 'toScope', 'trigger'] },
);
const policy = fc.oneof({ arbitrary: validPolicy, weight: 3 }, { arbitrary: anyPolicy, weight: 1 });
const patch: fc.Arbitrary<Patch> = fc.oneof(
  {
    arbitrary: fc.record(
      {
        tags: tags,
        insight: fc.constantFrom('a new insight', 'a new insight', 'a new insight', ''),
        confidence: fc.constantFrom(0.1, 0.7, 0.1, 0.7, 2),
        lastSeenAt: fc.constantFrom(T0 + 1, null),
        unsupportedReason: fc.constantFrom('no trace', null),
      },
      { requiredKeys: [] },
    ),
    weight: 4,
  },
  // Keys update() does not take: refused whatever else the patch holds.
  fc.record(
    {
      confidence: fc.constant(0.3),
      scope: fc.constantFrom<Scope>('project', 'world'),
      status: fc.constant('confirmed'),
    },
    { requiredKeys: ['confidence'] },
  ),
);
/** The operations on entries with these ids: queued writes (issued alone or together) and everything. */
export function operations(id: fc.Arbitrary<string>): { queued: fc.Arbitrary<Op>; op: fc.Arbitrary<Op> } {
  const entryInput: fc.Arbitrary<EntryInput> = fc
    .record(
      {
        entryId: id,
        scope,
        projectKey: fc.constantFrom('p1', 'p2'),
        tags,
        insight: fc.constant('an insight'),
        confidence: fc.constantFrom(0.2, 0.5, 0.9),
        status: fc.constantFrom<'provisional' | 'confirmed'>('provisional', 'confirmed'),
        promotionLevel: fc.constantFrom(0, 1),
        promotionPolicy: policy.map((p) => ({ ...p, promotedAt: T0 })),
        unsupportedReason: fc.constant('no evidence'),
      },
      { requiredKeys: ['entryId', 'scope', 'insight', 'confidence'] },
    )
    // Most saves are valid: a project entry with its key, a world entry with its policy.
    .chain((e) =>
      fc.constantFrom(
        e,
        e.scope === 'project' ? { ...e, projectKey: e.projectKey ?? 'p1' } : e,
        e.scope === 'world' && e.promotionPolicy === undefined
          ? {
              ...e,
              promotionPolicy: {
                fromScope: 'project' as Scope,
                toScope: 'world' as Scope,
                trigger: 'reviewer_approval' as Trigger,
                reviewer: 'bob',
                promotedAt: T0,
              },
            }
          : e,
        { ...e, scope: 'project' as Scope, projectKey: e.projectKey ?? 'p2' },
      ),
    );
  // Writes that always go through the document's queue, so calls issued together apply in order.
  const queued: fc.Arbitrary<Op> = fc.oneof(
    { arbitrary: fc.record({ t: fc.constant('save' as const), entry: entryInput }), weight: 4 },
    { arbitrary: fc.record({ t: fc.constant('update' as const), id, patch }), weight: 2 },
    { arbitrary: fc.record({ t: fc.constant('promote' as const), id, policy }), weight: 2 },
    {
      arbitrary: fc.record({
        t: fc.constant('feedback' as const),
        id,
        rating: fc.constantFrom('positive', 'negative'),
      }),
      weight: 3,
    },
  );
  // remove() and sweepAutoConfirm() first look at the committed state and skip the write when there
  // is nothing to do, so a call issued right after an unawaited save() may not see it: they are
  // left out of batches (see issue-order.test.ts).
  const write: fc.Arbitrary<Op> = fc.oneof(
    { arbitrary: queued, weight: 9 },
    fc.record({ t: fc.constant('remove' as const), id }),
    fc.constant({ t: 'sweep' as const }),
  );
  const op: fc.Arbitrary<Op> = fc.oneof(
    { arbitrary: write, weight: 5 },
    fc.record({ t: fc.constant('tick' as const), ms: fc.constantFrom(1_000, 5_000, 10_000, HOUR, DAY, 25 * HOUR) }),
    fc.record({ t: fc.constant('get' as const), id }),
    fc.record(
      {
        t: fc.constant('list' as const),
        scope: fc.constantFrom('project', 'world'),
        projectKey: fc.constantFrom('p1', 'p2'),
        anyOfTags: tags,
      },
      { requiredKeys: ['t'] },
    ),
    fc.record(
      {
        t: fc.constant('recall' as const),
        scope: fc.constantFrom('project', 'world'),
        projectKey: fc.constantFrom('p1', 'p2'),
        tags,
        topK: fc.constantFrom(1, 2, 5),
      },
      { requiredKeys: ['t'] },
    ),
  );
  return { queued, op };
}

const invalid = () => new ModelError('VALIDATION');
const TRIGGERS = ['user_feedback', 'reviewer_approval', 'skill_eval_pass'];
const RANK: Record<string, number> = { session: 0, project: 1, world: 2 };

/** A policy as stored: reviewer trimmed, blank refused, trigger in the enum. */
function storedPolicy(p: Policy, promotedAt: number): Policy {
  if (!TRIGGERS.includes(p.trigger)) throw invalid();
  const out: Policy = { fromScope: p.fromScope, toScope: p.toScope, trigger: p.trigger, promotedAt };
  if (p.reviewer !== undefined) {
    if (p.reviewer.trim() === '') throw invalid();
    out.reviewer = p.reviewer.trim();
  }
  if (p.evalCaseId !== undefined) out.evalCaseId = p.evalCaseId;
  return out;
}

function samePolicy(a: Policy, b: Policy | undefined): boolean {
  const keys = ['fromScope', 'toScope', 'trigger', 'reviewer', 'evalCaseId', 'promotedAt'] as const;
  return b !== undefined && keys.every((key) => a[key] === b[key]);
}

function save(m: Model, e: EntryInput): Entry {
  if (e.scope === 'session') throw invalid();
  if (e.scope === 'world' && !e.promotionPolicy) throw invalid();
  // A project entry may leave out its projectKey (DESIGN.md: projectKey?).
  const policy = e.promotionPolicy && storedPolicy(e.promotionPolicy, e.promotionPolicy.promotedAt ?? now);
  const previous = m.entries.get(e.entryId);
  // An existing entry's scope and promotion belong to promote() (DESIGN.md).
  if (previous) {
    if (e.scope !== previous.scope) throw new ModelError('ILLEGAL_TRANSITION');
    if (e.promotionLevel !== undefined && e.promotionLevel !== (previous.promotionLevel ?? 0)) {
      throw new ModelError('ILLEGAL_TRANSITION');
    }
    if (policy && !samePolicy(policy, previous.promotionPolicy)) throw new ModelError('ILLEGAL_TRANSITION');
  }
  const entry: Entry = {
    entryId: e.entryId,
    scope: e.scope,
    tags: e.tags ?? [],
    insight: e.insight,
    confidence: e.confidence,
    // Left out on an existing entry: the stored status and times stay (TSDoc).
    status: e.status ?? previous?.status ?? 'provisional',
    createdAt: previous?.createdAt ?? now,
  };
  if (e.projectKey !== undefined) entry.projectKey = e.projectKey;
  if (previous) {
    for (const key of ['promotionLevel', 'promotionPolicy', 'firstFeedbackAt', 'lastFeedbackAt']) {
      if (previous[key] !== undefined) entry[key] = previous[key];
    }
  } else {
    if (e.promotionLevel !== undefined) entry.promotionLevel = e.promotionLevel;
    if (policy) entry.promotionPolicy = policy;
  }
  if (e.unsupportedReason !== undefined) entry.unsupportedReason = e.unsupportedReason;
  m.entries.set(entry.entryId, entry);
  return entry;
}

/** DESIGN.md: changes only the fields given; other keys are refused before anything else. */
function update(m: Model, entryId: string, p: Patch): Entry {
  if (p.scope !== undefined || p.status !== undefined) throw invalid();
  if (p.insight === '' || (p.confidence !== undefined && p.confidence > 1)) throw invalid();
  const entry = m.entries.get(entryId);
  if (!entry) throw new ModelError('NOT_FOUND');
  const next: Entry = { ...entry };
  for (const [key, value] of Object.entries(p)) {
    if (value === null) delete next[key];
    else if (value !== undefined) next[key] = value;
  }
  m.entries.set(entryId, next);
  return next;
}

function promote(m: Model, entryId: string, p: Policy): Entry {
  const stored = storedPolicy(p, p.promotedAt ?? now);
  if (p.toScope === 'session') throw invalid();
  if (p.toScope === 'world' && p.trigger !== 'reviewer_approval') throw invalid();
  if (p.trigger === 'reviewer_approval' && p.reviewer === undefined) throw invalid();
  if (p.trigger === 'skill_eval_pass' && p.evalCaseId === undefined) throw invalid();
  const entry = m.entries.get(entryId);
  if (!entry) throw new ModelError('NOT_FOUND');
  if (p.fromScope !== entry.scope) throw new ModelError('ILLEGAL_TRANSITION');
  if ((RANK[p.toScope] ?? 0) < (RANK[p.fromScope] ?? 0)) throw new ModelError('ILLEGAL_TRANSITION'); // (TSDoc)
  const next: Entry = {
    ...entry,
    scope: p.toScope as 'project' | 'world',
    promotionLevel: (entry.promotionLevel ?? 0) + 1,
    promotionPolicy: stored,
  };
  m.entries.set(entryId, next);
  m.audit.push({ entryId, policy: stored, auditedAt: now });
  return next;
}

/** DESIGN.md's status machine, in the order it is written there. */
function feedback(m: Model, entryId: string, rating: 'positive' | 'negative'): string {
  const entry = m.entries.get(entryId);
  if (!entry) throw new ModelError('NOT_FOUND');
  const first: number | undefined = entry.firstFeedbackAt;
  let status = entry.status;
  const reverse = (status === 'confirmed' && rating === 'negative') || (status === 'rejected' && rating === 'positive');
  if (status === 'provisional') status = rating === 'positive' ? 'confirmed' : 'rejected';
  else if (reverse && first !== undefined && now - first < 10_000)
    status = rating === 'positive' ? 'confirmed' : 'rejected';
  else if (reverse && status === 'confirmed')
    status = now - (first ?? entry.createdAt) <= DAY ? 'disputed' : 'disputed_late';
  m.entries.set(entryId, { ...entry, status, firstFeedbackAt: first ?? now, lastFeedbackAt: now });
  return status;
}

function byId(a: Entry, b: Entry): number {
  return a.entryId < b.entryId ? -1 : a.entryId > b.entryId ? 1 : 0;
}

function list(m: Model, q: Extract<Op, { t: 'list' }>): Entry[] {
  return [...m.entries.values()]
    .filter((e) => q.scope === undefined || e.scope === q.scope)
    .filter((e) => q.projectKey === undefined || e.projectKey === q.projectKey)
    .filter((e) => !q.anyOfTags?.length || e.tags.some((tag: string) => q.anyOfTags?.includes(tag)))
    .sort(byId);
}

function recall(m: Model, q: Extract<Op, { t: 'recall' }>): { entry: Entry; score: number }[] {
  const wanted = q.tags?.length ? new Set(q.tags) : undefined;
  const hits: { entry: Entry; score: number }[] = [];
  for (const e of m.entries.values()) {
    if (q.scope !== undefined && e.scope !== q.scope) continue;
    // World entries apply to every project (TSDoc).
    if (e.scope === 'project' && q.projectKey !== undefined && e.projectKey !== q.projectKey) continue;
    if (e.unsupportedReason !== undefined) continue;
    if (e.status === 'rejected') continue; // (TSDoc)
    if (!wanted) {
      hits.push({ entry: e, score: e.confidence });
      continue;
    }
    const shared = [...wanted].filter((tag) => e.tags.includes(tag)).length;
    if (shared > 0) hits.push({ entry: e, score: shared / wanted.size });
  }
  hits.sort((a, b) => b.score - a.score || b.entry.confidence - a.entry.confidence || byId(a.entry, b.entry));
  return hits.slice(0, q.topK ?? 5);
}

const fresh = operations(fc.constantFrom('m1', 'm2', 'm3'));

/** The spec over the file store (or its in-memory twin); replace `open` for another backend. */
export const spec: ModelSpec<Op, MemoryStore, Model> = {
  op: fresh.op,
  batchOp: fresh.queued,
  open: (root) =>
    root === undefined
      ? ProjectMemoryStore.inMemory({ clock: modelClock })
      : new ProjectMemoryStore({ path: path.join(root, 'analysis_project_memory.json'), clock: modelClock }),
  model: () => {
    now = T0;
    return { entries: new Map(), audit: [] };
  },
  async run(o, s) {
    switch (o.t) {
      case 'tick':
        now += o.ms;
        return now;
      case 'save':
        return s.save(o.entry as Parameters<MemoryStore['save']>[0]);
      case 'get':
        return s.get(o.id);
      case 'remove':
        return s.remove(o.id);
      case 'list':
        return s.list(o);
      case 'recall':
        return s.recall(o);
      case 'promote':
        return s.promote(o.id, o.policy as Parameters<MemoryStore['promote']>[1]);
      case 'update':
        return s.update(o.id, o.patch as Parameters<MemoryStore['update']>[1]);
      case 'feedback':
        return s.applyFeedback(o.id, o.rating);
      case 'sweep':
        return s.sweepAutoConfirm();
    }
  },
  apply(o, m) {
    switch (o.t) {
      case 'tick':
        return now;
      case 'save':
        return save(m, o.entry);
      case 'get':
        return m.entries.get(o.id);
      case 'remove':
        return m.entries.delete(o.id);
      case 'list':
        return list(m, o);
      case 'recall':
        return recall(m, o);
      case 'promote':
        return promote(m, o.id, o.policy);
      case 'update':
        return update(m, o.id, o.patch);
      case 'feedback':
        return feedback(m, o.id, o.rating);
      case 'sweep': {
        let count = 0;
        for (const e of m.entries.values()) {
          if (e.status === 'provisional' && now - e.createdAt > DAY) {
            m.entries.set(e.entryId, { ...e, status: 'confirmed' });
            count++;
          }
        }
        return count;
      }
    }
  },
  async observe(s) {
    return { entries: await s.list(), audit: await s.promotionAudit(), stats: await s.stats() };
  },
  view: (m) => {
    const entries = [...m.entries.values()].sort(byId);
    return {
      entries,
      audit: m.audit,
      stats: {
        project: entries.filter((e) => e.scope === 'project').length,
        world: entries.filter((e) => e.scope === 'world').length,
      },
    };
  },
};
