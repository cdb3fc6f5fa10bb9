import type { EventFileHandle } from './event-log-io.js';

const NEWLINE = 0x0a;
const REPLAY_CHUNK = 256 * 1024;
const FIRST_CHUNK = 4 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * A first-chunk buffer a finished scanner handed back ({@link LineScanner.release}), for the next
 * one: a fresh 4 KiB buffer is too large for Node's buffer pool and costs about as much as the
 * read it is for (a reader's seek is one index read and one log read).
 */
let spare: Buffer | undefined;

/**
 * Reads the complete (newline-terminated) lines of a log file in chunks from a byte position,
 * so memory stays flat however long the log is. The first chunk is one page, because a reconnecting
 * client usually wants a few events; later chunks are larger, for replays.
 */
export class LineScanner {
  #buffer: Buffer;
  #filled: Buffer;
  /** File offset of `#buffer[0]`. */
  #base: number;
  #pos = 0;
  #end = 0;
  #eof = false;
  #reads = 0;
  readonly #maxLineBytes: number;
  /** File offset of the line `next()` returned last. */
  lineStart = 0;
  /** File offset just past that line's newline. */
  lineEnd = 0;

  constructor(
    readonly handle: EventFileHandle,
    position: number,
    options: { firstChunk?: number; maxLineBytes: number },
  ) {
    this.#base = position;
    this.lineEnd = position;
    const size = options.firstChunk ?? FIRST_CHUNK;
    if (size === FIRST_CHUNK && spare !== undefined) {
      this.#buffer = spare;
      spare = undefined;
    } else {
      this.#buffer = Buffer.allocUnsafe(size);
    }
    this.#filled = this.#buffer.subarray(0, 0);
    this.#maxLineBytes = options.maxLineBytes;
  }

  /** The next complete line without its newline, or `undefined` when only a partial line (or nothing) is left. */
  next(): string | undefined {
    return this.nextBytes()?.toString('utf8');
  }

  /**
   * The bytes of the next complete line without its newline (a view valid until the next call),
   * or `undefined` when only a partial line (or nothing) is left.
   */
  nextBytes(): Buffer | undefined {
    return this.nextLine() ? this.#buffer.subarray(this.start, this.end) : undefined;
  }

  /**
   * Moves to the next complete line, without making a view of it: afterwards the line (no
   * newline) is `buffer[start…end)`, valid until the next call. False when only a partial line
   * (or nothing) is left. The fast path of a replay, which allocates nothing per line here.
   */
  nextLine(): boolean {
    for (;;) {
      const newline = this.#filled.indexOf(NEWLINE, this.#pos);
      if (newline !== -1) {
        this.start = this.#pos;
        this.end = newline;
        this.lineStart = this.#base + this.#pos;
        this.lineEnd = this.#base + newline + 1;
        this.#pos = newline + 1;
        return true;
      }
      if (this.#eof || !this.#refill()) return false;
    }
  }

  /** The buffer holding the line {@link nextLine} moved to. */
  get buffer(): Buffer {
    return this.#buffer;
  }

  /** Where that line starts in {@link buffer}. */
  start = 0;
  /** Where it ends in {@link buffer} (its newline). */
  end = 0;

  /**
   * Set when a line exceeded `maxLineBytes`: `complete` when a newline ends it further on (an
   * event too large for this configuration: not to be cut), `torn` when none does (garbage a
   * crash left).
   */
  overlong: 'complete' | 'torn' | undefined;

  /** Whether a newline occurs at or after `position`; reads ahead without keeping what it reads. */
  #newlineAfter(position: number): boolean {
    const chunk = Buffer.allocUnsafe(64 * 1024);
    for (let at = position; ; ) {
      const read = this.handle.read(chunk, 0, chunk.length, at);
      if (read === 0) return false;
      if (chunk.subarray(0, read).includes(NEWLINE)) return true;
      at += read;
    }
  }

  /**
   * Ends the scanner and hands its first-chunk buffer to the next one. Only once nothing holds a
   * view of its lines any more; afterwards it has no more lines.
   */
  release(): void {
    if (this.#buffer.length === FIRST_CHUNK) spare = this.#buffer;
    this.#buffer = EMPTY;
    this.#filled = EMPTY;
    this.#pos = 0;
    this.#end = 0;
    this.#eof = true;
  }

  /** Bytes after the last complete line that have been seen (a partial line). */
  get partialBytes(): number {
    return this.#end - this.#pos;
  }

  #refill(): boolean {
    // Keep the partial line, drop what was consumed.
    if (this.#pos > 0) {
      this.#buffer.copy(this.#buffer, 0, this.#pos, this.#end);
      this.#base += this.#pos;
      this.#end -= this.#pos;
      this.#pos = 0;
    }
    if (this.#end === this.#buffer.length) {
      // Longer than any event may be: stop, and tell a torn write from a complete line.
      if (this.#buffer.length >= this.#maxLineBytes) {
        this.#eof = true;
        this.overlong = this.#newlineAfter(this.#base + this.#end) ? 'complete' : 'torn';
        return false;
      }
      const bigger = Buffer.allocUnsafe(Math.min(this.#buffer.length * 4, Math.max(this.#maxLineBytes, 1024)));
      this.#buffer.copy(bigger, 0, 0, this.#end);
      this.#buffer = bigger;
    } else if (this.#reads > 0 && this.#buffer.length < REPLAY_CHUNK) {
      // The first chunk was small; a caller that keeps reading is replaying: read more at once.
      const bigger = Buffer.allocUnsafe(REPLAY_CHUNK);
      this.#buffer.copy(bigger, 0, 0, this.#end);
      this.#buffer = bigger;
    }
    this.#reads++;
    const read = this.handle.read(this.#buffer, this.#end, this.#buffer.length - this.#end, this.#base + this.#end);
    if (read === 0) {
      this.#eof = true;
      this.#filled = this.#buffer.subarray(0, this.#end);
      return false;
    }
    this.#end += read;
    this.#filled = this.#buffer.subarray(0, this.#end);
    return true;
  }
}

/** The event fields of a log line, or `undefined` when the line is not an event. */
export interface LogLine {
  cursor: number;
  type: string;
  at: number;
  payload: unknown;
}

/**
 * Parses one line of text; `undefined` for anything that is not an event object with a positive
 * integer cursor. The file backend checks lines with `decodeLine` (line-format.ts) instead, which
 * also checks their checksum.
 */
export function parseLine(text: string): LogLine | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const line = value as LogLine;
  if (!Number.isSafeInteger(line.cursor) || line.cursor < 1 || typeof line.type !== 'string') return undefined;
  return line;
}
