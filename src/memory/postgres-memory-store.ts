import type { PoolClient } from 'pg';
import type { PostgresDatabase } from '../postgres/database.js';
import { EntryRows } from '../postgres/entry-rows.js';
import { IssueOrder } from '../postgres/issue-order.js';
import { jsonbText } from '../postgres/jsonb.js';
import { parseStoredRow } from '../postgres/stored-row.js';
import { type Clock, checkClockReading, readClock, systemClock } from '../storage/clock.js';
import { Lifecycle } from '../storage/lifecycle.js';
import { parseInput, parseOptions } from '../storage/validate.js';
import { DISPUTE_WINDOW_MS } from './feedback-status.js';
import { countByScope, listEntries, type ProjectMemoryStats, recallHits } from './memory-queries.js';
import {
  checkEntryId,
  entryNotFound,
  isDueForAutoConfirm,
  newEntry,
  patchEntry,
  promotedEntry,
  ratedEntry,
  replaceEntry,
  type SaveInput,
} from './memory-rules.js';
import type { MemoryStore } from './memory-store.js';
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
  StoredMemoryScopeSchema,
} from './schemas.js';

/** Options of {@link PostgresMemoryStore}. */
export interface PostgresMemoryStoreOptions {
  /**
   * Source of time for `createdAt`, `promotedAt`, `auditedAt` and the feedback windows.
   * @defaultValue the system clock (`Date.now`)
   */
  clock?: Clock;
}

/** The issue-order key of the audit log: promotions are audited in the order they were issued. */
const AUDIT = 'audit';
/** The issue-order key of one entry (prefixed so that no entry id can be taken for {@link AUDIT}). */
const entryKey = (entryId: string) => `entry:${entryId}`;

/**
 * The memory store on PostgreSQL, with the behaviour of `ProjectMemoryStore` (the same rules, from
 * the same code), shared by every instance that uses the database.
 *
 * Each entry is a row of `memory_entries` (the whole entry as `jsonb`, with `scope` and
 * `project_key` beside it for filtering); each promotion appends a row to `memory_promotion_audit`.
 * Every change to an existing entry runs in a transaction that holds the entry's row lock
 * (`SELECT … FOR UPDATE`) from reading it to writing it, so instances never lose each other's
 * updates; a promotion writes the entry and its audit row in one transaction. Reads (`get`,
 * `list`, `recall`, `promotionAudit`, `stats`) are plain `SELECT`s: they write nothing, take no
 * lock, use no transaction id. Calls issued together on one instance take effect in issue order
 * where one can tell (the same entry, the audit log, the sweep); others run side by side.
 *
 * Every record returned is the caller's own; every input is validated before the database is
 * reached. The database (and its pool) belongs to the caller: `close()` leaves it open.
 */
export class PostgresMemoryStore implements MemoryStore {
  readonly #db: PostgresDatabase;
  readonly #clock: Clock;
  readonly #life = new Lifecycle('PostgresMemoryStore');
  readonly #order = new IssueOrder();
  readonly #rows: EntryRows<ProjectMemoryEntry>;
  readonly #entries: string;
  readonly #audit: string;

  /** Nothing is read or created until the first operation. */
  constructor(database: PostgresDatabase, options: PostgresMemoryStoreOptions = {}) {
    this.#db = database;
    this.#clock = options.clock ?? systemClock;
    this.#rows = new EntryRows(database, 'memory_entries', ProjectMemoryEntrySchema, 'memory entry');
    this.#entries = this.#rows.table;
    this.#audit = database.table('memory_promotion_audit');
  }

