import type { z } from 'zod';
import { CorruptStoreError } from '../storage/errors.js';
import { describeIssues } from '../storage/validate.js';

/**
 * The record kept in a row's `jsonb` column, checked with the schema the file stores check their
 * files with: a row written by hand, by another tool or by a newer version of the library that
 * does not fit is reported, never handed out as if it did.
 *
 * @param where - the row, for the message (`memory entry 'm1' in "agent_stores".memory_entries`).
 * @throws CorruptStoreError naming the row and what is wrong with it; the row is left as it is.
 */
export function parseStoredRow<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const reason = describeIssues(result.error.issues, 3);
  const error = new CorruptStoreError(where, reason);
  // The file advice (quarantine, restore the file) does not apply to a row.
  error.message = `${where} cannot be read (${reason}); it was left as it is. Fix the row's record by hand or restore it from a backup: every operation that reads it fails until then`;
  throw error;
}
