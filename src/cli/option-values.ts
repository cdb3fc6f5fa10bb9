import type { OptionValues } from './command.js';
import { UsageError } from './usage-error.js';

/** A string option's value, or undefined. */
export function stringOption(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A non-negative integer option (`--after 12`), or undefined when it was not given. */
export function countOption(values: OptionValues, name: string): number | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`--${name} '${text}' is not a whole number (0 or more)`);
  }
  return Number(text);
}

/** A positive integer option (`--limit 50`), or undefined when it was not given. */
export function positiveOption(values: OptionValues, name: string): number | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) === 0) {
    throw new UsageError(`--${name} '${text}' is not a whole number of 1 or more`);
  }
  return Number(text);
}

/** An option that must be one of `allowed` (`--status running`), or undefined. */
export function choiceOption<T extends string>(
  values: OptionValues,
  name: string,
  allowed: readonly T[],
): T | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(text)) {
    throw new UsageError(`--${name} '${text}' is not one of: ${allowed.join(', ')}`);
  }
  return text as T;
}

/** A comma-separated list option (`--tags a,b`), blanks dropped; undefined when not given. */
export function listOption(values: OptionValues, name: string): string[] | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  const items = text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  if (items.length === 0) throw new UsageError(`--${name} needs at least one value, like --${name} a,b`);
  return items;
}
