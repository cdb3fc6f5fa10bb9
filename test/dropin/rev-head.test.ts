import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ProjectMemoryStore } from '../../src/index.js';
import { nodeIO, type StorageIO } from '../../src/storage/io.js';
import { copyOfSeedLogs, FIXTURES, MEMORY_FILE } from './helpers.js';

// A writer under the lock does not trust a stat alone (an inode number and a timestamp can be
// reused): it also compares the revision at the head of the file with the one it cached. These
// tests make every version of the file look the same to stat, so only that comparison is left.
const sameToStat: StorageIO = {
  ...nodeIO,
  identify: (file) => (fs.existsSync(file) ? { ino: 1, size: 1, mtimeMs: 1, ctimeMs: 1 } : undefined),
  watch: undefined,
};

const seed = JSON.parse(fs.readFileSync(`${FIXTURES}/${MEMORY_FILE}`, 'utf8'));
const extra = {
  entryId: 'written-by-the-old-code',
  scope: 'project',
  tags: [],
  insight: 'x',
  confidence: 0.5,
  status: 'provisional',
  createdAt: 1,
};

/** What the implementation agent-stores replaces writes: its three keys, pretty-printed, no revision. */
function oldCodeWrites(file: string, doc: { entries: unknown[]; promotionAudit: unknown[] }): void {
  fs.writeFileSync(
    file,
    JSON.stringify({ schemaVersion: 1, entries: doc.entries, promotionAudit: doc.promotionAudit }, null, 2),
  );
}

describe('the revision check of a writer under the lock, with files it did not write', () => {
  it("sees the old implementation's rewrite of a file it read before (neither has a revision)", async () => {
    const { memoryFile } = copyOfSeedLogs();
    const store = new ProjectMemoryStore({ path: memoryFile, io: sameToStat });
    expect(await store.list()).toHaveLength(11);
    oldCodeWrites(memoryFile, { ...seed, entries: [...seed.entries, extra] });
    await store.save({ entryId: 'mine', scope: 'project', insight: 'y', confidence: 0.5 });
    const ids = JSON.parse(fs.readFileSync(memoryFile, 'utf8')).entries.map((e: { entryId: string }) => e.entryId);
    expect(ids).toContain('written-by-the-old-code');
    expect(ids).toContain('mine');
    expect(ids).toHaveLength(13);
  });

  it("sees the old implementation's rewrite of a file agent-stores wrote (revision 1, then none)", async () => {
    const { memoryFile } = copyOfSeedLogs();
    const store = new ProjectMemoryStore({ path: memoryFile, io: sameToStat });
    await store.save({ entryId: 'mine', scope: 'project', insight: 'y', confidence: 0.5 });
    const ours = JSON.parse(fs.readFileSync(memoryFile, 'utf8'));
    oldCodeWrites(memoryFile, { ...ours, entries: [...ours.entries, extra] });
    await store.save({ entryId: 'mine-too', scope: 'project', insight: 'z', confidence: 0.5 });
    const ids = JSON.parse(fs.readFileSync(memoryFile, 'utf8')).entries.map((e: { entryId: string }) => e.entryId);
    expect(ids).toEqual(expect.arrayContaining(['written-by-the-old-code', 'mine', 'mine-too']));
    expect(ids).toHaveLength(14);
  });

  it('is not fooled by a "rev" key inside the first entry of a compact file without a revision', async () => {
    const { memoryFile } = copyOfSeedLogs();
    const compact = (entries: unknown[]) =>
      `{"schemaVersion":1,"entries":[${entries.map((e) => JSON.stringify({ rev: 0, ...(e as object) })).join(',')}],"promotionAudit":[]}`;
    fs.writeFileSync(memoryFile, compact([seed.entries[1]]));
    expect(fs.readFileSync(memoryFile, 'utf8').slice(0, 64)).toContain('"rev":0');
    const store = new ProjectMemoryStore({ path: memoryFile, io: sameToStat });
    expect(await store.list()).toHaveLength(1);
    fs.writeFileSync(memoryFile, compact([seed.entries[1], extra]));
    await store.save({ entryId: 'mine', scope: 'project', insight: 'y', confidence: 0.5 });
    const ids = JSON.parse(fs.readFileSync(memoryFile, 'utf8')).entries.map((e: { entryId: string }) => e.entryId);
    expect(ids).toEqual(['mem-1', 'written-by-the-old-code', 'mine']);
  });
});
