import type { PostgresDatabase } from '../postgres/database.js';
import { EntryRows } from '../postgres/entry-rows.js';
import { IssueOrder } from '../postgres/issue-order.js';
import { jsonbText } from '../postgres/jsonb.js';
import { parseStoredRow } from '../postgres/stored-row.js';
import { type Clock, readClock, systemClock } from '../storage/clock.js';
import { Lifecycle } from '../storage/lifecycle.js';
import { parseInput } from '../storage/validate.js';
import {
  advancedEntry,
  checkAdvance,
  checkPipelineEntryId,
  countByStage,
  createdEntry,
  duplicateEntry,
  newestFirst,
  pipelineEntryNotFound,
  StoredPipelineEntrySchema,
} from './pipeline-rules.js';
import type { PipelineStore } from './pipeline-store.js';
import {
  type FeedbackPipelineEntry,
  type PipelineAdvanceInput,
  PipelineAdvanceInputSchema,
  type PipelineCreateInput,
  PipelineCreateInputSchema,
  type PipelineListQuery,
  PipelineListQuerySchema,
  PipelineStageSchema,
  type PipelineStats,
} from './schemas.js';

/** Options of {@link PostgresFeedbackPipeline}. */
export interface PostgresFeedbackPipelineOptions {
  /**
   * Source of time for `updatedAt` and history rows (made strictly increasing by the database).
   * @defaultValue the system clock (`Date.now`)
   */
  clock?: Clock;
}

/** The row of the `stamps` table that keeps the last `updatedAt` handed out. */
const STAMP_STORE = 'pipeline';
/** The issue-order key of the stamp: stamped operations take their stamps in issue order. */
const STAMP = 'stamp';
/** The issue-order key of one entry (prefixed so that no entry id can be taken for {@link STAMP}). */
const entryKey = (entryId: string) => `entry:${entryId}`;

/**
 * The feedback pipeline on PostgreSQL, with the behaviour of `FeedbackPipeline` (the same rules,
 * from the same code), shared by every instance that uses the database.
 *
 * Each entry is a row of `pipeline_entries` (the whole entry as `jsonb`, with `stage` and
 * `updated_at` beside it). `advance()` holds the entry's row lock (`SELECT … FOR UPDATE`) from
 * reading it to writing it. `updatedAt` comes from the database's `stamps` row, taken in the
 * write's transaction: it is strictly greater than every `updatedAt` handed out before, by any
 * instance, whatever the clocks say, and survives removals and restarts. Calls issued together on
 * one instance take effect (and are stamped) in issue order.
 *
 * Every record returned is the caller's own; every input is validated before the database is
 * reached. The database (and its pool) belongs to the caller: `close()` leaves it open.
 */
export class PostgresFeedbackPipeline implements PipelineStore {
  readonly #db: PostgresDatabase;
  readonly #clock: Clock;
  readonly #life = new Lifecycle('PostgresFeedbackPipeline');
  readonly #order = new IssueOrder();
  readonly #rows: EntryRows<FeedbackPipelineEntry>;
  readonly #entries: string;

  /** Nothing is read or created until the first operation. */
  constructor(database: PostgresDatabase, options: PostgresFeedbackPipelineOptions = {}) {
    this.#db = database;
    this.#clock = options.clock ?? systemClock;
    this.#rows = new EntryRows(database, 'pipeline_entries', StoredPipelineEntrySchema, 'pipeline entry');
    this.#entries = this.#rows.table;
  }

