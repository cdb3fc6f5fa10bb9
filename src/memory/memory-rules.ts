// The write rules of the memory store as pure functions: what a save, an update, a promotion, a
// rating or the auto-confirm sweep turns a stored entry into. Every backend (the JSON file, the
// in-memory twin, PostgreSQL) calls these, so the rules are written once.
import { IllegalTransitionError, NotFoundError } from '../storage/errors.js';
import { parseInput } from '../storage/validate.js';
import { DISPUTE_WINDOW_MS, nextFeedbackStatus } from './feedback-status.js';
import {
  type FeedbackRating,
  type MemoryAuditRow,
  MemoryEntryIdSchema,
  type MemoryEvidence,
  type MemoryPromotionPolicy,
  type MemoryStatus,
  type ProjectMemoryEntry,
  type ProjectMemoryInputSchema,
  type ProjectMemoryPatch,
  type ProjectMemoryPatchSchema,
  type StoredMemoryScope,
} from './schemas.js';

/** What `save()` takes once validated. */
export type SaveInput = ReturnType<typeof ProjectMemoryInputSchema.parse>;
/** What `update()` takes once validated. */
export type PatchInput = ReturnType<typeof ProjectMemoryPatchSchema.parse>;

const SCOPE_RANK: Record<string, number> = { session: 0, project: 1, world: 2 };

function copyEvidence(evidence: MemoryEvidence): MemoryEvidence {
  return evidence.range ? { ...evidence, range: { ...evidence.range } } : { ...evidence };
}

/** A deep copy by hand: several times faster than `structuredClone`, and `get()` is a hot path. */
export function copyEntry(entry: ProjectMemoryEntry): ProjectMemoryEntry {
  const copy = { ...entry, tags: entry.tags.slice() };
  if (entry.evidence) copy.evidence = entry.evidence.map(copyEvidence);
  if (entry.promotionPolicy) copy.promotionPolicy = { ...entry.promotionPolicy };
  return copy;
}

/** A copy of an audit row. */
export function copyAuditRow(row: MemoryAuditRow): MemoryAuditRow {
  return { ...row, policy: { ...row.policy } };
}

/** A new entry from a validated input: `provisional` unless given. */
export function newEntry(input: SaveInput, createdAt: number): ProjectMemoryEntry {
  return { ...input, status: input.status ?? 'provisional', createdAt };
}

/**
 * The entry a `save()` over `previous` stores: promotion fields as stored (refused if the input
 * tries to change them), feedback fields kept when left out, every other field from the input.
 * @throws IllegalTransitionError when the input changes the scope, promotionLevel or promotionPolicy.
 */
export function replaceEntry(previous: ProjectMemoryEntry, input: SaveInput): ProjectMemoryEntry {
  const id = previous.entryId;
  const refuse = (what: string) =>
    new IllegalTransitionError(
      id,
      previous.scope,
      input.scope,
      `save() cannot change ${what} of an existing entry: only promote() does, with its audit row; save it with the stored ${what} (or leave it out) and call promote()`,
    );
  if (input.scope !== previous.scope) throw refuse('the scope');
  if (input.promotionLevel !== undefined && input.promotionLevel !== (previous.promotionLevel ?? 0)) {
    throw refuse('the promotionLevel');
  }
  if (input.promotionPolicy !== undefined && !samePolicy(input.promotionPolicy, previous.promotionPolicy)) {
    throw refuse('the promotionPolicy');
  }
  const next: ProjectMemoryEntry = {
    ...input,
    status: input.status ?? previous.status,
    createdAt: input.createdAt ?? previous.createdAt,
  };
  delete next.promotionLevel;
  delete next.promotionPolicy;
  if (previous.promotionLevel !== undefined) next.promotionLevel = previous.promotionLevel;
  if (previous.promotionPolicy !== undefined) next.promotionPolicy = previous.promotionPolicy;
  if (next.firstFeedbackAt === undefined && previous.firstFeedbackAt !== undefined) {
    next.firstFeedbackAt = previous.firstFeedbackAt;
  }
  if (next.lastFeedbackAt === undefined && previous.lastFeedbackAt !== undefined) {
    next.lastFeedbackAt = previous.lastFeedbackAt;
  }
  return next;
}

