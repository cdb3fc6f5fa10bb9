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
  /** Writes all of `buffer[offset…offset+length)` at `position`. May leave part of it written when it throws. */
  write(buffer: Buffer, offset: number, length: number, position: number): void;
  /** Makes the written bytes and the file's size durable (`fdatasync`). */
  datasync(): void;
  /**
   * The same off the event loop (in the thread pool), so that the fsyncs of several runs
   * committed in one batch overlap. Optional: without it, {@link datasync} is used.
   */
  datasyncAsync?(): Promise<void>;
  truncate(length: number): void;
  close(): void;
}

/**
 * Every file operation of the event log, in one seam. Production code uses {@link nodeEventLogIO};
 * reliability tests wrap it to fail chosen steps (ENOSPC on the index, EIO on fsync, a crash
 * between appending and indexing) without patching Node.
 */
export interface EventLogIO {
  /**
   * Opens `file`. `read`: read-only, `undefined` when it does not exist. `write`: read-write,
   * created when missing.
   */
  open(file: string, mode: 'read' | 'write'): EventFileHandle | undefined;
  exists(file: string): boolean;
  /** Removes a file; no error when it is already gone. */
  remove(file: string): void;
  mkdirp(dir: string): void;
  /** Names in `dir`; empty when it does not exist. */
  list(dir: string): string[];
  /** Makes a file's creation or removal inside `dir` durable. */
  syncDir(dir: string): void;
}

const READ = fs.constants.O_RDONLY;
// Not O_APPEND: writes go to an explicit offset, so a batch that failed half-way is overwritten.
const WRITE = fs.constants.O_RDWR | fs.constants.O_CREAT;

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

  write(buffer: Buffer, offset: number, length: number, position: number): void {
    let done = 0;
    while (done < length) done += fs.writeSync(this.fd, buffer, offset + done, length - done, position + done);
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
}

/** The real file system. */
export const nodeEventLogIO: EventLogIO = {
  open(file, mode) {
    try {
      return new NodeFileHandle(file, fs.openSync(file, mode === 'read' ? READ : WRITE, 0o644));
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
  syncDir(dir) {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },
};
