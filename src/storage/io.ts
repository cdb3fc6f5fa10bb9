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
 * A held handle on one version of a file that tells, for the price of one `fstat`, whether the
 * file's path still names that version, unchanged. See {@link StorageIO.watch}.
 */
export interface FileWatch {
  /** The identity of the watched version. */
  readonly identity: FileIdentity;
  /** True while the watched version is unchanged and still linked; false as soon as in doubt. */
  unchanged(): boolean;
  /** Releases the handle. Idempotent. */
  close(): void;
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
  writeAtomic(file: string, data: string | Uint8Array, options: { fsync: boolean }): Promise<void>;
  /** Makes a rename or unlink inside `dir` durable. */
  fsyncDir(dir: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  mkdirp(dir: string): Promise<void>;
  /** Removes a file; no error when it is already gone. */
  unlink(file: string): Promise<void>;
  /**
   * Optional fast path for revalidating a read cache: a watch on the version of `file` that is
   * there now, or `undefined` when none can be had (no such file, no handle to spare, a platform
   * without it). Without this method every read revalidates with {@link StorageIO.identify}.
   */
  watch?(file: string): FileWatch | undefined;
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

async function writeAll(fd: number, data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let offset = 0;
  if (bytes.length <= SYNC_WRITE_BYTES) {
    while (offset < bytes.length) offset += fs.writeSync(fd, bytes, offset, bytes.length - offset, offset);
    return;
  }
  while (offset < bytes.length) {
    offset += (await writeAsync(fd, bytes, offset, bytes.length - offset, offset)).bytesWritten;
  }
}

/**
 * At most this many watches hold a file descriptor at once in a process; stores opened beyond
 * that revalidate with `stat` (correct, about 1 µs slower per read). Stores have no `close()`,
 * so a watch is also released when its store is garbage-collected.
 */
const MAX_WATCHES = 64;
let openWatches = 0;

// Closed in the thread pool: when the watched version was replaced, this close is what frees it,
// and freeing a file of megabytes takes milliseconds the event loop should not wait for.
function closeWatchFd(fd: number): void {
  openWatches--;
  fs.close(fd, () => {});
}

const watchCloser = new FinalizationRegistry<number>(closeWatchFd);

/**
 * A watch by an open descriptor. A writer replaces the file by renaming a new one over it, which
 * unlinks the watched version (`nlink` drops to 0); a change in place alters its size, mtime or
 * ctime; deleting, renaming or linking it changes its ctime or `nlink`. Holding the descriptor
 * also keeps the inode number from being reused while watched. What `fstat` cannot see is a
 * directory above the file being renamed or replaced while the file itself stays as it was: the
 * cache then keeps the version it had until the store's next write.
 */
class DescriptorWatch implements FileWatch {
  #fd: number | undefined;

  constructor(
    fd: number,
    readonly identity: FileIdentity,
  ) {
    this.#fd = fd;
    watchCloser.register(this, fd, this);
  }

  unchanged(): boolean {
    if (this.#fd === undefined) return false;
    let stat: fs.Stats;
    try {
      stat = fs.fstatSync(this.#fd);
    } catch {
      return false;
    }
    const id = this.identity;
    return (
      stat.nlink > 0 &&
      stat.ino === id.ino &&
      stat.size === id.size &&
      stat.mtimeMs === id.mtimeMs &&
      stat.ctimeMs === id.ctimeMs
    );
  }

  close(): void {
    if (this.#fd === undefined) return;
    watchCloser.unregister(this);
    closeWatchFd(this.#fd);
    this.#fd = undefined;
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
  // An `fstat` on a held descriptor costs about half a `stat` of the path (no path lookup), and
  // the read path of a warm store is little else. Not on Windows, where an open file keeps its
  // directory from being removed.
  watch(file) {
    if (process.platform === 'win32' || openWatches >= MAX_WATCHES) return undefined;
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return undefined;
    }
    openWatches++;
    try {
      return new DescriptorWatch(fd, identityOf(fs.fstatSync(fd)));
    } catch {
      closeWatchFd(fd);
      return undefined;
    }
  },
};

/** Directory that holds `file`, for {@link StorageIO.fsyncDir}. */
export function dirOf(file: string): string {
  return path.dirname(path.resolve(file));
}
