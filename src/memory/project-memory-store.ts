import { z } from 'zod';
import { type Clock, checkClockReading, readClock, systemClock } from '../storage/clock.js';
import type { DurableDocument } from '../storage/document.js';
import type { StorageIO } from '../storage/io.js';
import type { CorruptionPolicy, DocumentFormat, StoreWarning } from '../storage/json-file.js';
import { constructInMemory, openStoreDocument } from '../storage/json-store.js';
import { parseInput, parseOptions } from '../storage/validate.js';
import { countByScope, listEntries, type ProjectMemoryStats, recallHits } from './memory-queries.js';
import {
  checkEntryId,
  copyAuditRow,
  copyEntry,
  entryNotFound,
  isDueForAutoConfirm,
  newEntry,
  patchEntry,
  promotedEntry,
  ratedEntry,
  replaceEntry,
} from './memory-rules.js';
import {
  FeedbackRatingSchema,
  type MemoryAuditRow,
  MemoryAuditRowSchema,
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
} from './schemas.js';

export type { ProjectMemoryStats } from './memory-queries.js';

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
    checkEntryId(entryId);
    const changes = parseInput(ProjectMemoryPatchSchema, patch, 'memory patch');
    const updated = await this.#doc.mutate((tx) => {
      const entry = tx.get(entryId);
      if (!entry) throw entryNotFound(entryId);
      const { entry: next, changed } = patchEntry(entry, changes);
      if (changed) tx.put(entryId, next);
      return next;
    });
    return copyEntry(updated);
  }

  /** A copy of the entry, or `undefined` when there is none with this id. */
  async get(entryId: string): Promise<ProjectMemoryEntry | undefined> {
    this.#doc.checkOpen();
    checkEntryId(entryId);
    const entry = (await this.#doc.read()).entries.get(entryId);
    return entry && copyEntry(entry);
  }

  /**
   * Removes the entry. Its rows in the promotion audit log stay.
   * @returns `true` when it existed, `false` when there was nothing to remove (nothing is written then).
   */
  async remove(entryId: string): Promise<boolean> {
    this.#doc.checkOpen();
    checkEntryId(entryId);
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
    const filter = parseOptions(MemoryListQuerySchema, query, 'list query');
    return listEntries((await this.#doc.read()).entries.values(), filter);
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
    const filter = parseInput(MemoryRecallQuerySchema, query, 'recall query');
    return recallHits((await this.#doc.read()).entries.values(), filter);
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
    checkEntryId(entryId);
    const request = parseInput(MemoryPromotionRequestSchema, policy, 'promotion policy');
    const now = this.#now();
    const stored: MemoryPromotionPolicy = { ...request, promotedAt: request.promotedAt ?? now };
    const promoted = await this.#doc.mutate((tx) => {
      const entry = tx.get(entryId);
      if (!entry) throw entryNotFound(entryId);
      const next = promotedEntry(entry, stored);
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
    return countByScope((await this.#doc.read()).entries.values());
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
    checkEntryId(entryId);
    parseInput(FeedbackRatingSchema, rating, 'rating');
    const at = now === undefined ? this.#now() : checkClockReading(now, 'feedback time');
    return this.#doc.mutate((tx) => {
      const entry = tx.get(entryId);
      if (!entry) throw entryNotFound(entryId);
      const rated = ratedEntry(entry, rating, at);
      tx.put(entryId, rated.entry);
      return rated.status;
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
    // Through the queue, in issue order; the document writes nothing when no entry is due.
    return this.#doc.mutate((tx) => {
      const confirmed = [...tx.values()].filter((entry) => isDueForAutoConfirm(entry, at));
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
