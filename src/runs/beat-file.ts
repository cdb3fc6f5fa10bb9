import { crc32 } from 'node:zlib';
import { MAX_CLOCK_MS } from '../storage/clock.js';
import type { Beat } from './run-backend.js';
import { type RunFilesIO, replaceFile, writeAll } from './run-files-io.js';

// One buffer for every read: beats are small and reads are synchronous, so it is never shared.
const scratch = Buffer.allocUnsafe(4096);
const flagByte = Buffer.allocUnsafe(1);

/** Byte 0 of a beat file: open to beats, or fenced by a status change. */
const OPEN = 0x20;
const FENCED = 0x46; // 'F'
const OPEN_FLAG = Buffer.from([OPEN]);
const FENCED_FLAG = Buffer.from([FENCED]);

/** Where the beat starts: after the flag byte. */
const BEAT_AT = 1;

function checksum(text: string): string {
  return crc32(text).toString(16).padStart(8, '0');
}

// Details are usually carried from beat to beat unchanged: serialise each details object once.
const detailsText = new WeakMap<object, string>();

/**
 * Tells the beat file the JSON text of a details object (checked and serialised on its way in), so
 * that a beat carrying it is not serialised again. The object must never be changed afterwards.
 */
export function rememberJsonText(value: object, text: string): void {
  detailsText.set(value, text);
}

/** `JSON.stringify(beat)`, with the details' text cached per object (they are never mutated). */
function beatJson(beat: Beat): string {
  const head = `{"heartbeatAt":${beat.heartbeatAt},"updatedAt":${beat.updatedAt}`;
  const details = beat.heartbeatDetails;
  if (details === undefined) return `${head}}`;
  if (typeof details !== 'object' || details === null) return `${head},"heartbeatDetails":${JSON.stringify(details)}}`;
  let text = detailsText.get(details);
  if (text === undefined) {
    text = JSON.stringify(details);
    detailsText.set(details, text);
  }
  return `${head},"heartbeatDetails":${text}}`;
}

/**
 * The bytes of a beat (written from byte 1 of the file): the beat as one JSON line, its CRC-32 on
 * the next line, then spaces up to `minLength` so an overwrite in place leaves no tail of a
 * longer previous beat.
 */
export function encodeBeat(beat: Beat, minLength = 0): Buffer {
  const json = beatJson(beat);
  const body = `${json}\n${checksum(json)}\n`;
  const length = Buffer.byteLength(body);
  if (length >= minLength) return Buffer.from(body, 'utf8');
  const bytes = Buffer.alloc(minLength, 0x20);
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
    // Times a record may hold (safe integers of ms): a beat stamped by a broken clock before
    // clocks were checked reads as no beat, instead of a record no reader accepts.
    return isTime(beat.heartbeatAt) && isTime(beat.updatedAt) ? beat : undefined;
  } catch {
    return undefined;
  }
}

function isTime(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= MAX_CLOCK_MS;
}

/** Reads the whole of an open file with synchronous calls: one `pread` when it fits the scratch buffer. */
function readAll(io: RunFilesIO, fd: number): Buffer {
  const read = io.read(fd, scratch, 0);
  if (read < scratch.length) return scratch.subarray(0, read);
  const bytes = Buffer.allocUnsafe(io.size(fd));
  return bytes.subarray(0, io.read(fd, bytes, 0));
}

/** What a read of a beat file found. */
export interface BeatRead {
  beat: Beat | undefined;
  /** A status change fenced the file: beats must not be written to it any more. */
  fenced: boolean;
  /** Bytes of the beat part (after the flag byte). */
  length: number;
}

function parseFile(bytes: Buffer): BeatRead {
  const body = bytes.subarray(BEAT_AT);
  return { beat: body.length ? decodeBeat(body) : undefined, fenced: bytes[0] === FENCED, length: body.length };
}

