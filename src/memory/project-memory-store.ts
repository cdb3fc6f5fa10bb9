import { z } from 'zod';
import { type Clock, checkClockReading, readClock, systemClock } from '../storage/clock.js';
import type { DurableDocument } from '../storage/document.js';
import { IllegalTransitionError, NotFoundError } from '../storage/errors.js';
import type { StorageIO } from '../storage/io.js';
import type { CorruptionPolicy, DocumentFormat, StoreWarning } from '../storage/json-file.js';
import { constructInMemory, openStoreDocument } from '../storage/json-store.js';
import { parseInput } from '../storage/validate.js';
import { DISPUTE_WINDOW_MS, nextFeedbackStatus } from './feedback-status.js';
import {
  FeedbackRatingSchema,
  type MemoryAuditRow,
  MemoryAuditRowSchema,
  MemoryEntryIdSchema,
  type MemoryEvidence,
  type MemoryListQuery,
  MemoryListQuerySchema,
  type MemoryPromotionPolicy,
  type MemoryPromotionRequest,
  MemoryPromotionRequestSchema,
  type MemoryRecallHit,
  type MemoryRecallQuery,
  MemoryRecallQuerySchema,
  type MemoryStatus,
  type ProjectMemoryEntry,
  ProjectMemoryEntrySchema,
  type ProjectMemoryInput,
  ProjectMemoryInputSchema,
  type ProjectMemoryPatch,
  ProjectMemoryPatchSchema,
  type StoredMemoryScope,
} from './schemas.js';

/** Options of {@link ProjectMemoryStore}. */
export interface ProjectMemoryStoreOptions {
  /** The JSON file the store keeps its entries and audit log in. `createStores` names it `analysis_project_memory.json`. */
  path: string;
  /**
   * Source of time for `createdAt`, `promotedAt`, `auditedAt` and the feedback windows.
   * @defaultValue the system clock (`Date.now`)
   */
  clock?: Clock;
  /**
   * What to do with a file that cannot be read: `'throw'` raises `CorruptStoreError` on every
   * operation and leaves the file alone; `'quarantine'` moves it aside and starts empty.
   * @defaultValue 'throw'
   */
  onCorrupt?: CorruptionPolicy;
  /** Told when the store had to do something noteworthy, such as quarantining its file. @defaultValue none */
  onWarning?: (warning: StoreWarning) => void;
  /** @internal File-system seam for fault-injection tests. @defaultValue the real file system */
  io?: StorageIO;
}

/** Options of {@link ProjectMemoryStore.inMemory}. */
export interface ProjectMemoryStoreMemoryOptions {
  /** @defaultValue the system clock (`Date.now`) */
  clock?: Clock;
}

/** Count of entries per scope, as returned by {@link ProjectMemoryStore.stats}. */
export interface ProjectMemoryStats {
  project: number;
  world: number;
}

type Doc = DurableDocument<ProjectMemoryEntry, MemoryMeta, MemoryAuditRow>;
type MemoryMeta = Record<string, never>;

// The memory file needs no meta of its own; an empty object keeps the envelope the same as the other stores.
const MemoryMetaSchema = z.object({}) as unknown as z.ZodType<MemoryMeta>;

/**
 * How the store's JSON file is laid out (schemaVersion 1), the layout of the implementation
 * agent-stores replaces, so that either reads the other's file:
 * `{ "schemaVersion": 1, "rev": n, "meta": {}, "entries": [...], "promotionAudit": [...] }`.
 * `rev` and `meta` are agent-stores' own (that implementation ignores them; a file without them
 * is revision 0). Audit rows that earlier agent-stores versions wrote under `log` are read too.
 */
const projectMemoryFormat: DocumentFormat<ProjectMemoryEntry, MemoryMeta, MemoryAuditRow> = {
  version: 1,
  entry: ProjectMemoryEntrySchema,
  meta: MemoryMetaSchema,
  logRow: MemoryAuditRowSchema,
  logKey: 'promotionAudit',
  keyOf: (entry) => entry.entryId,
  emptyMeta: () => ({}),
};

