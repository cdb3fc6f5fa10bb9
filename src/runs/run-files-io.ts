import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';

/**
 * The synchronous file calls the run store makes outside the core's `StorageIO`: its beat files
 * (open, read and write in place, replace) and its directory listings. A seam for fault-injection
 * tests, like `StorageIO`; production code uses {@link nodeRunFilesIO}. Each method is one system
 * call, as the kernel answers it: `write` may take fewer bytes than asked, or none (a full disk),
 * and the callers (`writeAll`, `replaceFile` in this file) deal with it.
 *
 * Symbolic links: nothing here opens a file through one. `open` and `create` use `O_NOFOLLOW`
 * (a link is ELOOP), `create` is exclusive (`O_EXCL`: anything already at the name, a link
 * included, is EEXIST), and temp names are random.
 */
export interface RunFilesIO {
  /** Opens an existing file (`r` or `r+`), never through a symbolic link (ELOOP); `undefined` when it does not exist. */
  open(file: string, mode: 'r' | 'r+'): number | undefined;
  /** Reads into `buffer` (as much as fits) from `position`; returns the bytes read. */
  read(fd: number, buffer: Buffer, position: number): number;
  /** One `pwrite` of up to `length` bytes of `data` from `offset`, at `position`; returns how many it took (maybe fewer, maybe 0). */
  write(fd: number, data: Buffer, offset: number, length: number, position: number): number;
  /** The open file's size in bytes. */
  size(fd: number): number;
  close(fd: number): void;
  /** Creates a new file for writing: `O_CREAT | O_EXCL | O_NOFOLLOW`, so EEXIST when anything (a link too) is at `file`. */
  create(file: string): number;
  /** What is at `file`, without following a link (`lstat`). */
  kind(file: string): 'file' | 'missing' | 'link' | 'other';
  rename(from: string, to: string): void;
  /** Removes a file; no error when it is already gone. */
  remove(file: string): void;
  /** The random part of a temp file's name (16 hex digits): nobody can plant a link at it in advance. */
  tempSuffix(): string;
  /** Names in `dir`; an empty list when it does not exist. */
  list(dir: string): string[];
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/** An error like Node's own: `code`, `syscall`, `path`. */
function errnoError(code: string, syscall: string, file: string, what: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${what}, ${syscall} '${file}'`), { code, syscall, path: file });
}

const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
const OPEN_FLAGS = { r: fs.constants.O_RDONLY | O_NOFOLLOW, 'r+': fs.constants.O_RDWR | O_NOFOLLOW } as const;
const CREATE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | O_NOFOLLOW;

/** The real file system. */
export const nodeRunFilesIO: RunFilesIO = {
  open(file, mode) {
    try {
      return fs.openSync(file, OPEN_FLAGS[mode]);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  },
  read: (fd, buffer, position) => fs.readSync(fd, buffer, 0, buffer.length, position),
  write: (fd, data, offset, length, position) => fs.writeSync(fd, data, offset, length, position),
  size: (fd) => fs.fstatSync(fd).size,
  close: (fd) => fs.closeSync(fd),
  create: (file) => fs.openSync(file, CREATE_FLAGS, 0o666),
  kind(file) {
    const stat = fs.lstatSync(file, { throwIfNoEntry: false });
    if (stat === undefined) return 'missing';
    return stat.isFile() ? 'file' : stat.isSymbolicLink() ? 'link' : 'other';
  },
  rename: (from, to) => fs.renameSync(from, to),
  remove: (file) => fs.rmSync(file, { force: true }),
  tempSuffix: () => randomBytes(8).toString('hex'),
  list(dir) {
    try {
      return fs.readdirSync(dir);
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
  },
};

/**
 * Writes every byte of `data` at `position`, going on after a short count. A write that takes
 * none is ENOSPC (a full disk): it never loops forever, and never returns having written less.
 */
export function writeAll(io: RunFilesIO, fd: number, data: Buffer, position: number, file: string): void {
  let offset = 0;
  while (offset < data.length) {
    const written = io.write(fd, data, offset, data.length - offset, position + offset);
    if (!(written > 0)) {
      throw errnoError('ENOSPC', 'write', file, `the disk took ${offset} of ${data.length} bytes`);
    }
    offset += written;
  }
}

/**
 * Puts a new file with `data` at `file` in one step: a temp file created exclusively under a
 * random name beside it, every byte written, then renamed over `file`. Not fsynced. A symbolic
 * link (or anything but a regular file) at `file` is refused with ELOOP / EISDIR and left alone:
 * the store would otherwise have been reading through it. On failure the temp file is removed.
 */
export function replaceFile(io: RunFilesIO, file: string, data: Buffer): void {
  const kind = io.kind(file);
  if (kind === 'link') throw errnoError('ELOOP', 'lstat', file, 'is a symbolic link');
  if (kind === 'other') throw errnoError('EISDIR', 'lstat', file, 'is not a regular file');
  const temp = `${file}.${io.tempSuffix()}.tmp`;
  // EEXIST here means something is at a random name nobody could guess: left alone, refused.
  const fd = io.create(temp);
  let closed = false;
  try {
    writeAll(io, fd, data, 0, temp);
    closed = true;
    io.close(fd);
    io.rename(temp, file);
  } catch (error) {
    if (!closed) {
      try {
        io.close(fd);
      } catch {
        // The write's error is the one to report.
      }
    }
    try {
      io.remove(temp);
    } catch {
      // A stray temp file is harmless; the write's error is the one to report.
    }
    throw error;
  }
}
