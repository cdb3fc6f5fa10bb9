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
