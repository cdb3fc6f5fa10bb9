import { InvalidIdError } from './errors.js';

/** The rule for ids that name files: 1–128 characters, a letter or digit first, then letters, digits, `.`, `_`, `-`. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** True when `id` may name a file. */
export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id);
}

/** Throws {@link InvalidIdError} unless `id` matches {@link ID_PATTERN}. Call before touching any file. */
export function assertValidId(id: unknown, what = 'id'): asserts id is string {
  if (!isValidId(id)) throw new InvalidIdError(id, what);
}
