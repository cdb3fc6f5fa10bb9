import { z } from 'zod';

/**
 * A schema name the library accepts: lower-case letters, digits and `_`, a letter or `_` first,
 * at most 63 characters (PostgreSQL's limit), not starting with `pg_` (reserved for the system).
 * Lower case only, so that the name means the same quoted and unquoted in psql.
 */
export const SCHEMA_NAME_PATTERN = /^(?!pg_)[a-z_][a-z0-9_]{0,62}$/;

/** The schema used when none is given. */
export const DEFAULT_SCHEMA = 'agent_stores';

/** A schema name, checked against {@link SCHEMA_NAME_PATTERN}. */
export const SchemaNameSchema = z
  .string()
  .regex(
    SCHEMA_NAME_PATTERN,
    'use 1 to 63 characters of a-z 0-9 _, starting with a letter or _ (and not with pg_), e.g. agent_stores',
  );

/**
 * `name` as a quoted SQL identifier. Names are checked before they get here; quoting as well
 * means a name is never read as SQL whatever it holds.
 */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
