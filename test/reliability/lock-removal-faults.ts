import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

/**
 * Makes the disk refuse to remove lock directories, as a file system that went read-only or
 * returns EIO does: `rmdirSync`, `unlinkSync` and `rmSync` on a path inside a `*.lock` directory
 * (or the directory itself) throw `code`, everything else works. The failure is installed in
 * node:fs itself (its ES module exports resynchronised), below the library and below
 * proper-lockfile, so nothing of ours is bypassed. Returns the function that heals the disk.
 */
export function refuseLockRemoval(code = 'EIO'): () => void {
  const saved = { rmdirSync: fs.rmdirSync, unlinkSync: fs.unlinkSync, rmSync: fs.rmSync };
  const refused = (target: fs.PathLike) => /\.lock(?:$|[\\/])/.test(String(target));
  const fail = (syscall: string, target: fs.PathLike): never => {
    throw Object.assign(new Error(`${code}: i/o error, ${syscall} '${String(target)}'`), {
      code,
      syscall,
      path: String(target),
    });
  };
  fs.rmdirSync = ((target: fs.PathLike, ...rest: unknown[]) =>
    refused(target)
      ? fail('rmdir', target)
      : (saved.rmdirSync as (...args: unknown[]) => void)(target, ...rest)) as typeof fs.rmdirSync;
  fs.unlinkSync = ((target: fs.PathLike) =>
    refused(target) ? fail('unlink', target) : saved.unlinkSync(target)) as typeof fs.unlinkSync;
  fs.rmSync = ((target: fs.PathLike, ...rest: unknown[]) =>
    refused(target)
      ? fail('rm', target)
      : (saved.rmSync as (...args: unknown[]) => void)(target, ...rest)) as typeof fs.rmSync;
  syncBuiltinESMExports();
  return () => {
    Object.assign(fs, saved);
    syncBuiltinESMExports();
  };
}
