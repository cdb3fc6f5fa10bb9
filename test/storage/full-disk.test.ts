import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProjectMemoryStore } from '../../src/memory/index.js';
import { acquireLock, lockPathOf, nodeIOWith, openDocument, StoreIOError } from '../../src/storage/index.js';
import { diskThatTakes } from '../helpers/disk-that-fills.js';
import { itemFormat } from '../helpers/item-format.js';
import { canMountTmpfs, fillDisk, NO_TMPFS_REASON, useSmallDisk } from '../helpers/small-disk.js';
import { tempDir } from '../helpers/tmp.js';

const entry = (entryId: string, insight: string) => ({
  entryId,
  scope: 'project' as const,
  projectKey: 'p',
  tags: ['t'],
  insight,
  confidence: 0.5,
});

if (!canMountTmpfs) console.log(`test/storage/full-disk.test.ts: real-disk cases skipped (${NO_TMPFS_REASON})`);

describe.skipIf(!canMountTmpfs)(
  `a JSON store and its lock on a real 1 MiB tmpfs that fills up (${NO_TMPFS_REASON})`,
  () => {
    const disk = useSmallDisk('1m');

    it('rejects a save that does not fit with StoreIOError ENOSPC, keeps every earlier entry and works once space is freed', async () => {
      const file = path.join(disk.dir, 'analysis_project_memory.json');
      const store = new ProjectMemoryStore({ path: file, clock: () => 1_700_000_000_000 });
      for (let i = 0; i < 5; i++) await store.save(entry(`e${i}`, `insight ${i}`));
      const bytes = fs.readFileSync(file);
      const ballast = fillDisk(disk.dir, 100_000);

      const error = await store.save(entry('big', 'x'.repeat(300_000))).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreIOError);
      expect(error).toMatchObject({ code: 'IO', errno: 'ENOSPC', inDoubt: false });
      expect(fs.readFileSync(file)).toEqual(bytes);
      expect(fs.readdirSync(disk.dir).sort()).toEqual(['analysis_project_memory.json', 'ballast']);
      const fresh = new ProjectMemoryStore({ path: file });
      expect((await fresh.list()).map((e) => e.entryId)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4']);
      expect((await store.list()).map((e) => e.entryId)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4']);

      fs.rmSync(ballast);
      await store.save(entry('big', 'x'.repeat(300_000)));
      expect((await fresh.get('big'))?.insight).toHaveLength(300_000);
    });

    it('refuses with StoreIOError when the owner record does not fit, leaves no lock, and locks once space is freed', async () => {
      const file = path.join(disk.dir, 'data.json');
      const ballast = fillDisk(disk.dir, 0);
      // A directory takes no data block on tmpfs: the lock directory is made, its owner record is not.
      const error = await acquireLock(file, { waitMs: 0, staleMs: 60_000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreIOError);
      expect(error).toMatchObject({ code: 'IO', errno: 'ENOSPC' });
      expect(fs.existsSync(lockPathOf(file))).toBe(false);

      fs.rmSync(ballast);
      const held = await acquireLock(file, { waitMs: 0, staleMs: 60_000 });
      await held.release();
      expect(fs.existsSync(lockPathOf(file))).toBe(false);
    });
  },
);

describe('atomic replace on a disk that takes only part of the bytes (short write, any user)', () => {
  it('rejects with StoreIOError ENOSPC and leaves the old file and no temp file', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'doc.json');
    const disk = diskThatTakes(Number.POSITIVE_INFINITY);
    const doc = openDocument(itemFormat, { file, io: disk.io });
    await doc.mutate((tx) => tx.put('a', { id: 'a', n: 1 }));
    const bytes = fs.readFileSync(file);

    disk.state.room = 40;
    const error = await doc.mutate((tx) => tx.put('b', { id: 'b', n: 2 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreIOError);
    expect(error).toMatchObject({ code: 'IO', errno: 'ENOSPC' });
    expect(disk.state.shortWrites).toBe(1);
    expect(fs.readFileSync(file)).toEqual(bytes);
    expect(fs.readdirSync(dir).filter((name) => !name.endsWith('.lock'))).toEqual(['doc.json']);
    expect([...(await openDocument(itemFormat, { file }).read()).entries.keys()]).toEqual(['a']);

    disk.state.room = Number.POSITIVE_INFINITY;
    await doc.mutate((tx) => tx.put('b', { id: 'b', n: 2 }));
    expect([...(await openDocument(itemFormat, { file }).read()).entries.keys()]).toEqual(['a', 'b']);
  });

  it('keeps writing after a short count while the disk has room (a write may return fewer bytes)', async () => {
    const file = path.join(tempDir(), 'doc.json');
    const io = nodeIOWith({
      write: (fd, buffer, offset, length) => fs.writeSync(fd, buffer, offset, Math.min(length, 7)),
    });
    const doc = openDocument(itemFormat, { file, io });
    await doc.mutate((tx) => tx.put('a', { id: 'a', n: 1 }));
    expect([...(await openDocument(itemFormat, { file }).read()).entries.keys()]).toEqual(['a']);
  });
});
