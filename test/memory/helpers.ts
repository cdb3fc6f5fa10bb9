import * as path from 'node:path';
import { type ProjectMemoryInput, ProjectMemoryStore } from '../../src/memory/index.js';
import { tempDir } from '../helpers/tmp.js';

/** A clock the test moves by hand. */
export function manualClock(start = 1_700_000_000_000) {
  let now = start;
  const clock = () => now;
  return Object.assign(clock, {
    set(value: number) {
      now = value;
    },
    advance(ms: number) {
      now += ms;
    },
  });
}

export type ManualClock = ReturnType<typeof manualClock>;

/** The two backends every conformance test runs against. */
export const memoryBackends: [string, (clock: ManualClock) => ProjectMemoryStore][] = [
  ['file', (clock) => new ProjectMemoryStore({ path: path.join(tempDir(), 'memory.json'), clock })],
  ['in-memory', (clock) => ProjectMemoryStore.inMemory({ clock })],
];

/** A valid project entry, with whatever the test overrides. */
export function projectEntry(entryId: string, overrides: Partial<ProjectMemoryInput> = {}): ProjectMemoryInput {
  return {
    entryId,
    scope: 'project',
    projectKey: 'proj-a',
    tags: ['cpu'],
    insight: `insight of ${entryId}`,
    confidence: 0.5,
    ...overrides,
  };
}

/** A valid world entry (with the promotion policy a world entry needs). */
export function worldEntry(entryId: string, overrides: Partial<ProjectMemoryInput> = {}): ProjectMemoryInput {
  return {
    entryId,
    scope: 'world',
    tags: ['cpu'],
    insight: `insight of ${entryId}`,
    confidence: 0.5,
    promotionPolicy: {
      fromScope: 'project',
      toScope: 'world',
      trigger: 'reviewer_approval',
      reviewer: 'ana',
      promotedAt: 1,
    },
    ...overrides,
  };
}
