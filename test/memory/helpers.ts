import * as path from 'node:path';
import { type MemoryStore, type ProjectMemoryInput, ProjectMemoryStore } from '../../src/memory/index.js';
import type { ManualClock } from '../helpers/manual-clock.js';
import { tempDir } from '../helpers/tmp.js';

/** Opens a memory store, empty, on the clock given: what a conformance suite runs against. */
export type OpenMemoryStore = (clock: ManualClock) => MemoryStore;

/** The two backends of this folder that every conformance suite runs against (PostgreSQL's are in test/postgres/). */
export const memoryBackends: [string, OpenMemoryStore][] = [
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