  /**
   * Inserts `entry`, or replaces the stored entry with the same `entryId`, by the rules of
   * `ProjectMemoryStore.save` (a replace cannot change `scope`, `promotionLevel` or
   * `promotionPolicy`, and keeps the feedback fields left out).
   *
   * @returns the stored entry.
   * @throws ValidationError for bad input (see `ProjectMemoryStore.save`).
   * @throws IllegalTransitionError when an existing entry's scope or promotion fields would change.
   */
  save(entry: ProjectMemoryInput): Promise<ProjectMemoryEntry> {
    return this.#life.run(async () => {
      const input = parseInput(ProjectMemoryInputSchema, entry, 'memory entry');
      const createdAt = input.createdAt ?? this.#now();
      return this.#order.run([entryKey(input.entryId)], () => this.#save(input, createdAt));
    });
  }

  async #save(input: SaveInput, createdAt: number): Promise<ProjectMemoryEntry> {
    const what = `saving memory entry '${input.entryId}'`;
    for (;;) {
      // A new entry takes one statement; only an existing one needs the locked read-modify-write.
      const fresh = newEntry(input, createdAt);
      const inserted = await this.#db.query(
        what,
        `INSERT INTO ${this.#entries} (entry_id, scope, project_key, entry) VALUES ($1, $2, $3, $4::jsonb)
         ON CONFLICT (entry_id) DO NOTHING RETURNING entry_id`,
        rowParams(fresh),
      );
      if (inserted.length > 0) return fresh;
      const replaced = await this.#db.transaction(what, async (client) => {
        const previous = await this.#rows.lock(client, input.entryId);
        if (!previous) return undefined; // removed in between: insert it again
        const next = replaceEntry(previous, input);
        await this.#put(client, next);
        return next;
      });
      if (replaced) return replaced;
    }
  }

  /**
   * Changes only the fields given in `patch`, by the rules of `ProjectMemoryStore.update`; a patch
   * that changes nothing writes nothing.
   * @returns the updated entry.
   * @throws ValidationError for a key not allowed or a value of the wrong type.
   * @throws NotFoundError when there is no such entry.
   */
  update(entryId: string, patch: ProjectMemoryPatch): Promise<ProjectMemoryEntry> {
    return this.#life.run(async () => {
      checkEntryId(entryId);
      const changes = parseInput(ProjectMemoryPatchSchema, patch, 'memory patch');
      return this.#order.run([entryKey(entryId)], () =>
        this.#db.transaction(`updating memory entry '${entryId}'`, async (client) => {
          const entry = await this.#rows.lock(client, entryId);
          if (!entry) throw entryNotFound(entryId);
          const patched = patchEntry(entry, changes);
          if (patched.changed) await this.#put(client, patched.entry);
          return patched.entry;
        }),
      );
    });
  }

  /** The entry, or `undefined` when there is none with this id. */
  get(entryId: string): Promise<ProjectMemoryEntry | undefined> {
    return this.#life.run(async () => {
      checkEntryId(entryId);
      return this.#rows.get(entryId);
    });
  }

  /**
   * Removes the entry. Its rows in the promotion audit log stay.
   * @returns `true` when it existed, `false` when there was nothing to remove.
   */
  remove(entryId: string): Promise<boolean> {
    return this.#life.run(async () => {
      checkEntryId(entryId);
      return this.#order.run([entryKey(entryId)], () => this.#rows.remove(entryId));
    });
  }

  /** The entries that match every filter given, sorted by `entryId` (see `ProjectMemoryStore.list`). */
  list(query: MemoryListQuery = {}): Promise<ProjectMemoryEntry[]> {
    return this.#life.run(async () => {
      const filter = parseOptions(MemoryListQuerySchema, query, 'list query');
      // The WHERE only narrows what comes over the wire; listEntries() decides and sorts.
      const entries = await this.#rows.select(
        'listing memory entries',
        `($1::text IS NULL OR scope = $1) AND ($2::text IS NULL OR project_key = $2)
         AND ($3::text[] IS NULL OR entry->'tags' ?| $3)`,
        [filter.scope ?? null, filter.projectKey ?? null, filter.anyOfTags?.length ? filter.anyOfTags : null],
      );
      return listEntries(entries, filter);
    });
  }

  /**
   * The `topK` entries most relevant to a query, best first, scored and ranked as
   * `ProjectMemoryStore.recall` does. One `SELECT`: never writes, not even a timestamp.
   * @throws ValidationError when `topK` is not a positive integer or a filter has the wrong type.
   */
  recall(query: MemoryRecallQuery = {}): Promise<MemoryRecallHit[]> {
    return this.#life.run(async () => {
      const filter = parseInput(MemoryRecallQuerySchema, query, 'recall query');
      // The WHERE only narrows the candidates; recallHits() filters, scores and ranks.
      const entries = await this.#rows.select(
        'recalling memory entries',
        `($1::text IS NULL OR scope = $1)
         AND (scope <> 'project' OR $2::text IS NULL OR project_key = $2)
         AND NOT (entry ? 'unsupportedReason') AND entry->>'status' <> 'rejected'
         AND ($3::text[] IS NULL OR entry->'tags' ?| $3)`,
        [filter.scope ?? null, filter.projectKey ?? null, filter.tags?.length ? filter.tags : null],
      );
      return recallHits(entries, filter);
    });
  }

  /**
   * Promotes the entry under `policy` by the rules of `ProjectMemoryStore.promote`, and appends
   * `{ entryId, policy, auditedAt }` to the audit log, in one transaction that holds the entry's
   * row lock. Audit rows are numbered in the order their promotions commit, on every instance.
   *
   * @returns the promoted entry.
   * @throws ValidationError when the policy breaks a rule.
   * @throws NotFoundError when there is no such entry.
   * @throws IllegalTransitionError when `fromScope` is not the entry's scope, or `toScope` is below it.
   */
  promote(entryId: string, policy: MemoryPromotionRequest): Promise<ProjectMemoryEntry> {
    return this.#life.run(async () => {
      checkEntryId(entryId);
      const request = parseInput(MemoryPromotionRequestSchema, policy, 'promotion policy');
      const now = this.#now();
      const stored: MemoryPromotionPolicy = { ...request, promotedAt: request.promotedAt ?? now };
      const audit: MemoryAuditRow = { entryId, policy: stored, auditedAt: now };
      return this.#order.run([entryKey(entryId), AUDIT], () =>
        this.#db.transaction(`promoting memory entry '${entryId}'`, async (client) => {
          const entry = await this.#rows.lock(client, entryId);
          if (!entry) throw entryNotFound(entryId);
          const next = promotedEntry(entry, stored);
          await this.#put(client, next);
          // Held to the commit, by the audit table's oid: a row's seq is taken in commit order, so
          // no reader ever sees a later row before an earlier one. Nothing else waits on it.
          await client.query('SELECT pg_advisory_xact_lock($1::regclass::oid::bigint)', [this.#audit]);
          await client.query(`INSERT INTO ${this.#audit} (entry_id, audit) VALUES ($1, $2::jsonb)`, [
            entryId,
            jsonbText(audit, `the audit row of memory entry '${entryId}'`),
          ]);
          return next;
        }),
      );
    });
  }

  /** Every promotion audit row, oldest first, including those of removed entries. */
  promotionAudit(): Promise<MemoryAuditRow[]> {
    return this.#life.run(async () => {
      const rows = await this.#db.query<{ seq: string; audit: unknown }>(
        'reading the promotion audit log',
        `SELECT seq, audit FROM ${this.#audit} ORDER BY seq`,
      );
      return rows.map((row) =>
        parseStoredRow(MemoryAuditRowSchema, row.audit, `audit row ${row.seq} in ${this.#audit}`),
      );
    });
  }

  /** How many entries each scope holds. */
  stats(): Promise<ProjectMemoryStats> {
    return this.#life.run(async () => {
      const rows = await this.#db.query<{ scope: string; count: number }>(
        'counting memory entries',
        `SELECT scope, count(*)::int AS count FROM ${this.#entries} GROUP BY scope`,
      );
      const stats = countByScope([]);
      for (const { scope, count } of rows) {
        stats[parseStoredRow(StoredMemoryScopeSchema, scope, `a row of ${this.#entries} with scope '${scope}'`)] +=
          count;
      }
      return stats;
    });
  }

  /**
   * Records a user's rating of the entry and moves its status by the feedback machine (see
   * `nextFeedbackStatus`), under the entry's row lock. Sets `firstFeedbackAt` once and
   * `lastFeedbackAt` always.
   * @param now - when the rating was given. @defaultValue the store's clock
   * @returns the entry's new status.
   * @throws ValidationError for a rating other than `'positive'` / `'negative'` or a bad `now`.
   * @throws NotFoundError when there is no such entry.
   */
  applyFeedback(entryId: string, rating: 'positive' | 'negative', now?: number): Promise<MemoryStatus> {
    return this.#life.run(async () => {
      checkEntryId(entryId);
      parseInput(FeedbackRatingSchema, rating, 'rating');
      const at = now === undefined ? this.#now() : checkClockReading(now, 'feedback time');
      return this.#order.run([entryKey(entryId)], () =>
        this.#db.transaction(`rating memory entry '${entryId}'`, async (client) => {
          const entry = await this.#rows.lock(client, entryId);
          if (!entry) throw entryNotFound(entryId);
          const rated = ratedEntry(entry, rating, at);
          await this.#put(client, rated.entry);
          return rated.status;
        }),
      );
    });
  }

  /**
   * Confirms every `provisional` entry created more than 24 h before `now`, in one transaction
   * that locks them; nothing is written when there is none.
   * @param now - @defaultValue the store's clock
   * @returns how many entries were confirmed.
   */
  sweepAutoConfirm(now?: number): Promise<number> {
    return this.#life.run(async () => {
      const at = now === undefined ? this.#now() : checkClockReading(now, 'sweep time');
      return this.#order.run('all', () =>
        this.#db.transaction('confirming provisional memory entries', async (client) => {
          // Candidates, locked in one order (no deadlock between two sweeps); the margin of one
          // millisecond leaves the decision to isDueForAutoConfirm().
          const result = await client.query<{ entry_id: string; entry: unknown }>(
            `SELECT entry_id, entry FROM ${this.#entries}
             WHERE entry->>'status' = 'provisional' AND (entry->>'createdAt')::float8 < $1
             ORDER BY entry_id FOR UPDATE`,
            [at - DISPUTE_WINDOW_MS + 1],
          );
          const due = result.rows
            .map((row) => this.#rows.parse(row.entry_id, row.entry))
            .filter((entry) => isDueForAutoConfirm(entry, at));
          if (due.length === 0) return 0;
          const confirmed = due.map((entry) => ({ entry_id: entry.entryId, entry: { ...entry, status: 'confirmed' } }));
          await client.query(
            `UPDATE ${this.#entries} AS m SET entry = c.entry
             FROM jsonb_to_recordset($1::jsonb) AS c(entry_id text, entry jsonb) WHERE m.entry_id = c.entry_id`,
            [JSON.stringify(confirmed)],
          );
          return due.length;
        }),
      );
    });
  }

  /**
   * Closes the store: idempotent; resolves once the operations in flight settled. Afterwards
   * every method rejects with `StoreClosedError`. The database and its pool stay open (they are
   * the caller's: `createPostgresStores().close()` closes them).
   */
  close(): Promise<void> {
    return this.#life.close();
  }

  /** Writes an existing entry back, with the columns beside it. */
  async #put(client: PoolClient, entry: ProjectMemoryEntry): Promise<void> {
    await client.query(
      `UPDATE ${this.#entries} SET scope = $2, project_key = $3, entry = $4::jsonb WHERE entry_id = $1`,
      rowParams(entry),
    );
  }

  /** The clock's time, checked before anything is written: whole epoch ms up to the year 9999. */
  #now(): number {
    return readClock(this.#clock);
  }
}

/** `entry_id`, `scope`, `project_key`, `entry`: the columns always agree with the record. */
function rowParams(entry: ProjectMemoryEntry): unknown[] {
  return [entry.entryId, entry.scope, entry.projectKey ?? null, jsonbText(entry, `memory entry '${entry.entryId}'`)];
}
