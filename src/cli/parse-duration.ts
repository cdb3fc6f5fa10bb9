import { UsageError } from './usage-error.js';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * Milliseconds from a duration such as `500ms`, `90s`, `15m`, `12h` or `7d`.
 * A unit is required: a bare number is ambiguous, and a wrong guess here deletes data.
 */
export function parseDuration(text: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match)
    throw new UsageError(`${option} '${text}' is not a duration: use a number and a unit, like 90s, 15m, 12h or 7d`);
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  if (!Number.isSafeInteger(Math.round(ms))) throw new UsageError(`${option} '${text}' is too large`);
  return Math.round(ms);
}

/** `90s`, `15m`, `7d`: the shortest exact way to write `ms`, for messages. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', UNIT_MS.d],
    ['h', UNIT_MS.h],
    ['m', UNIT_MS.m],
    ['s', UNIT_MS.s],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
