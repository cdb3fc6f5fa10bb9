import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnalysisRunStore, StoreIOError } from '../../src/index.js';
import { diskThatTakes } from '../helpers/disk-that-fills.js';
import { canMountTmpfs, fillDisk, NO_TMPFS_REASON, useSmallDisk } from '../helpers/small-disk.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';

const BIG_RESULT = { text: 'x'.repeat(300_000) };

/** Completes a run with a result the disk cannot hold, then again once it can. */
async function completeOnFullDisk(dir: string, store: AnalysisRunStore, fill: () => void, free: () => void) {
  await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
  await store.start('r1');
  const run = await store.get('r1');
  fill();
  const before = snapshotFiles(dir);
  const error = await store.complete('r1', BIG_RESULT).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(StoreIOError);
  expect(error).toMatchObject({ code: 'IO', errno: 'ENOSPC', inDoubt: false });
  expect(snapshotFiles(dir)).toEqual(before);
  expect(await store.get('r1')).toEqual(run);
  free();
  expect((await store.complete('r1', BIG_RESULT)).status).toBe('completed');
  expect((await store.get('r1'))?.result).toEqual(BIG_RESULT);
}

if (!canMountTmpfs) console.log(`test/runs/full-disk.test.ts: real-disk case skipped (${NO_TMPFS_REASON})`);

describe.skipIf(!canMountTmpfs)(`AnalysisRunStore on a real 1 MiB tmpfs that fills up (${NO_TMPFS_REASON})`, () => {
  const disk = useSmallDisk('1m');

  it('refuses a run record that does not fit with StoreIOError ENOSPC, keeps the run as it was, and completes it once space is freed', async () => {
    const dir = path.join(disk.dir, 'analysis_runs');
    const store = new AnalysisRunStore({ dir });
    let ballast = '';
    await completeOnFullDisk(
      disk.dir,
      store,
      () => {
        ballast = fillDisk(disk.dir, 100_000);
      },
      () => fs.rmSync(ballast),
    );
    await store.close?.();
  });
});

describe('AnalysisRunStore on a disk that takes only part of a record (short write, any user)', () => {
  it('refuses the record with StoreIOError ENOSPC, keeps the run as it was, and completes it once space is freed', async () => {
    const root = tempDir();
    const disk = diskThatTakes(Number.POSITIVE_INFINITY);
    const store = new AnalysisRunStore({ dir: path.join(root, 'analysis_runs'), io: disk.io });
    await completeOnFullDisk(
      root,
      store,
      () => {
        disk.state.room = 100_000;
      },
      () => {
        disk.state.room = Number.POSITIVE_INFINITY;
      },
    );
    expect(disk.state.shortWrites).toBeGreaterThan(0);
    await store.close?.();
  });
});
