import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { StoreClosedError } from '../storage/errors.js';
import {
  openConnection,
  type PostgresConnection,
  type PostgresConnectionOptions,
  parseConnectionOptions,
} from './connection.js';
import { quoteIdent } from './identifiers.js';
import { migrate } from './migrate.js';
import { fromSqlError } from './sql-errors.js';

/** Heard while a transaction holds a client: the failed query reports the error. */
const ignoreClientError = (): void => {};

/** The tables of migration 1 (see migrations.ts). */
export type TableName =
  | 'event_logs'
  | 'events'
  | 'runs'
  | 'memory_entries'
  | 'memory_promotion_audit'
  | 'pipeline_entries'
  | 'stamps';

/**
 * One database as the PostgreSQL stores share it: the pool (opened on first use), the schema
 * (migrated on first use, once per instance), and the few ways the stores talk to it, each of
 * which turns driver errors into the library's typed errors.
 *
 * Nothing touches the network until the first query, so creating the stores is synchronous and
 * cheap, as `createStores()` is; bad options are refused at once.
 */
export class PostgresDatabase {
  /** The schema name, unquoted. */
  readonly schema: string;
  readonly #options: PostgresConnectionOptions;
  #connection: Promise<PostgresConnection> | undefined;
  #ready: Promise<Pool> | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  /** @throws ValidationError for bad options, before anything else happens. */
  constructor(options: PostgresConnectionOptions) {
    const parsed = parseConnectionOptions(options);
    this.schema = parsed.schema;
    this.#options = parsed.pool
      ? { pool: parsed.pool, schema: parsed.schema }
      : { connectionString: parsed.connectionString as string, schema: parsed.schema };
  }

  /** `schema.table`, quoted, for SQL text. */
  table(name: TableName): string {
    return `${quoteIdent(this.schema)}.${name}`;
  }

  /** The pool, once the schema is migrated. A failed attempt is retried by the next call. */
  pool(): Promise<Pool> {
    if (this.#closed) return Promise.reject(new StoreClosedError('PostgreSQL stores'));
    if (this.#ready === undefined) {
      const ready = (async () => {
        this.#connection ??= openConnection(this.#options);
        const connection = await this.#connection;
        await migrate({ pool: connection.pool, schema: this.schema });
        return connection.pool;
      })();
      // A failed attempt is forgotten, so that the next call tries again.
      ready.catch(() => {
        if (this.#ready === ready) this.#ready = undefined;
      });
      this.#ready = ready;
    }
    return this.#ready;
  }

  /** Runs one statement outside a transaction (autocommit). */
  async query<R extends QueryResultRow = QueryResultRow>(
    what: string,
    sql: string,
    params: readonly unknown[] = [],
  ): Promise<R[]> {
    const pool = await this.pool();
    try {
      return (await pool.query<R>(sql, params as unknown[])).rows;
    } catch (error) {
      // A lone statement that writes commits as it runs: a lost connection leaves it in doubt.
      throw fromSqlError(error, what, { inDoubt: !/^\s*select/i.test(sql) });
    }
  }

  /**
   * Runs `work` in a transaction on one client: `BEGIN`, `work`, `COMMIT`; `ROLLBACK` when `work`
   * throws. A commit whose connection is lost is reported `inDoubt`. A client whose transaction
   * did not end cleanly is not given back to the pool.
   */
  async transaction<T>(what: string, work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.connect(what);
    // A client whose server goes away mid-transaction emits 'error' besides failing its query;
    // the pool listens only while the client is idle, and an unheard 'error' ends the process.
    // The failed query still rejects, and is reported below.
    client.on('error', ignoreClientError);
    let committing = false;
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      committing = true;
      await client.query('COMMIT');
      return result;
    } catch (error) {
      if (!committing) {
        await client.query('ROLLBACK').catch((rollback: unknown) => {
          broken = rollback instanceof Error ? rollback : new Error(String(rollback));
        });
      } else {
        broken = error instanceof Error ? error : new Error(String(error));
      }
      throw fromSqlError(error, what, { inDoubt: committing });
    } finally {
      client.off('error', ignoreClientError);
      client.release(broken);
    }
  }

  /**
   * A client of its own (for `LISTEN`, say); the caller releases it, and must listen for its
   * `'error'` event while holding it (an unheard one ends the process).
   */
  async connect(what: string): Promise<PoolClient> {
    const pool = await this.pool();
    try {
      return await pool.connect();
    } catch (error) {
      throw fromSqlError(error, what);
    }
  }

  /**
   * The next value of a strictly increasing stamp for `store`, shared by every instance on the
   * database: `now`, or one more than the last stamp handed out when `now` is not past it. The
   * row lock it takes is held until `client`'s transaction ends, so stamps are ordered as their
   * transactions commit.
   */
  async stamp(client: PoolClient, store: string, now: number): Promise<number> {
    const result = await client.query<{ last_ms: string }>(
      `INSERT INTO ${this.table('stamps')} AS s (store, last_ms) VALUES ($1, $2)
       ON CONFLICT (store) DO UPDATE SET last_ms = GREATEST(s.last_ms + 1, EXCLUDED.last_ms)
       RETURNING last_ms`,
      [store, now],
    );
    return Number(result.rows[0]?.last_ms);
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Ends the pool when the library opened it (a caller's pool is left open). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      const connection = await this.#connection?.catch(() => undefined);
      await connection?.close();
    })();
    return this.#closing;
  }
}
