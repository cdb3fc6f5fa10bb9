import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

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
  /** Releases the handle. Idempotent. A returned promise resolves once the handle is closed. */
  close(): void | Promise<void>;
}

/**
 * Every file operation the storage core performs, in one seam. Production code uses
 * {@link nodeIO}; reliability tests pass a wrapper that fails chosen steps (ENOSPC, EIO, a crash
 * between writing and renaming) without patching Node globally.
 */
export interface StorageIO {
  /** The file's bytes, or `undefined` when it does not exist. A symbolic link is refused (ELOOP). */
  readFile(file: string): Promise<Buffer | undefined>;
  /**
   * The file's identity (of a symbolic link itself, not of its target), or `undefined` when it
   * does not exist. Synchronous: it is on the read path.
   */
  identify(file: string): FileIdentity | undefined;
  /** Up to `bytes` bytes from the start of the file, or `undefined` when it does not exist. */
  readHead(file: string, bytes: number): Buffer | undefined;
  /**
   * Replaces `file` atomically: temp file (with the replaced file's mode and owner), write of
   * every byte, optional fsync, rename. On failure the temp file is removed and `file` is
   * unchanged. A disk that takes only part of the bytes is a failure (ENOSPC), never a success.
   * A `file` that is a symbolic link is refused (ELOOP), its target untouched.
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
const writeAsync = promisify(fs.write);

/** Documents up to this size are replaced with synchronous syscalls; larger ones in the thread pool. */
const SYNC_WRITE_BYTES = 1024 * 1024;

// No open for writing ever follows a symbolic link in the last component, and a temp file is
// created exclusively: a link planted at its (random) name makes the open fail with EEXIST
// instead of truncating the link's target. Reads refuse a link too (see README, "Symbolic links").
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
const CREATE_TEMP = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | O_NOFOLLOW;
const READ = fs.constants.O_RDONLY | O_NOFOLLOW;

/** Temp files of {@link StorageIO.writeAtomic}: `<file>.<16 hex digits>.tmp`. */
const TEMP_SUFFIX = /^\.[0-9a-f]{16}\.tmp$/;
/** What write-file-atomic (used up to 0.x) left behind: `<file>.<decimal number>`. */
const OLD_TEMP_SUFFIX = /^\.\d{1,10}$/;

/**
 * The system calls of {@link StorageIO.writeAtomic} that tests replace to model a disk that fills
 * up: the kernel's `write(2)` may take fewer bytes than asked and report how many (a short count),
 * which no errno fault models. Both follow `fs.writeSync(fd, buffer, offset, length)`.
 */
export interface WriteCalls {
  /** Writes up to `length` bytes of `buffer` from `offset`; returns how many it wrote. */
  write(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  /** The same in the thread pool, for documents over 1 MiB. */
  writeAsync?(fd: number, buffer: Uint8Array, offset: number, length: number): Promise<number>;
  /** The random part of a temp file's name: 16 hex digits. */
  tempSuffix?(): string;
}

/** An error like Node's own: `code`, `syscall`, `path`. */
function errnoError(code: string, syscall: string, file: string, what: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${what}, ${syscall} '${file}'`), { code, syscall, path: file });
}

/** Writes every byte of `bytes` to `fd`, going on after a short count; a write that takes none is ENOSPC. */
function shortCountOrDone(written: number, offset: number, bytes: Uint8Array, temp: string): number {
  if (written > 0) return offset + written;
  throw errnoError('ENOSPC', 'write', temp, `the disk took ${offset} of ${bytes.length} bytes`);
}

/**
 * The file `writeAtomic` replaces, when it exists: a regular file, never a link or a directory.
 * `lstat` because no open flag can say "do not rename over a link" (the rename would replace the
 * link, not its target, but the store would have been reading the target all along).
 */
function targetOf(file: string): fs.Stats | undefined {
  const stat = fs.lstatSync(file, { throwIfNoEntry: false });
  if (stat === undefined || stat.isFile()) return stat;
  if (stat.isSymbolicLink()) throw errnoError('ELOOP', 'lstat', file, 'is a symbolic link');
  throw errnoError('EISDIR', 'lstat', file, 'is not a regular file');
}

/** Gives the temp file the replaced file's mode and owner (an owner only root may give: EPERM is fine). */
function keepModeAndOwner(fd: number, old: fs.Stats): void {
  fs.fchmodSync(fd, old.mode & 0o7777);
  if (old.uid === process.getuid?.() && old.gid === process.getgid?.()) return;
  try {
    fs.fchownSync(fd, old.uid, old.gid);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'EINVAL' && code !== 'ENOSYS') throw error;
  }
}

function removeQuietly(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // Already gone, or a stray for the next sweep (removeStrayTemps) to take.
  }
}

/**
 * The real file system, with the `write` system call (and the temp names) from `calls`: for
 * tests that model a disk which takes only part of the bytes. Production code uses {@link nodeIO}.
 */
export function nodeIOWith(calls: WriteCalls): StorageIO {
  const writeAsyncCall =
    calls.writeAsync ?? (async (fd, buffer, offset, length) => calls.write(fd, buffer, offset, length));
  const tempSuffix = calls.tempSuffix ?? (() => randomBytes(8).toString('hex'));
  return {
    ...nodeIO,
    // The replace, by hand: write-file-atomic 7 (used up to here) makes one write(2) per replace
    // and ignores a short count, so on a nearly full disk it fsynced and renamed a cut file over
    // the good one and resolved; and it opens its temp file with 'w' (following a link planted at
    // its name, truncating the target) under a name derived from pid and a counter. Neither can
    // be changed through its options (README, "Durability").
    async writeAtomic(file, data, options) {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      const old = targetOf(file);
      const temp = `${file}.${tempSuffix()}.tmp`;
      // EEXIST here means something is at a random name nobody could guess: left alone, refused.
      const fd = fs.openSync(temp, CREATE_TEMP, old ? old.mode & 0o7777 : 0o666);
      let closed = false;
      try {
        if (old) keepModeAndOwner(fd, old);
        let offset = 0;
        if (bytes.length <= SYNC_WRITE_BYTES) {
          while (offset < bytes.length) {
            offset = shortCountOrDone(calls.write(fd, bytes, offset, bytes.length - offset), offset, bytes, temp);
          }
          if (options.fsync) fs.fsyncSync(fd);
        } else {
          // Large documents in the thread pool, so the event loop is not held while megabytes are copied.
          while (offset < bytes.length) {
            const written = await writeAsyncCall(fd, bytes, offset, bytes.length - offset);
            offset = shortCountOrDone(written, offset, bytes, temp);
          }
          if (options.fsync) await fsyncAsync(fd);
        }
        closed = true;
        fs.closeSync(fd);
        fs.renameSync(temp, file);
      } catch (error) {
        if (!closed) {
          try {
            fs.closeSync(fd);
          } catch {
            // The first error is the one to report.
          }
        }
        removeQuietly(temp);
        throw error;
      }
    },
  };
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
function closeWatchFd(fd: number): Promise<void> {
  openWatches--;
  return new Promise((resolve) => fs.close(fd, () => resolve()));
}

const watchCloser = new FinalizationRegistry<number>((fd) => void closeWatchFd(fd));

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

  close(): Promise<void> {
    if (this.#fd === undefined) return Promise.resolve();
    watchCloser.unregister(this);
    const closed = closeWatchFd(this.#fd);
    this.#fd = undefined;
    return closed;
  }
}

/** The real file system. */
export const nodeIO: StorageIO = {
  async readFile(file) {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(file, READ);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  },
  identify(file) {
    const stat = fs.lstatSync(file, { throwIfNoEntry: false });
    return stat ? identityOf(stat) : undefined;
  },
  readHead(file, bytes) {
    let fd: number;
    try {
      fd = fs.openSync(file, READ);
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
    return defaultIO.writeAtomic(file, data, options);
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
    const base = path.basename(file);
    const dir = path.dirname(file);
    let removed = 0;
    for (const name of fs.readdirSync(dir)) {
      if (!name.startsWith(base)) continue;
      const suffix = name.slice(base.length);
      if (!TEMP_SUFFIX.test(suffix) && !OLD_TEMP_SUFFIX.test(suffix)) continue;
      // rm removes a link itself, never its target.
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
      fd = fs.openSync(file, READ);
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

const defaultIO = nodeIOWith({
  write: (fd, buffer, offset, length) => fs.writeSync(fd, buffer, offset, length),
  writeAsync: async (fd, buffer, offset, length) => (await writeAsync(fd, buffer, offset, length)).bytesWritten,
});

/** Directory that holds `file`, for {@link StorageIO.fsyncDir}. */
export function dirOf(file: string): string {
  return path.dirname(path.resolve(file));
}
