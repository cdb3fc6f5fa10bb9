import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/** Mounting a size-limited tmpfs needs root (and Linux); tests that need one skip without it. */
export const canMountTmpfs = process.platform === 'linux' && process.getuid?.() === 0;

/** Why the real-disk tests were skipped, for the test's name and a console note. */
export const NO_TMPFS_REASON = 'needs root on Linux to mount a size-limited tmpfs';

/** A tmpfs of `size` (e.g. `'1m'`) mounted on a fresh directory. `unmount()` in afterAll. */
export function mountSmallDisk(size: string): { dir: string; unmount(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-stores-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  return {
    dir,
    unmount() {
      // Lazily: a store still holding a watch descriptor on a file would make a plain umount EBUSY.
      execFileSync('umount', ['-l', dir]);
      fs.rmdirSync(dir);
    },
  };
}

/** Fills the disk under `dir` with a file of zeros until only about `leave` bytes are free. */
export function fillDisk(dir: string, leave: number): string {
  const ballast = path.join(dir, 'ballast');
  const { bavail, bsize } = fs.statfsSync(dir);
  const size = Math.max(0, bavail * bsize - leave);
  fs.writeFileSync(ballast, Buffer.alloc(size));
  return ballast;
}

/**
 * A tmpfs of `size` mounted before the tests of the enclosing `describe` and unmounted after them.
 * Call inside the `describe`; read `disk.dir` in the tests.
 */
export function useSmallDisk(size: string): { readonly dir: string } {
  let disk: { dir: string; unmount(): void } | undefined;
  beforeAll(() => {
    disk = mountSmallDisk(size);
  });
  afterAll(() => disk?.unmount());
  return {
    get dir() {
      if (!disk) throw new Error('useSmallDisk: the disk is mounted in beforeAll; read dir inside a test');
      return disk.dir;
    },
  };
}
