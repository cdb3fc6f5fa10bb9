import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeIO, type StorageIO } from '../../src/index.js';
import { ProjectMemoryStore } from '../../src/memory/index.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';
import { projectEntry } from './helpers.js';

/** The real file system, except that writes fail with ENOSPC while `full` is set. */
function diskThatFills() {
  const state = { full: false };
  const io: StorageIO = {
    ...nodeIO,
    async writeAtomic(file, data, options) {
      if (state.full) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      return nodeIO.writeAtomic(file, data, options);
    },
  };
  return { io, state };
}

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
