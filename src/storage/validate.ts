import type { z } from 'zod';
import { ValidationError } from './errors.js';

/**
 * Parses `input` with `schema`, turning zod's error into a {@link ValidationError} whose message
 * names every bad field. Stores call this before any file is touched.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  return verdict(schema.safeParse(input), what);
}

/**
 * {@link parseInput} for options and filters: inputs a process parses once or now and then (a
 * constructor's options, a list filter, a timer's settings). zod's first parse of an object
 * schema compiles a parser for it with `new Function`, which pays back only over many parses;
 * here it would be most of the cost of opening the stores in a fresh process (a CLI command).
 * The verdict is the same: `jitless` takes zod's reference path.
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  return verdict(schema.safeParse(input, { jitless: true }), what);
}

function verdict<T>(result: z.ZodSafeParseResult<T>, what: string): T {
  if (result.success) return result.data;
  throw new ValidationError(`invalid ${what}: ${describeIssues(result.error.issues, 5)}`, result.error.issues);
}

/** The first `max` of zod's issues as `path: message; …`, for an error message. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], max: number): string {
  return issues
    .slice(0, max)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

/** A value as JSON: the text stored, and the value a reader parses back from it. */
export interface JsonValue {
  /** Deep-equal to `JSON.parse(text)`, and shares no object with the caller's value. */
  value: unknown;
  text: string;
}

/** A part of a value that JSON would change silently or cannot hold, with where it is. */
class NotJson extends Error {
  readonly path: (string | number)[] = [];
}

const OBJECT_PROTOTYPE = Object.prototype;

/** What a value is, for an error message. */
function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  if (typeof value === 'bigint') return 'a BigInt';
  if (typeof value === 'number') return `the number ${value}`;
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name !== '' ? `a ${name}` : 'an object that is not a plain object';
}

/**
 * The copy of `value` that `JSON.parse(JSON.stringify(value))` would give, or a {@link NotJson}.
 * `key` is what `toJSON` is called with; `ancestors` detects cycles.
 */
function copyJson(value: unknown, key: string, ancestors: object[], callToJson: boolean): unknown {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new NotJson(describe(value));
      return value === 0 ? 0 : value; // -0 reads back as 0
    case 'object':
      break;
    default:
      throw new NotJson(describe(value));
  }
  const object = value as Record<string, unknown>;
  if (callToJson && typeof object.toJSON === 'function') {
    // As JSON.stringify does: the result stands for the object, its own toJSON is not called.
    return copyJson((object.toJSON as (key: string) => unknown)(key), key, ancestors, false);
  }
  if (ancestors.includes(object)) throw new NotJson('a cycle (a value that contains itself)');
  ancestors.push(object);
  let copy: unknown[] | Record<string, unknown>;
  let at: string | number | undefined;
  try {
    if (Array.isArray(object)) {
      const length = object.length;
      const array = new Array<unknown>(length);
      for (let i = 0; i < length; i++) {
        at = i;
        const item = object[i];
        // A hole or undefined in an array reads back as null.
        array[i] = item === undefined ? null : copyJson(item, String(i), ancestors, true);
      }
      copy = array;
    } else {
      const prototype = Object.getPrototypeOf(object);
      if (prototype !== OBJECT_PROTOTYPE && prototype !== null) throw new NotJson(describe(object));
      const record: Record<string, unknown> = {};
      for (const name of Object.keys(object)) {
        at = name;
        const item = object[name];
        // JSON drops the key: the reader does not see it, so neither does the copy.
        if (item === undefined) continue;
        const itemCopy = copyJson(item, name, ancestors, true);
        if (name === '__proto__') {
          Object.defineProperty(record, name, {
            value: itemCopy,
            writable: true,
            enumerable: true,
            configurable: true,
          });
        } else {
          record[name] = itemCopy;
        }
      }
      copy = record;
    }
  } catch (error) {
    if (error instanceof NotJson && at !== undefined) error.path.unshift(at);
    throw error;
  }
  ancestors.pop();
  return copy;
}

function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const part of path) {
    out +=
      typeof part === 'number'
        ? `[${part}]`
        : /^[A-Za-z_$][\w$]*$/.test(part)
          ? `.${part}`
          : `[${JSON.stringify(part)}]`;
  }
  return out;
}

/**
 * Checks that `value` is JSON data and returns it as stored and as read back. JSON data is `null`,
 * strings, booleans, finite numbers, arrays and plain objects (prototype `Object.prototype` or
 * `null`) of JSON data; an object with a `toJSON` method (a `Date`, say) stands for what that
 * method returns, as in `JSON.stringify`. An `undefined` property is left out (a reader does not
 * see the key) and an `undefined` array item becomes `null`, as JSON does; `-0` becomes `0`.
 *
 * Everything JSON would change into something else or drop silently is refused: functions,
 * symbols, BigInt, NaN and ±Infinity, cycles, and instances of classes without `toJSON` (`Map`,
 * `Set`, `Error`, typed arrays, boxed primitives…), wherever they are in the value.
 *
 * @throws ValidationError naming `what` and where in the value the offending part is.
 */
export function toJsonValue(value: unknown, what: string): JsonValue {
  let copy: unknown;
  try {
    copy = copyJson(value, '', [], true);
  } catch (error) {
    if (error instanceof NotJson) {
      const where = error.path.length > 0 ? ` at ${formatPath(error.path)}` : '';
      throw new ValidationError(
        `${what} is not JSON data: it holds ${error.message}${where}, which JSON would drop or change. Convert it to plain objects, arrays, strings, finite numbers, booleans or null`,
      );
    }
    if (error instanceof RangeError) throw new ValidationError(`${what} is nested too deeply to be stored as JSON`);
    // A toJSON method or getter that threw.
    throw new ValidationError(`${what} could not be converted to JSON: ${(error as Error).message}`);
  }
  if (copy === undefined) throw new ValidationError(`${what} is not JSON data (undefined)`);
  return { value: copy, text: JSON.stringify(copy) };
}

/**
 * The JSON text of `value`, checked as {@link toJsonValue} does (so that what is stored is what
 * the caller gave). Returns the text so callers need not stringify twice.
 *
 * @throws ValidationError when `value` is not JSON data.
 */
export function toJsonText(value: unknown, what: string): string {
  return toJsonValue(value, what).text;
}
