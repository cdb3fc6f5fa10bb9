import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProjectMemoryStore } from '../../src/memory/index.js';
import { descriptorsOn } from '../helpers/descriptors.js';
import { tempDir } from '../helpers/tmp.js';
import { memoryBackends, projectEntry } from './helpers.js';
import { describeMemoryCloseConformance } from './lifecycle.conformance.js';

for (const [label, open] of memoryBackends) describeMemoryCloseConformance(label, open);

describe('ProjectMemoryStore.close() on a file', () => {
  it('leaves the writes made before it on disk for the next instance', async () => {
    const file = path.join(tempDir(), 'analysis_project_memory.json');
    const store = new ProjectMemoryStore({ path: file });
    const pending = store.save(projectEntry('a'));
    await store.close();
    await pending;
    expect((await new ProjectMemoryStore({ path: file }).get('a'))?.entryId).toBe('a');
  });

  it.skipIf(process.platform !== 'linux')('releases the descriptor it held on the file (Linux /proc)', async () => {
    const file = path.join(tempDir(), 'analysis_project_memory.json');
    const store = new ProjectMemoryStore({ path: file });
    await store.save(projectEntry('a'));
    await store.get('a');
    expect(descriptorsOn(file)).toBe(1);
    await store.close();
    expect(descriptorsOn(file)).toBe(0);
  });
});
