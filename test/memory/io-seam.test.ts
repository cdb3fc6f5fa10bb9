import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProjectMemoryStore } from '../../src/memory/index.js';
import { diskThatFills } from '../helpers/disk-that-fills.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';
import { projectEntry } from './helpers.js';

describe('ProjectMemoryStore with the io option', () => {
  it('makes a ProjectMemoryStore save fail with code IO on a full disk, changing no file, and work again after', async () => {
    const dir = tempDir();
    const { io, state } = diskThatFills();
    const store = new ProjectMemoryStore({ path: path.join(dir, 'analysis_project_memory.json'), io });
    await store.save(projectEntry('m1'));
    const before = snapshotFiles(dir);
    state.full = true;
    await expect(store.save(projectEntry('m2'))).rejects.toMatchObject({ code: 'IO' });
    expect(snapshotFiles(dir)).toEqual(before);
    expect(await store.get('m2')).toBeUndefined();
    state.full = false;
    await store.save(projectEntry('m2'));
    expect((await store.list()).map((e) => e.entryId)).toEqual(['m1', 'm2']);
  });
});
