import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import writeFileAtomic from 'write-file-atomic';

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
  /**
   * Removes the temp files an interrupted {@link StorageIO.writeAtomic} of `file` left beside it
   * (a process killed between writing and renaming). Call only under the file's lock, when no
   * write of it can be under way. Returns how many were removed.
   */
  removeStrayTemps?(file: string): number;
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

const fsyncAsync = promisify(fs.fsync);

/** Documents up to this size are replaced with synchronous syscalls; larger ones in the thread pool. */
const SYNC_WRITE_BYTES = 1024 * 1024;

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
  // write-file-atomic does the replace (temp file with the old file's mode and owner, write,
  // fsync, rename, temp removed on failure and on exit). Its synchronous variant makes each step a
  // syscall of a few µs where the async one pays a thread-pool round trip (30–70 µs) a dozen times
  // per write; the fsync blocks for as long either way, and group commit makes it one per batch.
  // Large documents take the async path so the event loop is not held while megabytes are copied.
  async writeAtomic(file, data, options) {
    if (data.length <= SYNC_WRITE_BYTES) writeFileAtomic.sync(file, data as string | Buffer, { fsync: options.fsync });
    else await writeFileAtomic(file, data as string | Buffer, { fsync: options.fsync });
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
  removeStrayTemps(file) {
    // write-file-atomic names its temp file `<file>.<decimal number>`.
    const prefix = `${path.basename(file)}.`;
    const dir = path.dirname(file);
    let removed = 0;
    for (const name of fs.readdirSync(dir)) {
      if (!name.startsWith(prefix) || !/^\d{1,10}$/.test(name.slice(prefix.length))) continue;
      fs.rmSync(path.join(dir, name), { force: true });
      removed++;
    }
    return removed;
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