/** Reads a beat file, retrying a couple of times when a concurrent writer's bytes were caught half-written. */
function readFile(io: RunFilesIO, fd: number): BeatRead {
  let read = parseFile(readAll(io, fd));
  for (let attempt = 0; attempt < 2 && !read.beat && read.length > 0; attempt++) read = parseFile(readAll(io, fd));
  return read;
}

/**
 * A run's heartbeat file, held open: each beat is one synchronous `pwrite` in place — no fsync,
 * no rename, no new inode — so it costs the same however many runs the store keeps.
 *
 * Byte 0 is a flag: `' '` while beats may be written, `'F'` once a status change has fenced the
 * file (see `FileRunBackend`). A beat reads the file (learning the previous beat and the flag),
 * writes from byte 1, then reads byte 0 again ({@link isOpen}): a beat that still sees `' '`
 * after its write was written before the fence, so whoever fenced reads it afterwards. (A store
 * and a load on each side with system calls in between: at least one side sees the other.)
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

  /**
   * Opens an existing beat file for beating, or returns `undefined` when there is none (never
   * creates one). A symbolic link in its place is refused (ELOOP), its target untouched.
   */
  static open(io: RunFilesIO, file: string): BeatFile | undefined {
    const fd = io.open(file, 'r+');
    return fd === undefined ? undefined : new BeatFile(io, file, fd);
  }

  /**
   * Puts a new, open beat file at `file` holding `beat` or none, replacing any (never a symbolic
   * link: ELOOP). Not fsynced.
   */
  static replace(io: RunFilesIO, file: string, beat?: Beat): void {
    replaceFile(io, file, beat ? Buffer.concat([OPEN_FLAG, encodeBeat(beat)]) : OPEN_FLAG);
  }

  /** The beat in `file` without keeping it open; `undefined` when it is missing or unreadable. */
  static peek(io: RunFilesIO, file: string): Beat | undefined {
    const fd = io.open(file, 'r');
    if (fd === undefined) return undefined;
    try {
      return readFile(io, fd).beat;
    } finally {
      io.close(fd);
    }
  }

  /** The current beat and flag. Do not change the beat it returns. */
  read(): BeatRead {
    const written = this.#written;
    if (written) {
      // Nobody else wrote since our last beat (the usual case: one process beats a run): no decoding.
      const bytes = readAll(this.io, this.fd);
      if (bytes.length === written.length + BEAT_AT && bytes[0] === OPEN && bytes.subarray(BEAT_AT).equals(written)) {
        return { beat: this.#writtenBeat, fenced: false, length: written.length };
      }
      this.#written = undefined;
    }
    const read = readFile(this.io, this.fd);
    this.#length = read.length;
    return read;
  }

  /**
   * Overwrites the beat in place, every byte (a short count is continued, a write that takes none
   * is ENOSPC). Call {@link read} first: it learns how long the previous beat was. A write cut
   * short leaves a torn beat, which reads as no beat (the run falls back to its last record).
   */
  write(beat: Beat): void {
    const bytes = encodeBeat(beat, this.#length);
    this.#written = undefined;
    writeAll(this.io, this.fd, bytes, BEAT_AT, this.file);
    this.#length = bytes.length;
    this.#written = bytes;
    this.#writtenBeat = beat;
  }

  /** True while no status change has fenced the file: one 1-byte read. */
  isOpen(): boolean {
    // An empty file (no flag byte yet) is open too.
    return this.io.read(this.fd, flagByte, 0) === 0 || flagByte[0] !== FENCED;
  }

  /** Fences the file: later beats see the flag and are refused or retried on a new file. */
  fence(): void {
    writeAll(this.io, this.fd, FENCED_FLAG, 0, this.file);
  }

  /** Lets beats into the file again (a status change that failed). */
  unfence(): void {
    writeAll(this.io, this.fd, OPEN_FLAG, 0, this.file);
  }

  close(): void {
    try {
      this.io.close(this.fd);
    } catch {
      // Already closed: nothing to release.
    }
  }
}