const SCOPE_RANK: Record<string, number> = { session: 0, project: 1, world: 2 };

function copyEvidence(evidence: MemoryEvidence): MemoryEvidence {
  return evidence.range ? { ...evidence, range: { ...evidence.range } } : { ...evidence };
}

/** A deep copy by hand: several times faster than `structuredClone`, and `get()` is a hot path. */
function copyEntry(entry: ProjectMemoryEntry): ProjectMemoryEntry {
  const copy = { ...entry, tags: entry.tags.slice() };
  if (entry.evidence) copy.evidence = entry.evidence.map(copyEvidence);
  if (entry.promotionPolicy) copy.promotionPolicy = { ...entry.promotionPolicy };
  return copy;
}

function copyAuditRow(row: MemoryAuditRow): MemoryAuditRow {
  return { ...row, policy: { ...row.policy } };
}

/**
 * Project- and world-scope memories of the analysis agent, kept in one JSON file, with the audit
 * log of their promotions and the five-state feedback machine.
 *
 * Every write is one atomic replace of the file under a cross-process lock, applied to its
 * current contents; concurrent calls in one process are committed together. Reads come from a
 * cache that one `stat` revalidates, so another process's write is seen on the next read. Every
 * record returned is a copy: changing it changes nothing in the store. Every input is validated
 * before the file is touched.
 */
export class ProjectMemoryStore {
  readonly #doc: Doc;
  readonly #clock: Clock;

  /**
   * Opens the store on `options.path`. Nothing is read or created until the first operation.
   * @throws ValidationError when `path` is not a non-empty string.
   */
  constructor(options: ProjectMemoryStoreOptions) {
    this.#clock = options?.clock ?? systemClock;
    this.#doc = openStoreDocument(projectMemoryFormat, options, 'ProjectMemoryStore', 'the memory');
  }

  /** The same store without a file, for unit tests: nothing outlives the instance. */
  static inMemory(options: ProjectMemoryStoreMemoryOptions = {}): ProjectMemoryStore {
    return constructInMemory(() => new ProjectMemoryStore({ path: '', clock: options.clock }));
  }