const POLICY_KEYS = ['fromScope', 'toScope', 'trigger', 'reviewer', 'promotedAt', 'evalCaseId'] as const;

function samePolicy(a: MemoryPromotionPolicy, b: MemoryPromotionPolicy | undefined): boolean {
  return b !== undefined && POLICY_KEYS.every((key) => a[key] === b[key]);
}

/**
 * `entry` with the fields of `changes` applied (`null` removes, `undefined` is left out), and
 * whether anything changed: an update that changes nothing is not written.
 */
export function patchEntry(
  entry: ProjectMemoryEntry,
  changes: PatchInput,
): { entry: ProjectMemoryEntry; changed: boolean } {
  const next: ProjectMemoryEntry = { ...entry };
  let changed = false;
  for (const [key, value] of Object.entries(changes) as [keyof ProjectMemoryPatch, unknown][]) {
    if (value === undefined || JSON.stringify(value) === JSON.stringify(next[key] ?? null)) continue;
    if (value === null) delete next[key];
    else (next as Record<string, unknown>)[key] = value;
    changed = true;
  }
  return { entry: next, changed };
}

/**
 * The entry promoted under `policy` (with its `promotedAt` filled in): scope `policy.toScope`,
 * `promotionLevel` one higher, the policy stored on it.
 * @throws IllegalTransitionError when `fromScope` is not the entry's scope, or `toScope` is below it.
 */
export function promotedEntry(entry: ProjectMemoryEntry, policy: MemoryPromotionPolicy): ProjectMemoryEntry {
  const { fromScope, toScope } = policy;
  if (fromScope !== entry.scope) {
    throw new IllegalTransitionError(
      entry.entryId,
      entry.scope,
      toScope,
      `the policy's fromScope is '${fromScope}' but the entry is '${entry.scope}'; read the entry again before promoting it`,
    );
  }
  if ((SCOPE_RANK[toScope] ?? 0) < (SCOPE_RANK[fromScope] ?? 0)) {
    throw new IllegalTransitionError(entry.entryId, entry.scope, toScope, 'a promotion never lowers the scope');
  }
  return {
    ...entry,
    scope: toScope as StoredMemoryScope,
    promotionLevel: (entry.promotionLevel ?? 0) + 1,
    promotionPolicy: policy,
  };
}

/** The entry after a rating at `at` (see `nextFeedbackStatus`), and its new status. */
export function ratedEntry(
  entry: ProjectMemoryEntry,
  rating: FeedbackRating,
  at: number,
): { entry: ProjectMemoryEntry; status: MemoryStatus } {
  const status = nextFeedbackStatus(entry, rating, at);
  return { entry: { ...entry, status, firstFeedbackAt: entry.firstFeedbackAt ?? at, lastFeedbackAt: at }, status };
}

/** True when the auto-confirm sweep at `at` confirms the entry: `provisional` and created more than 24 h before. */
export function isDueForAutoConfirm(entry: ProjectMemoryEntry, at: number): boolean {
  return entry.status === 'provisional' && at - entry.createdAt > DISPUTE_WINDOW_MS;
}

/** The error for an operation on an entry that is not there. */
export function entryNotFound(entryId: string): NotFoundError {
  return new NotFoundError('memory entry', entryId);
}

/** Plain code-unit order: the same on every machine, unlike `localeCompare`. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Cheap check on the hot path; zod only runs to explain a bad id. */
export function checkEntryId(entryId: unknown): asserts entryId is string {
  if (typeof entryId === 'string' && entryId.length > 0 && entryId.length <= 256 && /\S/.test(entryId)) return;
  parseInput(MemoryEntryIdSchema, entryId, 'entryId');
}
