import { crc32 } from 'node:zlib';
import type { Beat } from './RunBackend.js';
import type { RunFilesIO } from './RunFilesIO.js';

// One buffer for every read: beats are small and reads are synchronous, so it is never shared.
const scratch = Buffer.allocUnsafe(4096);

function checksum(text: string): string {
  return crc32(text).toString(16).padStart(8, '0');
}

/**
 * The bytes of a beat file: the beat as one JSON line, its CRC-32 on the next line, then spaces
 * up to `minLength` so an overwrite in place leaves no tail of a longer previous beat.
 */
export function encodeBeat(beat: Beat, minLength = 0): Buffer {
  const json = JSON.stringify(beat);
  const body = `${json}\n${checksum(json)}\n`;
  const length = Buffer.byteLength(body);
  const bytes = Buffer.alloc(Math.max(length, minLength), 0x20);
  bytes.write(body, 0, 'utf8');
  return bytes;
}

/**
 * The beat in `bytes`, or `undefined` when they are not a whole beat: a write torn by a crash, or
 * caught half-done by a reader in another process. Either reads as a lost beat.
 */
export function decodeBeat(bytes: Buffer): Beat | undefined {
  const text = bytes.toString('utf8');
  const newline = text.indexOf('\n');
  if (newline < 0) return undefined;
  const json = text.slice(0, newline);
  if (text.slice(newline + 1, newline + 9) !== checksum(json)) return undefined;
  try {
    const beat = JSON.parse(json) as Beat;
    return Number.isInteger(beat.heartbeatAt) && Number.isInteger(beat.updatedAt) ? beat : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the whole of an open file with synchronous calls: one `pread` when it fits the scratch buffer. */
function readAll(io: RunFilesIO, fd: number): Buffer {
  const read = io.read(fd, scratch, 0);
  if (read < scratch.length) return scratch.subarray(0, read);
  const bytes = Buffer.allocUnsafe(io.size(fd));
  return bytes.subarray(0, io.read(fd, bytes, 0));
}

/** Reads a beat, retrying a couple of times when a concurrent writer's bytes were caught half-written. */
function readBeat(io: RunFilesIO, fd: number): { beat: Beat | undefined; length: number } {
  let bytes = readAll(io, fd);
  for (let attempt = 0; attempt < 3; attempt++) {
    const beat = decodeBeat(bytes);
    if (beat || bytes.length === 0) return { beat, length: bytes.length };
    bytes = readAll(io, fd);
  }
  return { beat: decodeBeat(bytes), length: bytes.length };
}

/**
 * A run's heartbeat file, held open: each beat is one synchronous `pwrite` at offset 0 — no
 * fsync, no rename, no new inode — so it costs the same however many runs the store keeps.
 *
 * Every status change of the run unlinks the file it finds and leaves a new one (see
 * `FileRunBackend`). So after writing, a beat checks with one `fstat` that its inode is still
 * linked ({@link isLinked}): if not, a status change took the file while the beat was written,
 * and the beat is refused or retried on the new file.
 */
export class BeatFile {
  #length = 0;
  // The last beat this handle wrote, and its bytes: reading them back needs no decoding.
  #written: Buffer | undefined;
  #writtenBeat: Beat | undefined;

  private constructor(
    readonly io: RunFilesIO,
    readonly file: string,
    readonly fd: number,
  ) {}

  /** Opens an existing beat file for beating, or returns `undefined` when there is none (never creates one). */
  static open(io: RunFilesIO, file: string): BeatFile | undefined {
    const fd = io.open(file, 'r+');
    return fd === undefined ? undefined : new BeatFile(io, file, fd);
  }

  /**
   * Writes a new beat file holding `beat`, or none (an empty file reads as no beat). Not fsynced:
   * the run's state file, written with it, fsyncs the directory.
   */
  static create(io: RunFilesIO, file: string, beat?: Beat): void {
    io.create(file, beat ? encodeBeat(beat) : '');
  }

  /** The beat in `file` without keeping it open; `undefined` when it is missing or unreadable. */
  static peek(io: RunFilesIO, file: string): Beat | undefined {
    const fd = io.open(file, 'r');
    if (fd === undefined) return undefined;
    try {
      return readBeat(io, fd).beat;
    } finally {
      io.close(fd);
    }
  }

  /** The current beat, or `undefined` when the file holds none or a torn one. Do not change what it returns. */
  read(): Beat | undefined {
    const written = this.#written;
    if (written) {
      // Nobody else wrote since our last beat (the usual case: one process beats a run): no decoding.
      const bytes = readAll(this.io, this.fd);
      if (bytes.length === written.length && bytes.equals(written)) return this.#writtenBeat;
      this.#written = undefined;
    }
    const { beat, length } = readBeat(this.io, this.fd);
    this.#length = length;
    return beat;
  }

  /** Overwrites the beat in place. Call {@link read} first: it learns how long the previous beat was. */
  write(beat: Beat): void {
    const bytes = encodeBeat(beat, this.#length);
    this.io.write(this.fd, bytes, 0);
    this.#length = bytes.length;
    this.#written = bytes;
    this.#writtenBeat = beat;
  }

  /** True while the file is still linked: no status change has taken it since it was opened. */
  isLinked(): boolean {
    return this.io.linked(this.fd);
  }

  close(): void {
    try {
      this.io.close(this.fd);
    } catch {
      // Already closed: nothing to release.
    }
  }
}
