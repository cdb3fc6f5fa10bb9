import * as fs from 'node:fs';

/**
 * The synchronous file calls the run store makes outside the core's `StorageIO`: its beat files
 * (open, read and write in place, check the link count) and its directory listings. A seam for
 * fault-injection tests, like `StorageIO`; production code uses {@link nodeRunFilesIO}.
 */
export interface RunFilesIO {
  /** Opens an existing file (`r` or `r+`); `undefined` when it does not exist. */
  open(file: string, mode: 'r' | 'r+'): number | undefined;
  /** Reads into `buffer` from `position`; returns the bytes read. */
  read(fd: number, buffer: Buffer, position: number): number;
  /** Writes all of `data` at `position` (one `pwrite`). */
  write(fd: number, data: Buffer, position: number): void;
  /** The open file's size in bytes. */
  size(fd: number): number;
  /** False once the open file has been unlinked. */
  linked(fd: number): boolean;
  close(fd: number): void;
  /** Creates or truncates `file` with `data` (not fsynced). */
  create(file: string, data: Buffer | string): void;
  /** Removes `file`; throws when it is missing. */
  unlink(file: string): void;
  exists(file: string): boolean;
  /** Names in `dir`; an empty list when it does not exist. */
  list(dir: string): string[];
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/** The real file system. */
export const nodeRunFilesIO: RunFilesIO = {
  open(file, mode) {
    try {
      return fs.openSync(file, mode);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  },
  read: (fd, buffer, position) => fs.readSync(fd, buffer, 0, buffer.length, position),
  write(fd, data, position) {
    let written = 0;
    while (written < data.length) written += fs.writeSync(fd, data, written, data.length - written, position + written);
  },
  size: (fd) => fs.fstatSync(fd).size,
  linked: (fd) => fs.fstatSync(fd).nlink > 0,
  close: (fd) => fs.closeSync(fd),
  create: (file, data) => fs.writeFileSync(file, data),
  unlink: (file) => fs.unlinkSync(file),
  exists: (file) => fs.existsSync(file),
  list(dir) {
    try {
      return fs.readdirSync(dir);
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
  },
};
