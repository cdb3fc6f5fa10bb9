import type { z } from 'zod';
import { ValidationError } from './errors.js';

/**
 * Parses `input` with `schema`, turning zod's error into a {@link ValidationError} whose message
 * names every bad field. Stores call this before any file is touched.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const detail = result.error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
  throw new ValidationError(`invalid ${what}: ${detail}`, result.error.issues);
}

/**
 * Checks that `value` survives JSON: no cycles, BigInt, functions, symbols or undefined at the
 * top level, no non-finite numbers. Returns the serialised text so callers need not stringify twice.
 */
export function toJsonText(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'number' && !Number.isFinite(v)) throw new TypeError(`non-finite number ${v}`);
      return v;
    });
  } catch (error) {
    throw new ValidationError(`${what} is not JSON-serialisable: ${(error as Error).message}`);
  }
  if (text === undefined) throw new ValidationError(`${what} is not JSON-serialisable (${typeof value})`);
  return text;
}