  /**
   * Inserts `entry`, or replaces the stored entry with the same `entryId`.
   *
   * A new entry gets `status: 'provisional'` and `createdAt` now unless given; `tags` default to `[]`.
   *
   * Replacing an existing entry keeps what only other methods may change:
   * - `scope`, `promotionLevel` and `promotionPolicy` belong to {@link ProjectMemoryStore.promote}
   *   (which writes the audit row). `scope` must be the stored one; `promotionLevel` and
   *   `promotionPolicy` may be left out (the stored ones are kept) or given equal to the stored
   *   ones (what `get()` returned); anything else is an `IllegalTransitionError` and nothing is written.
   * - `status`, `createdAt`, `firstFeedbackAt` and `lastFeedbackAt` left out keep their stored
   *   values (so a save never resets the feedback machine or the 24 h windows); given, they replace them.
   * - Every other field is replaced: one left out is removed (`tags` become `[]`). To change a few
   *   fields and keep the rest, use {@link ProjectMemoryStore.update}.
   *
   * The promotion audit log is not touched.
   *
   * @returns a copy of the stored entry.
   * @throws ValidationError for a field of the wrong type or out of range, an unknown enum value,
   *   `scope: 'session'`, a `world` entry without `promotionPolicy`, or a policy whose trigger is
   *   not `user_feedback`, `reviewer_approval` or `skill_eval_pass`.
   * @throws IllegalTransitionError when an existing entry's `scope`, `promotionLevel` or
   *   `promotionPolicy` would change.
   */
  async save(entry: ProjectMemoryInput): Promise<ProjectMemoryEntry> {
    this.#doc.checkOpen();
    const input = parseInput(ProjectMemoryInputSchema, entry, 'memory entry');
    const createdAt = input.createdAt ?? this.#now();
    const stored = await this.#doc.mutate((tx) => {
      const previous = tx.get(input.entryId);
      const next = previous ? replaceEntry(previous, input) : newEntry(input, createdAt);
      tx.put(next.entryId, next);
      return next;
    });
    return copyEntry(stored);
  }

  /**
   * Changes only the fields given in `patch` (`tags`, `insight`, `confidence`, `evidence`,
   * `lastSeenAt`, `unsupportedReason`); every other field stays as stored. `null` removes
   * `evidence`, `lastSeenAt` or `unsupportedReason`; a field set to `undefined` counts as left out.
   * An empty patch (or one that changes nothing) writes nothing.
   *
   * @returns a copy of the updated entry.
   * @throws ValidationError for a key not in that list (`scope`, `status`, promotion fields, a
   *   typo) or a value of the wrong type, before any file is touched.
   * @throws NotFoundError when there is no such entry.
   */
  async update(entryId: string, patch: ProjectMemoryPatch): Promise<ProjectMemoryEntry> {
    checkId(entryId);
    const changes = parseInput(ProjectMemoryPatchSchema, patch, 'memory patch');
    const updated = await this.#doc.mutate((tx) => {
      const entry = tx.get(entryId);
      if (!entry) throw new NotFoundError('memory entry', entryId);
      const next: ProjectMemoryEntry = { ...entry };
      let changed = false;
      for (const [key, value] of Object.entries(changes) as [keyof ProjectMemoryPatch, unknown][]) {
        if (value === undefined || JSON.stringify(value) === JSON.stringify(next[key] ?? null)) continue;
        if (value === null) delete next[key];
        else (next as Record<string, unknown>)[key] = value;
        changed = true;
      }
      if (changed) tx.put(entryId, next);
      return next;
    });
    return copyEntry(updated);
  }

  /** A copy of the entry, or `undefined` when there is none with this id. */
  async get(entryId: string): Promise<ProjectMemoryEntry | undefined> {
    this.#doc.checkOpen();
    checkId(entryId);
    const entry = (await this.#doc.read()).entries.get(entryId);
    return entry && copyEntry(entry);
  }

  /**
   * Removes the entry. Its rows in the promotion audit log stay.
   * @returns `true` when it existed, `false` when there was nothing to remove (nothing is written then).
   */
  async remove(entryId: string): Promise<boolean> {
    this.#doc.checkOpen();
    checkId(entryId);
    // Through the queue even when absent now: a save issued just before must not be overtaken.
    // The document writes nothing when the entry is not there.
    return this.#doc.mutate((tx) => tx.delete(entryId));
  }

  /**
   * Copies of the entries that match every filter given, sorted by `entryId`. `projectKey`
   * compares the entry's own `projectKey` (unlike {@link ProjectMemoryStore.recall}, world entries
   * are not added); `anyOfTags` keeps entries with at least one of the tags (an empty list filters nothing).
   */
  async list(query: MemoryListQuery = {}): Promise<ProjectMemoryEntry[]> {
    this.#doc.checkOpen();
    const { scope, projectKey, anyOfTags } = parseInput(MemoryListQuerySchema, query, 'list query');
    const tags = anyOfTags?.length ? new Set(anyOfTags) : undefined;
    const out: ProjectMemoryEntry[] = [];
    for (const entry of (await this.#doc.read()).entries.values()) {
      if (scope !== undefined && entry.scope !== scope) continue;
      if (projectKey !== undefined && entry.projectKey !== projectKey) continue;
      if (tags && !entry.tags.some((tag) => tags.has(tag))) continue;
      out.push(copyEntry(entry));
    }
    return out.sort((a, b) => compareIds(a.entryId, b.entryId));
  }

  /**
   * The `topK` entries most relevant to a query, best first, as `{ entry, score }` with copies.
   *
   * - Candidates: `project` entries (only those of `projectKey` when given) and `world` entries,
   *   which apply to every project; `scope` keeps only one of the two.
   * - Entries with an `unsupportedReason` and `rejected` entries are left out.
   * - Score: with query `tags`, the share of the (distinct) query tags the entry carries, and
   *   entries scoring 0 are left out; without tags (or with an empty list), the entry's `confidence`.
   * - Ties: higher `confidence` first, then `entryId`.
   *
   * Never writes: not the file, not its modification time, no lock.
   * @throws ValidationError when `topK` is not a positive integer or a filter has the wrong type.
   */
  async recall(query: MemoryRecallQuery = {}): Promise<MemoryRecallHit[]> {
    this.#doc.checkOpen();
    const { scope, projectKey, tags, topK } = parseInput(MemoryRecallQuerySchema, query, 'recall query');
    const wanted = tags?.length ? new Set(tags) : undefined;
    const hits: { entry: ProjectMemoryEntry; score: number }[] = [];
    for (const entry of (await this.#doc.read()).entries.values()) {
      if (scope !== undefined && entry.scope !== scope) continue;
      if (entry.scope === 'project' && projectKey !== undefined && entry.projectKey !== projectKey) continue;
      if (entry.unsupportedReason !== undefined || entry.status === 'rejected') continue;
      let score = entry.confidence;
      if (wanted) {
        let shared = 0;
        for (const tag of new Set(entry.tags)) if (wanted.has(tag)) shared++;
        if (shared === 0) continue;
        score = shared / wanted.size;
      }
      hits.push({ entry, score });
    }
    hits.sort(
      (a, b) =>
        b.score - a.score || b.entry.confidence - a.entry.confidence || compareIds(a.entry.entryId, b.entry.entryId),
    );
    return hits.slice(0, topK).map(({ entry, score }) => ({ entry: copyEntry(entry), score }));
  }

  /**
   * Promotes the entry under `policy`, and appends `{ entryId, policy, auditedAt }` to the audit
   * log in the same atomic write. The entry's `scope` becomes `policy.toScope`, its
   * `promotionLevel` goes up by one (from 0 when absent) and the policy is stored on it, with
   * `promotedAt` defaulting to now. Promoting within the same scope (a re-confirmation) is allowed;
   * lowering the scope is not.
   *
   * @returns a copy of the promoted entry.
   * @throws ValidationError when the policy breaks a rule: trigger not in the enum, `toScope: 'session'`,
   *   `toScope: 'world'` without `reviewer_approval`, `reviewer_approval` without `reviewer`,
   *   `skill_eval_pass` without `evalCaseId`.
   * @throws NotFoundError when there is no such entry.
   * @throws IllegalTransitionError when `fromScope` is not the entry's scope, or `toScope` is below it.
   */
  async promote(entryId: string, policy: MemoryPromotionRequest): Promise<ProjectMemoryEntry> {
    this.#doc.checkOpen();
    checkId(entryId);
    const request = parseInput(MemoryPromotionRequestSchema, policy, 'promotion policy');
    const now = this.#now();
    const stored: MemoryPromotionPolicy = { ...request, promotedAt: request.promotedAt ?? now };
    const promoted = await this.#doc.mutate((tx) => {
      const entry = tx.get(entryId);
      if (!entry) throw new NotFoundError('memory entry', entryId);
      const { fromScope, toScope } = stored;
      if (fromScope !== entry.scope) {
        throw new IllegalTransitionError(
          entryId,
          entry.scope,
          toScope,
          `the policy's fromScope is '${fromScope}' but the entry is '${entry.scope}'; read the entry again before promoting it`,
        );
      }
      if ((SCOPE_RANK[toScope] ?? 0) < (SCOPE_RANK[fromScope] ?? 0)) {
        throw new IllegalTransitionError(entryId, entry.scope, toScope, 'a promotion never lowers the scope');
      }
      const next: ProjectMemoryEntry = {
        ...entry,
        scope: toScope as StoredMemoryScope,
        promotionLevel: (entry.promotionLevel ?? 0) + 1,
        promotionPolicy: stored,
      };
      tx.put(entryId, next);
      tx.appendLog({ entryId, policy: stored, auditedAt: now });
      return next;
    });
    return copyEntry(promoted);
  }

  /** Copies of every promotion audit row, oldest first, including those of removed entries. */
  async promotionAudit(): Promise<MemoryAuditRow[]> {
    this.#doc.checkOpen();
    return (await this.#doc.read()).log.map(copyAuditRow);
  }

  /** How many entries each scope holds. */
  async stats(): Promise<ProjectMemoryStats> {
    this.#doc.checkOpen();
    const stats: ProjectMemoryStats = { project: 0, world: 0 };
    for (const entry of (await this.#doc.read()).entries.values()) stats[entry.scope]++;
    return stats;
  }

  /**
   * Records a user's rating of the entry and moves its status by the feedback machine
   * (see `nextFeedbackStatus`): the first rating of a `provisional` entry decides; a reverse rating
   * within 10 s of the first feedback is a misclick and the last one wins; after that `rejected` is
   * final, and a reverse rating of `confirmed` makes it `disputed` (up to 24 h after the first
   * feedback) or `disputed_late` (later). Sets `firstFeedbackAt` once and `lastFeedbackAt` always.
   *
   * @param now - when the rating was given. @defaultValue the store's clock
   * @returns the entry's new status.
   * @throws ValidationError for a rating other than `'positive'` / `'negative'` or a bad `now`.
   * @throws NotFoundError when there is no such entry.
   */
  async applyFeedback(entryId: string, rating: 'positive' | 'negative', now?: number): Promise<MemoryStatus> {
    this.#doc.checkOpen();
    checkId(entryId);
    parseInput(FeedbackRatingSchema, rating, 'rating');
    const at = now === undefined ? this.#now() : checkClockReading(now, 'feedback time');
    return this.#doc.mutate((tx) => {
      const entry = tx.get(entryId);
      if (!entry) throw new NotFoundError('memory entry', entryId);
      const status = nextFeedbackStatus(entry, rating, at);
      tx.put(entryId, { ...entry, status, firstFeedbackAt: entry.firstFeedbackAt ?? at, lastFeedbackAt: at });
      return status;
    });
  }

  /**
   * Confirms every `provisional` entry created more than 24 h before `now` (nobody objected), in
   * one write; nothing is written when there is none.
   * @param now - @defaultValue the store's clock
   * @returns how many entries were confirmed.
   */
  async sweepAutoConfirm(now?: number): Promise<number> {
    this.#doc.checkOpen();
    const at = now === undefined ? this.#now() : checkClockReading(now, 'sweep time');
    const due = (entry: ProjectMemoryEntry) =>
      entry.status === 'provisional' && at - entry.createdAt > DISPUTE_WINDOW_MS;
    // Through the queue, in issue order; the document writes nothing when no entry is due.
    return this.#doc.mutate((tx) => {
      const confirmed = [...tx.values()].filter(due);
      for (const entry of confirmed) tx.put(entry.entryId, { ...entry, status: 'confirmed' });
      return confirmed.length;
    });
  }

  /**
   * Closes the store: idempotent; resolves once the writes in flight settled and the file's watch
   * descriptor is released. Afterwards every method rejects with `StoreClosedError`.
   */
  close(): Promise<void> {
    return this.#doc.close();
  }

  /** The clock's time, checked before anything is written: whole epoch ms up to the year 9999. */
  #now(): number {
    return readClock(this.#clock);
  }
}

type SaveInput = ReturnType<typeof ProjectMemoryInputSchema.parse>;

/** A new entry from a validated input: `provisional` unless given. */
function newEntry(input: SaveInput, createdAt: number): ProjectMemoryEntry {
  return { ...input, status: input.status ?? 'provisional', createdAt };
}

/**
 * The entry a `save()` over `previous` stores: promotion fields as stored (refused if the input
 * tries to change them), feedback fields kept when left out, every other field from the input.
 */
function replaceEntry(previous: ProjectMemoryEntry, input: SaveInput): ProjectMemoryEntry {
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

/** Plain code-unit order: the same on every machine, unlike `localeCompare`. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Cheap check on the hot path; zod only runs to explain a bad id. */
function checkId(entryId: unknown): asserts entryId is string {
  if (typeof entryId === 'string' && entryId.length > 0 && entryId.length <= 256 && /\S/.test(entryId)) return;
  parseInput(MemoryEntryIdSchema, entryId, 'entryId');
}
