import { z } from 'zod';
import { type Clock, nextStamp, readClock, systemClock } from '../storage/clock.js';
import type { DurableDocument } from '../storage/document.js';
import type { StorageIO } from '../storage/io.js';
import type { CorruptionPolicy, DocumentFormat, StoreWarning } from '../storage/json-file.js';
import { constructInMemory, openStoreDocument } from '../storage/json-store.js';
import { parseInput } from '../storage/validate.js';
import {
  advancedEntry,
  checkAdvance,
  checkPipelineEntryId,
  copyPipelineEntry,
  countByStage,
  createdEntry,
  duplicateEntry,
  newestFirst,
  pipelineEntryNotFound,
  StoredPipelineEntrySchema,
} from './pipeline-rules.js';
import {
  type FeedbackPipelineEntry,
  type PipelineAdvanceInput,
  PipelineAdvanceInputSchema,
  type PipelineCreateInput,
  PipelineCreateInputSchema,
  type PipelineListQuery,
  PipelineListQuerySchema,
  type PipelineMeta,
  PipelineMetaSchema,
  type PipelineStats,
} from './schemas.js';

/** Options of {@link FeedbackPipeline}. */
export interface FeedbackPipelineOptions {
  /** The JSON file the pipeline keeps its entries in. `createStores` names it `feedback_pipeline.json`. */
  path: string;
  /**
   * Source of time for `updatedAt` and history rows (made strictly increasing by the store).
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

/** Options of {@link FeedbackPipeline.inMemory}. */
export interface FeedbackPipelineMemoryOptions {
  /** @defaultValue the system clock (`Date.now`) */
  clock?: Clock;
}

type Doc = DurableDocument<FeedbackPipelineEntry, PipelineMeta, never>;

/**
 * How the pipeline's JSON file is laid out (schemaVersion 1), the layout of the implementation
 * agent-stores replaces, so that either reads the other's file:
 * `{ "schemaVersion": 1, "rev": n, "meta": { "highWater": t }, "entries": [...] }`. It has no log
 * (earlier agent-stores versions wrote an empty `"log": []`, still read). `rev`, `meta` and each
 * entry's `history` are agent-stores' own; a file without them (that implementation's) is
 * revision 0, its entries get an empty history, and the high-water mark is the highest
 * `updatedAt` of its entries, so stamps continue above them.
 */
const pipelineFormat: DocumentFormat<FeedbackPipelineEntry, PipelineMeta, never> = {
  version: 1,
  entry: StoredPipelineEntrySchema,
  meta: PipelineMetaSchema,
  logRow: z.never(),
  logKey: null,
  keyOf: (entry) => entry.entryId,
  emptyMeta: () => ({ highWater: 0 }),
  reconcileMeta(meta, entries) {
    let highWater = meta.highWater;
    for (const entry of entries.values()) if (entry.updatedAt > highWater) highWater = entry.updatedAt;
    return highWater === meta.highWater ? meta : { highWater };
  },
};

/**
 * The pipeline that turns user feedback into evaluation cases and skills:
 * `feedback → case_draft → skill_draft → reviewed → merged`, with `rejected` reachable from every
 * non-terminal stage. Kept in one JSON file, written atomically under a cross-process lock.
 *
 * `updatedAt` is strictly increasing across every process sharing the file: the highest value
 * ever issued is kept in the file and re-read under the lock on each write, so it survives
 * restarts, removals and clocks that stand still or step back. Every record returned is a copy.
 */
export class FeedbackPipeline {
  readonly #doc: Doc;
  readonly #clock: Clock;

  /**
   * Opens the pipeline on `options.path`. Nothing is read or created until the first operation.
   * @throws ValidationError when `path` is not a non-empty string.
   */
  constructor(options: FeedbackPipelineOptions) {
    this.#clock = options?.clock ?? systemClock;
    this.#doc = openStoreDocument(pipelineFormat, options, 'FeedbackPipeline', 'the pipeline');
  }

  /** The same pipeline without a file, for unit tests: nothing outlives the instance. */
  static inMemory(options: FeedbackPipelineMemoryOptions = {}): FeedbackPipeline {
    return constructInMemory(() => new FeedbackPipeline({ path: '', clock: options.clock }));
  }

