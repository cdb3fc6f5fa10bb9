import { randomBytes } from 'node:crypto';

/**
 * A generated run id: `run-<stamp>-<random>`, the stamp as 9 base-36 digits (fixed width, so ids
 * sort by creation time as plain strings) and 8 random hex digits against collisions between
 * processes. It matches the id rule.
 */
export function newRunId(stamp: number): string {
  return `run-${stamp.toString(36).padStart(9, '0')}-${randomBytes(4).toString('hex')}`;
}
