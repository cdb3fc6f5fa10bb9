import * as fs from 'node:fs';

/**
 * The synchronous file calls the run store makes outside the core's `StorageIO`: its beat files
 * (open, read and write in place, replace) and its directory listings. A seam for fault-injection
 * tests, like `StorageIO`; production code uses {@link nodeRunFilesIO}.
 */
export interface RunFilesIO {
  /** Opens an existing file (`r` or `r+`); `undefined` when it does not exist. */
  open(file: string, mode: 'r' | 'r+'): number | undefined;
  /** Reads into `buffer` (as much as fits) from `position`; returns the bytes read. */
  read(fd: number, buffer: Buffer, position: number): number;
  /** Writes all of `data` at `position` (one `pwrite`). */
  write(fd: number, data: Buffer, position: number): void;
  /** The open file's size in bytes. */
  size(fd: number): number;
  close(fd: number): void;
  /** Puts a new file with `data` at `file` in one step (temp file, rename), replacing any. Not fsynced. */
  replace(file: string, data: Buffer | string): void;
  /** Names in `dir`; an empty list when it does not exist. */
  list(dir: string): string[];
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

let tempCounter = 0;

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
  close: (fd) => fs.closeSync(fd),
  replace(file, data) {
    const temp = `${file}.${process.pid}-${++tempCounter}.tmp`;
    try {
      fs.writeFileSync(temp, data);
      fs.renameSync(temp, file);
    } catch (error) {
      fs.rmSync(temp, { force: true });
      throw error;
    }
  },
  list(dir) {
    try {
      return fs.readdirSync(dir);
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
  },
};