  /**
   * Starts an entry at stage `feedback`, with a history of that one stage.
   * @returns a copy of the new entry.
   * @throws ValidationError when `entryId` or `feedbackId` is missing, blank or not a string.
   * @throws ConflictError when an entry with this `entryId` exists.
   */
  async create(input: PipelineCreateInput): Promise<FeedbackPipelineEntry> {
    this.#doc.checkOpen();
    const { entryId, feedbackId } = parseInput(PipelineCreateInputSchema, input, 'pipeline entry');
    const created = await this.#doc.mutate((tx) => {
      if (tx.has(entryId)) throw duplicateEntry(entryId);
      const updatedAt = this.#stamp(tx.meta);
      const entry = createdEntry(entryId, feedbackId, updatedAt);
      tx.setMeta({ highWater: updatedAt });
      tx.put(entryId, entry);
      return entry;
    });
    return copyPipelineEntry(created);
  }

  /**
   * Moves the entry to `change.stage` by the transition table (see `PIPELINE_TRANSITIONS`) and
   * appends `{ stage, at, reviewer? }` to its history. `reviewed`, `merged` and `rejected` need a
   * non-blank `reviewer`, stored trimmed (on the history row and as the entry's latest
   * `reviewer`). A `case` or `skillDraftId` given replaces the previous one; left out, the
   * previous one is carried forward.
   *
   * @returns a copy of the advanced entry.
   * @throws ValidationError for an unknown stage, a missing or blank reviewer where one is needed,
   *   or a malformed `case` / `skillDraftId`.
   * @throws NotFoundError when there is no such entry.
   * @throws IllegalTransitionError when the table does not allow the move (terminal stages allow none).
   */
  async advance(entryId: string, change: PipelineAdvanceInput): Promise<FeedbackPipelineEntry> {
    this.#doc.checkOpen();
    checkPipelineEntryId(entryId);
    const input = parseInput(PipelineAdvanceInputSchema, change, 'pipeline advance');
    const advanced = await this.#doc.mutate((tx) => {
      const entry = tx.get(entryId);
      if (!entry) throw pipelineEntryNotFound(entryId);
      checkAdvance(entry, input);
      const updatedAt = this.#stamp(tx.meta);
      const next = advancedEntry(entry, input, updatedAt);
      tx.setMeta({ highWater: updatedAt });
      tx.put(entryId, next);
      return next;
    });
    return copyPipelineEntry(advanced);
  }

  /** A copy of the entry, or `undefined` when there is none with this id. */
  async get(entryId: string): Promise<FeedbackPipelineEntry | undefined> {
    this.#doc.checkOpen();
    checkPipelineEntryId(entryId);
    const entry = (await this.#doc.read()).entries.get(entryId);
    return entry && copyPipelineEntry(entry);
  }

  /**
   * Removes the entry. Later `updatedAt` values stay above its own.
   * @returns `true` when it existed, `false` when there was nothing to remove (nothing is written then).
   */
  async remove(entryId: string): Promise<boolean> {
    this.#doc.checkOpen();
    checkPipelineEntryId(entryId);
    // Through the queue even when absent now: a create issued just before must not be overtaken.
    // The document writes nothing when the entry is not there.
    return this.#doc.mutate((tx) => tx.delete(entryId));
  }

  /** Copies of the entries (only those at `stage`, when given), newest `updatedAt` first. */
  async list(query: PipelineListQuery = {}): Promise<FeedbackPipelineEntry[]> {
    this.#doc.checkOpen();
    const { stage } = parseInput(PipelineListQuerySchema, query, 'list query');
    const out: FeedbackPipelineEntry[] = [];
    for (const entry of (await this.#doc.read()).entries.values()) {
      if (stage === undefined || entry.stage === stage) out.push(copyPipelineEntry(entry));
    }
    return out.sort(newestFirst);
  }

  /** How many entries are at each stage; every stage is present, with 0 when none. */
  async stats(): Promise<PipelineStats> {
    this.#doc.checkOpen();
    return countByStage((await this.#doc.read()).entries.values());
  }

  /**
   * Closes the pipeline: idempotent; resolves once the writes in flight settled and the file's
   * watch descriptor is released. Afterwards every method rejects with `StoreClosedError`.
   */
  close(): Promise<void> {
    return this.#doc.close();
  }

  /**
   * The next `updatedAt`: the clock's time, or one more than the highest stamp the file has held.
   * The reading is checked first (whole epoch ms up to the year 9999): a clock that once returns
   * 1e20 must not become the high-water mark every later stamp has to exceed.
   */
  #stamp(meta: PipelineMeta): number {
    return nextStamp(meta.highWater, readClock(this.#clock));
  }
}
