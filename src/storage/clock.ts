import { ValidationError } from './errors.js';

/** A source of time in epoch milliseconds. Inject one in tests instead of sleeping. */
export type Clock = () => number;

/** The wall clock. */
export const systemClock: Clock = () => Date.now();

/**
 * The next value of a strictly increasing stamp: the clock's time, or one more than the
 * highest stamp ever issued when the clock has not moved past it (same millisecond, or a clock
 * that stepped back).
 */
export function nextStamp(highWater: number, now: number): number {
  return now > highWater ? now : highWater + 1;
}

/** The latest instant a clock may report: the last millisecond of the year 9999. */
export const MAX_CLOCK_MS = 253_402_300_799_999;

/**
 * Checks one clock reading before anything is stamped with it: a whole number of epoch
 * milliseconds from 0 to {@link MAX_CLOCK_MS}. A fractional, negative, non-finite or huge
 * reading would be written into records that no reader accepts (or that pin a monotonic
 * high-water mark for good), so it is refused and nothing is written.
 *
 * @throws ValidationError naming `what` and the bad value.
 */
export function checkClockReading(value: unknown, what = 'clock() result'): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_CLOCK_MS) return value;
  throw new ValidationError(
    `${what} ${String(value)} is not a time: a clock must return whole epoch milliseconds from 0 to ${MAX_CLOCK_MS} (Date.now() does); nothing was written`,
  );
}

/** Reads `clock` once and checks the reading with {@link checkClockReading}. */
export function readClock(clock: Clock, what = 'clock() result'): number {
  return checkClockReading(clock(), what);
}
