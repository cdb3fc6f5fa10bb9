import type { PoolClient } from 'pg';
import type { z } from 'zod';
import type { PostgresDatabase, TableName } from './database.js';
import { holdsNul } from './jsonb.js';
import { parseStoredRow } from './stored-row.js';

/**
 * The rows of a table that keeps one record per `entry_id` in its `entry` jsonb column (memory
 * entries, pipeline entries): the reads and the row lock both stores do the same way, each record
 * checked with `schema` as it comes back.
 */
export class EntryRows<T> {
  /** The quoted `schema.table`, for SQL text. */
  readonly table: string;
  readonly #db: PostgresDatabase;
  readonly #schema: z.ZodType<T>;
  readonly #noun: string;

  /** @param noun - how messages name a record: `'memory entry'`. */
  constructor(database: PostgresDatabase, table: TableName, schema: z.ZodType<T>, noun: string) {
    this.#db = database;
    this.table = database.table(table);
    this.#schema = schema;
    this.#noun = noun;
  }

  /** The record, or `undefined` when there is none with this id. */
  async get(entryId: string): Promise<T | undefined> {
    if (holdsNul(entryId)) return undefined;
    const rows = await this.#db.query<{ entry: unknown }>(
      `reading ${this.#noun} '${entryId}'`,
      `SELECT entry FROM ${this.table} WHERE entry_id = $1`,
      [entryId],
    );
    return rows[0] && this.parse(entryId, rows[0].entry);
  }

  /** The records of the rows `where` keeps (SQL text over the table's columns, with `params`). */
  async select(what: string, where: string, params: readonly unknown[]): Promise<T[]> {
    const rows = await this.#db.query<{ entry_id: string; entry: unknown }>(
      what,
      `SELECT entry_id, entry FROM ${this.table} WHERE ${where}`,
      params,
    );
    return rows.map((row) => this.parse(row.entry_id, row.entry));
  }

  /** Deletes the row: `true` when there was one. */
  async remove(entryId: string): Promise<boolean> {
    if (holdsNul(entryId)) return false;
    const rows = await this.#db.query(
      `removing ${this.#noun} '${entryId}'`,
      `DELETE FROM ${this.table} WHERE entry_id = $1 RETURNING entry_id`,
      [entryId],
    );
    return rows.length > 0;
  }

  /** The record, its row locked until `client`'s transaction ends, or `undefined`. */
  async lock(client: PoolClient, entryId: string): Promise<T | undefined> {
    if (holdsNul(entryId)) return undefined;
    const result = await client.query<{ entry: unknown }>(
      `SELECT entry FROM ${this.table} WHERE entry_id = $1 FOR UPDATE`,
      [entryId],
    );
    const row = result.rows[0];
    return row && this.parse(entryId, row.entry);
  }

  /** A record as read back, checked with the schema (CorruptStoreError naming the row otherwise). */
  parse(entryId: string, value: unknown): T {
    return parseStoredRow(this.#schema, value, `${this.#noun} '${entryId}' in ${this.table}`);
  }
}
