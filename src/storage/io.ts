import * as fs from 'node:fs';
import * as path from 'node:path';
import writeFileAtomic from 'write-file-atomic';

/** The identity of a file version, cheap to read (one `stat`), used to revalidate caches. */
export interface FileIdentity {
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

/**
 * Every file operation the storage core performs, in one seam. Production code uses
 * {@link nodeIO}; reliability tests pass a wrapper that fails chosen steps (ENOSPC, EIO, a crash
 * between writing and renaming) without patching Node globally.
 */
export interface StorageIO {
  /** The file's bytes, or `undefined` when it does not exist. */
  readFile(file: string): Promise<Buffer | undefined>;
  /** The file's identity, or `undefined` when it does not exist. Synchronous: it is on the read path. */
  identify(file: string): FileIdentity | undefined;
  /** Up to `bytes` bytes from the start of the file, or `undefined` when it does not exist. */
  readHead(file: string, bytes: number): Buffer | undefined;
  /** Replaces `file` atomically: temp file, write, optional fsync, rename. */
  writeAtomic(file: string, data: string, options: { fsync: boolean }): Promise<void>;
  /** Makes a rename or unlink inside `dir` durable. */
  fsyncDir(dir: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  mkdirp(dir: string): Promise<void>;
  /** Removes a file; no error when it is already gone. */
  unlink(file: string): Promise<void>;
}

function identityOf(stat: fs.Stats): FileIdentity {
  return { ino: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs };
}

/** Two identities name the same file version. */
export function sameIdentity(a: FileIdentity | undefined, b: FileIdentity | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/** The real file system. */
export const nodeIO: StorageIO = {
  async readFile(file) {
    try {
      return await fs.promises.readFile(file);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  },
  identify(file) {
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    return stat ? identityOf(stat) : undefined;
  },
  readHead(file, bytes) {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    try {
      const buffer = Buffer.allocUnsafe(bytes);
      const read = fs.readSync(fd, buffer, 0, bytes, 0);
      return buffer.subarray(0, read);
    } finally {
      fs.closeSync(fd);
    }
  },
  async writeAtomic(file, data, options) {
    await writeFileAtomic(file, data, { fsync: options.fsync });
  },
  async fsyncDir(dir) {
    const handle = await fs.promises.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  async rename(from, to) {
    await fs.promises.rename(from, to);
  },
  async mkdirp(dir) {
    await fs.promises.mkdir(dir, { recursive: true });
  },
  async unlink(file) {
    await fs.promises.rm(file, { force: true });
  },
};

/** Directory that holds `file`, for {@link StorageIO.fsyncDir}. */
export function dirOf(file: string): string {
  return path.dirname(path.resolve(file));
}
