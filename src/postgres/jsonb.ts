import { ValidationError } from '../storage/errors.js';

/** A JSON text holding an escaped U+0000 (an even run of backslashes before it is not an escape). */
const ESCAPED_NUL = /(?:^|[^\\])(?:\\\\)*\\u0000/;

/**
 * True when `text` holds U+0000, which PostgreSQL cannot store in `text` or `jsonb`: no row can
 * have such an id, so a lookup by it finds nothing without asking the server (which would refuse it).
 */
export function holdsNul(text: string): boolean {
  return text.includes('\u0000');
}

/**
 * `record` as the JSON text of a `jsonb` parameter.
 * @throws ValidationError when a string in it holds U+0000 (the file stores keep it; PostgreSQL
 *   refuses it), before anything is sent.
 */
export function jsonbText(record: unknown, what: string): string {
  const text = JSON.stringify(record);
  if (ESCAPED_NUL.test(text)) {
    throw new ValidationError(
      `${what} holds the character U+0000, which PostgreSQL cannot store in text or jsonb; remove it (nothing was written)`,
    );
  }
  return text;
}