  /**
   * Starts an entry at stage `feedback`, with a history of that one stage.
   * @returns the new entry.
   * @throws ValidationError when `entryId` or `feedbackId` is missing, blank or not a string, or the clock's reading is not a time.
   * @throws ConflictError when an entry with this `entryId` exists.
   */
  create(input: PipelineCreateInput): Promise<FeedbackPipelineEntry> {
    return this.#life.run(async () => {
      const { entryId, feedbackId } = parseInput(PipelineCreateInputSchema, input, 'pipeline entry');
      jsonbText({ entryId, feedbackId }, `pipeline entry '${entryId}'`); // refused before anything is stamped
      return this.#order.run([entryKey(entryId), STAMP], () => {
        const now = this.#now();
        return this.#db.transaction(`creating pipeline entry '${entryId}'`, async (client) => {
          const entry = createdEntry(entryId, feedbackId, await this.#db.stamp(client, STAMP_STORE, now));
          const inserted = await client.query(
            `INSERT INTO ${this.#entries} (entry_id, stage, updated_at, entry) VALUES ($1, $2, $3, $4::jsonb)
             ON CONFLICT (entry_id) DO NOTHING RETURNING entry_id`,
            rowParams(entry),
          );
          // Rolls the stamp back with the transaction: a refused create uses none.
          if (inserted.rowCount === 0) throw duplicateEntry(entryId);
          return entry;
        });
      });
    });
  }

  /**
   * Moves the entry to `change.stage` by the transition table, as `FeedbackPipeline.advance`
   * does (reviewer gates, history row, `case` / `skillDraftId` carried forward), under the
   * entry's row lock.
   *
   * @returns the advanced entry.
   * @throws ValidationError for an unknown stage, a missing or blank reviewer where one is needed,
   *   a malformed `case` / `skillDraftId`, or a clock reading that is not a time.
   * @throws NotFoundError when there is no such entry.
   * @throws IllegalTransitionError when the table does not allow the move.
   */
  advance(entryId: string, change: PipelineAdvanceInput): Promise<FeedbackPipelineEntry> {
    return this.#life.run(async () => {
      checkPipelineEntryId(entryId);
      const input = parseInput(PipelineAdvanceInputSchema, change, 'pipeline advance');
      return this.#order.run([entryKey(entryId), STAMP], () => {
        const now = this.#now();
        return this.#db.transaction(`advancing pipeline entry '${entryId}'`, async (client) => {
          const entry = await this.#rows.lock(client, entryId);
          if (!entry) throw pipelineEntryNotFound(entryId);
          checkAdvance(entry, input);
          const next = advancedEntry(entry, input, await this.#db.stamp(client, STAMP_STORE, now));
          await client.query(
            `UPDATE ${this.#entries} SET stage = $2, updated_at = $3, entry = $4::jsonb WHERE entry_id = $1`,
            rowParams(next),
          );
          return next;
        });
      });
    });
  }

  /** The entry, or `undefined` when there is none with this id. */
  get(entryId: string): Promise<FeedbackPipelineEntry | undefined> {
    return this.#life.run(async () => {
      checkPipelineEntryId(entryId);
      return this.#rows.get(entryId);
    });
  }

  /**
   * Removes the entry. Later `updatedAt` values stay above its own (the stamp is kept apart).
   * @returns `true` when it existed, `false` when there was nothing to remove.
   */
  remove(entryId: string): Promise<boolean> {
    return this.#life.run(async () => {
      checkPipelineEntryId(entryId);
      return this.#order.run([entryKey(entryId)], () => this.#rows.remove(entryId));
    });
  }

  /** The entries (only those at `stage`, when given), newest `updatedAt` first. */
  list(query: PipelineListQuery = {}): Promise<FeedbackPipelineEntry[]> {
    return this.#life.run(async () => {
      const { stage } = parseInput(PipelineListQuerySchema, query, 'list query');
      const entries = await this.#rows.select('listing pipeline entries', '$1::text IS NULL OR stage = $1', [
        stage ?? null,
      ]);
      return entries.filter((entry) => stage === undefined || entry.stage === stage).sort(newestFirst);
    });
  }

  /** How many entries are at each stage; every stage is present, with 0 when none. */
  stats(): Promise<PipelineStats> {
    return this.#life.run(async () => {
      const rows = await this.#db.query<{ stage: string; count: number }>(
        'counting pipeline entries',
        `SELECT stage, count(*)::int AS count FROM ${this.#entries} GROUP BY stage`,
      );
      const stats = countByStage([]);
      for (const { stage, count } of rows) {
        stats[parseStoredRow(PipelineStageSchema, stage, `a row of ${this.#entries} with stage '${stage}'`)] += count;
      }
      return stats;
    });
  }

  /**
   * Closes the pipeline: idempotent; resolves once the operations in flight settled. Afterwards
   * every method rejects with `StoreClosedError`. The database and its pool stay open (they are
   * the caller's: `createPostgresStores().close()` closes them).
   */
  close(): Promise<void> {
    return this.#life.close();
  }

  /**
   * The clock's time, checked before anything is stamped with it (whole epoch ms up to the year
   * 9999): a clock that once returns 1e20 must not become the stamp every later one has to exceed.
   */
  #now(): number {
    return readClock(this.#clock);
  }
}

/** `entry_id`, `stage`, `updated_at`, `entry`: the columns always agree with the record. */
function rowParams(entry: FeedbackPipelineEntry): unknown[] {
  return [entry.entryId, entry.stage, entry.updatedAt, jsonbText(entry, `pipeline entry '${entry.entryId}'`)];
}
