import type { Pool } from 'pg';
import { z } from 'zod';
import { parseOptions } from '../storage/validate.js';
import { loadPg } from './driver.js';
import { DEFAULT_SCHEMA, SchemaNameSchema } from './identifiers.js';

/** Where the stores keep their tables. */
export type PostgresConnectionOptions = (
  | {
      /**
       * A node-postgres pool the caller owns: the library borrows clients from it and never
       * ends it.
       */
      pool: Pool;
      connectionString?: undefined;
    }
  | {
      /** A `postgres://` URL; the library opens a pool of its own and ends it on close. */
      connectionString: string;
      pool?: undefined;
    }
) & {
  /**
   * The schema holding the library's tables, created when missing. Lower-case letters, digits
   * and `_` (see `SCHEMA_NAME_PATTERN`). Default `agent_stores`.
   */
  schema?: string;
};

const PoolSchema = z.custom<Pool>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Pool).connect === 'function' &&
    typeof (value as Pool).query === 'function',
  'pool must be a node-postgres Pool (new pg.Pool(...))',
);

const ConnectionOptionsSchema = z
  .object({
    pool: PoolSchema.optional(),
    connectionString: z.string().min(1).optional(),
    schema: SchemaNameSchema.default(DEFAULT_SCHEMA),
  })
  .refine((options) => (options.pool === undefined) !== (options.connectionString === undefined), {
    message: 'give exactly one of pool and connectionString',
  });

/** The connection options, checked: exactly one of `pool` and `connectionString`, and the schema name with its default. */
export interface ParsedConnectionOptions {
  pool?: Pool | undefined;
  connectionString?: string | undefined;
  schema: string;
}

/**
 * Checks connection options without touching the network or loading `pg`.
 *
 * @throws ValidationError for a bad schema name, or for both or neither of `pool` and `connectionString`.
 */
export function parseConnectionOptions(options: PostgresConnectionOptions): ParsedConnectionOptions {
  return parseOptions(ConnectionOptionsSchema, options, 'PostgreSQL connection options');
}

/** A pool to use and whether closing the connection ends it. */
export interface PostgresConnection {
  readonly pool: Pool;
  /** The validated schema name (not quoted). */
  readonly schema: string;
  /** Ends the pool when the library opened it; leaves a caller's pool alone. Idempotent. */
  close(): Promise<void>;
}

/**
 * Checks `options` and opens the connection they describe. Everything is validated before `pg` is
 * loaded or any SQL is sent.
 *
 * @throws ValidationError for a bad schema name, or for both or neither of `pool` and `connectionString`.
 * @throws StoreIOError when `pg` is not installed.
 */
export async function openConnection(options: PostgresConnectionOptions): Promise<PostgresConnection> {
  const parsed = parseConnectionOptions(options);
  if (parsed.pool !== undefined) {
    return { pool: parsed.pool, schema: parsed.schema, close: async () => {} };
  }
  const pg = await loadPg();
  const pool = new pg.Pool({ connectionString: parsed.connectionString });
  // An idle client whose server went away emits 'error' on the pool; without a listener that
  // would crash the process. The next query reports the failure instead.
  pool.on('error', () => {});
  let ended: Promise<void> | undefined;
  return {
    pool,
    schema: parsed.schema,
    close: () => (ended ??= pool.end()),
  };
}
