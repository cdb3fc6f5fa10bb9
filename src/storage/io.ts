import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { threadId } from 'node:worker_threads';

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
  /**
   * Replaces `file` atomically: temp file (with the replaced file's mode and owner), write,
   * optional fsync, rename. On failure the temp file is removed and `file` is unchanged.
   */
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

const writeAsync = promisify(fs.write);
const fsyncAsync = promisify(fs.fsync);

/**
 * Up to this many bytes are written with one synchronous call (a few µs, less than one thread-pool
 * round trip); larger documents go through the thread pool so the event loop is not held while
 * megabytes are copied into the page cache.
 */
const SYNC_WRITE_BYTES = 64 * 1024;

let tempCounter = 0;

/** A temp name next to `file` that no other call, thread or process picks. */
function tempNameFor(file: string): string {
  return `${file}.${process.pid}-${threadId}-${(++tempCounter).toString(36)}.tmp`;
}

/** The file a write to `file` must replace: through symlinks, like write-file-atomic. */
function realTarget(file: string): string {
  try {
    return fs.realpathSync.native(file);
  } catch {
    return file;
  }
}

/** Whether a failed chown/chmod may be ignored, as write-file-atomic decides. */
function isOwnershipErrorOk(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSYS') return true;
  const root = process.getuid?.() === 0;
  return !root && (code === 'EINVAL' || code === 'EPERM');
}

/** Gives the temp file the replaced file's mode and owner, as write-file-atomic does. */
function copyModeAndOwner(fd: number, previous: fs.Stats): void {
  try {
    fs.fchmodSync(fd, previous.mode & 0o7777);
    if (process.getuid && (previous.uid !== process.getuid() || previous.gid !== process.getgid?.())) {
      fs.fchownSync(fd, previous.uid, previous.gid);
    }
  } catch (error) {
    if (!isOwnershipErrorOk(error)) throw error;
  }
}

async function writeAll(fd: number, data: string): Promise<void> {
  const bytes = Buffer.from(data, 'utf8');
  let offset = 0;
  if (bytes.length <= SYNC_WRITE_BYTES) {
    while (offset < bytes.length) offset += fs.writeSync(fd, bytes, offset, bytes.length - offset, offset);
    return;
  }
  while (offset < bytes.length) {
    offset += (await writeAsync(fd, bytes, offset, bytes.length - offset, offset)).bytesWritten;
  }
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
  // The steps of write-file-atomic (temp file with the old file's mode and owner, write, fsync,
  // rename, temp removed on failure), with the metadata calls made synchronously: each is a few µs,
  // where a thread-pool round trip costs 30–70 µs and write-file-atomic makes a dozen of them per
  // write. Only the fsync, and the write of a large document, leave the event loop.
  async writeAtomic(file, data, options) {
    const target = realTarget(file);
    const temp = tempNameFor(target);
    const previous = fs.statSync(target, { throwIfNoEntry: false });
    let fd: number | undefined = fs.openSync(temp, 'wx', previous ? previous.mode & 0o7777 : 0o666);
    try {
      if (previous) copyModeAndOwner(fd, previous);
      await writeAll(fd, data);
      if (options.fsync) await fsyncAsync(fd);
      fs.closeSync(fd);
      fd = undefined;
      fs.renameSync(temp, target);
    } catch (error) {
      if (fd !== undefined) {
        try {
          fs.closeSync(fd);
        } catch {
          // Already failing; the original error is the one to report.
        }
      }
      fs.rmSync(temp, { force: true });
      throw error;
    }
  },
  async fsyncDir(dir) {
    const fd = fs.openSync(dir, 'r');
    try {
      await fsyncAsync(fd);
    } finally {
      fs.closeSync(fd);
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
