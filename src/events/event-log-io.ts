import * as fs from 'node:fs';

/**
 * An open file of the event log. Synchronous on purpose: one append costs a few microseconds of
 * syscalls, less than a single round trip through the thread pool.
 */
export interface EventFileHandle {
  readonly file: string;
  /** Current size in bytes. */
  size(): number;
  /** Reads up to `length` bytes at `position` into `buffer[offset…]`; returns how many were read (0 at the end). */
  read(buffer: Buffer, offset: number, length: number, position: number): number;
  /**
   * Writes `buffer[offset…offset+length)` at `position` with one `pwrite` and returns how many
   * bytes it wrote: possibly fewer than asked (a short write, as a disk that is nearly full
   * gives), never 0 for a non-empty buffer. Callers loop (`writeFully`).
   */
  write(buffer: Buffer, offset: number, length: number, position: number): number;
  /** Makes the written bytes and the file's size durable (`fdatasync`). */
  datasync(): void;
  /**
   * The same off the event loop (in the thread pool), so that the fsyncs of several runs
   * committed in one batch overlap. Optional: without it, {@link datasync} is used.
   */
  datasyncAsync?(): Promise<void>;
  truncate(length: number): void;
  close(): void;
  /**
   * Which file this handle has open (`fstat`'s device and inode), with its size. Optional: without it, handles are
   * never kept between reads, and a reopened run's file is not compared with the one it replaced.
   */
  identity?(): EventFileId & { size: number };
}

/** A file's device and inode number: two handles with the same identity have the same file open. */
export interface EventFileId {
  dev: number;
  ino: number;
}

/**
 * Every file operation of the event log, in one seam. Production code uses {@link nodeEventLogIO};
 * reliability tests wrap it to fail chosen steps (ENOSPC on the index, EIO on fsync, a crash
 * between appending and indexing) without patching Node.
 */
export interface EventLogIO {
  /**
   * Opens `file`, never through a symbolic link (`O_NOFOLLOW`: a link fails with `ELOOP`).
   * `read`: read-only, `undefined` when it does not exist. `write`: read-write, created when
   * missing. `create`: read-write, created exclusively (`O_EXCL`: `EEXIST` when it exists).
   */
  open(file: string, mode: 'read' | 'write' | 'create'): EventFileHandle | undefined;
  exists(file: string): boolean;
  /** Removes a file; no error when it is already gone. */
  remove(file: string): void;
  mkdirp(dir: string): void;
  /** Names in `dir`; empty when it does not exist. */
  list(dir: string): string[];
  /** Makes a file's creation or removal inside `dir` durable. */
  syncDir(dir: string): void;
  /**
   * The identity of the file at `file` now (`lstat`), or `undefined` when nothing is there. Used to
   * tell whether a kept handle still has the run's current file open. Optional, with
   * {@link EventFileHandle.identity}.
   */
  identity?(file: string): EventFileId | undefined;
}

const { O_RDONLY, O_RDWR, O_CREAT, O_EXCL } = fs.constants;
// Not defined on Windows, where links are rare in a data directory and cannot be refused this way.
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
const FLAGS = {
  read: O_RDONLY | O_NOFOLLOW,
  // Not O_APPEND: writes go to an explicit offset, so a batch that failed half-way is overwritten.
  write: O_RDWR | O_CREAT | O_NOFOLLOW,
  create: O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW,
} as const;

/**
 * Writes all of `buffer[offset…offset+length)` at `position`, looping over short writes. A write
 * that fails part-way throws with part of the bytes written: the caller cuts them back.
 */
export function writeFully(
  handle: EventFileHandle,
  buffer: Buffer,
  offset: number,
  length: number,
  position: number,
): void {
  let done = 0;
  while (done < length) {
    const wrote = handle.write(buffer, offset + done, length - done, position + done);
    // A regular file never takes 0 bytes of a non-empty write; guard against looping forever.
    if (!(wrote > 0)) throw Object.assign(new Error(`write returned ${wrote}`), { code: 'EIO' });
    done += wrote;
  }
}

class NodeFileHandle implements EventFileHandle {
  constructor(
    readonly file: string,
    readonly fd: number,
  ) {}

  size(): number {
    return fs.fstatSync(this.fd).size;
  }

  read(buffer: Buffer, offset: number, length: number, position: number): number {
    return fs.readSync(this.fd, buffer, offset, length, position);
  }

  write(buffer: Buffer, offset: number, length: number, position: number): number {
    return fs.writeSync(this.fd, buffer, offset, length, position);
  }

  datasync(): void {
    fs.fdatasyncSync(this.fd);
  }

  datasyncAsync(): Promise<void> {
    return new Promise((resolve, reject) => fs.fdatasync(this.fd, (error) => (error ? reject(error) : resolve())));
  }

  truncate(length: number): void {
    fs.ftruncateSync(this.fd, length);
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  identity(): EventFileId & { size: number } {
    const { dev, ino, size } = fs.fstatSync(this.fd);
    return { dev, ino, size };
  }
}

/** The real file system. */
export const nodeEventLogIO: EventLogIO = {
  open(file, mode) {
    try {
      return new NodeFileHandle(file, fs.openSync(file, FLAGS[mode], 0o644));
    } catch (error) {
      if (mode === 'read' && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  },
  exists(file) {
    return fs.existsSync(file);
  },
  remove(file) {
    fs.rmSync(file, { force: true });
  },
  mkdirp(dir) {
    fs.mkdirSync(dir, { recursive: true });
  },
  list(dir) {
    try {
      return fs.readdirSync(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  },
  identity(file) {
    const stat = fs.lstatSync(file, { throwIfNoEntry: false });
    return stat === undefined ? undefined : { dev: stat.dev, ino: stat.ino };
  },
  syncDir(dir) {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },
};
