import { crc32 } from 'node:zlib';

/**
 * The line format of a run's log. One event per line, a JSON object a person can read with
 * `tail -f` or `jq`:
 *
 * ```text
 * {"cursor":7,"type":"progress","at":1700000000000,"payload":{"step":3},"crc":"0a1b2c3d"}
 * ```
 *
 * `crc` is the CRC-32 (zlib's, as 8 lowercase hex digits) of the line's UTF-8 bytes before
 * `,"crc":"` — from the opening brace through the end of the payload. It is always the last field,
 * so it sits at a fixed distance from the line's end and is checked without parsing. Lines
 * written before the checksum (`{"cursor","type","at","payload"}` only) still read; they are
 * checked for their cursor and their JSON only.
 */

const NEWLINE = 0x0a;
const CRC_HEAD = ',"crc":"';
const CRC_HEAD_BYTES = Buffer.from(CRC_HEAD, 'latin1');
/** `,"crc":"` + 8 hex digits + `"}`. */
export const CRC_SUFFIX_BYTES = CRC_HEAD.length + 8 + 2;
const HEX = '0123456789abcdef';
const CURSOR_HEAD = '{"cursor":';
const CURSOR_HEAD_BYTES = Buffer.from(CURSOR_HEAD, 'latin1');

/** Whether `bytes[at…]` starts with `head` (byte by byte: cheaper than a string for a few bytes). */
function startsAt(bytes: Buffer, at: number, head: Buffer): boolean {
  for (let i = 0; i < head.length; i++) if (bytes[at + i] !== head[i]) return false;
  return true;
}

/** The event fields of a log line. */
export interface LogLine {
  cursor: number;
  type: string;
  at: number;
  payload: unknown;
}

/**
 * Ends a line whose bytes `buffer[start…end)` hold `{"cursor":…,"payload":…` (without the closing
 * brace): appends `,"crc":"<hex>"}\n`. Returns the new end.
 */
export function sealLine(buffer: Buffer, start: number, end: number): number {
  let crc = crc32(buffer.subarray(start, end));
  let at = end + buffer.write(CRC_HEAD, end, 'latin1') + 8;
  for (let i = 1; i <= 8; i++) {
    buffer[at - i] = HEX.charCodeAt(crc & 0xf);
    crc >>>= 4;
  }
  buffer[at++] = 0x22; // "
  buffer[at++] = 0x7d; // }
  buffer[at++] = NEWLINE;
  return at;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/** {@link checkedEnd}: the line has no checksum suffix (a line written before it). */
const NO_CHECKSUM = -1;
/** {@link checkedEnd}: the checksum does not match, or the suffix is damaged. */
const MISMATCH = -2;

/**
 * Checks the stored checksum of the line `bytes[start…end)` (no newline). Returns where the
 * checksummed bytes end (the offset of `,"crc":"`) when it matches, else {@link NO_CHECKSUM}
 * or {@link MISMATCH}.
 */
function checkedEnd(bytes: Buffer, start: number, end: number): number {
  if (end - start < CRC_SUFFIX_BYTES + CURSOR_HEAD.length) return NO_CHECKSUM;
  const head = end - CRC_SUFFIX_BYTES;
  if (bytes[end - 1] !== 0x7d || bytes[end - 2] !== 0x22) return NO_CHECKSUM;
  if (!startsAt(bytes, head, CRC_HEAD_BYTES)) return NO_CHECKSUM;
  let stored = 0;
  for (let i = head + CRC_HEAD.length; i < end - 2; i++) {
    const digit = hexValue(bytes[i]!);
    if (digit < 0) return MISMATCH;
    stored = stored * 16 + digit;
  }
  // zlib's crc32 takes no range: the one view a checked line costs.
  return crc32(bytes.subarray(start, head)) === stored ? head : MISMATCH;
}

/**
 * The cursor the line `bytes[start…end)` starts with (`{"cursor":<n>,`), without parsing the
 * rest; `undefined` when it does not start like an event line.
 */
export function cursorOf(bytes: Buffer, start = 0, end = bytes.length): number | undefined {
  if (end - start <= CURSOR_HEAD.length || !startsAt(bytes, start, CURSOR_HEAD_BYTES)) return undefined;
  let value = 0;
  const first = start + CURSOR_HEAD.length;
  let i = first;
  for (; i < end && i < first + 16; i++) {
    const code = bytes[i]!;
    if (code < 0x30 || code > 0x39) break;
    value = value * 10 + code - 0x30;
  }
  return i > first && i < end && bytes[i] === 0x2c && value >= 1 ? value : undefined;
}

/**
 * Whether the line `bytes[start…end)` (no newline) is sound without parsing it: it starts with
 * `{"cursor":<cursor>,` and its checksum matches. `undefined` for a line without a checksum
 * (written before it), which only a parse can judge.
 */
export function isSoundLine(bytes: Buffer, cursor: number, start = 0, end = bytes.length): boolean | undefined {
  const checked = checkedEnd(bytes, start, end);
  if (checked === NO_CHECKSUM) return undefined;
  return checked >= 0 && cursorOf(bytes, start, end) === cursor;
}

const LEGACY_KEYS = 4;

/**
 * Parses and checks one log line, `bytes[start…end)` (no newline): `undefined` for anything that
 * is not an intact event — not JSON, no positive integer cursor, a checksum that does not match,
 * or a damaged checksum field.
 */
export function decodeLine(bytes: Buffer, start = 0, end = bytes.length): LogLine | undefined {
  const checked = checkedEnd(bytes, start, end);
  if (checked === MISMATCH) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(
      checked === NO_CHECKSUM ? bytes.toString('utf8', start, end) : withoutChecksum(bytes, start, checked),
    );
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const line = value as LogLine;
  if (!Number.isSafeInteger(line.cursor) || line.cursor < 1 || typeof line.type !== 'string') return undefined;
  if (typeof line.at !== 'number' || !('payload' in line)) return undefined;
  // Without a valid checksum suffix the line must be one written before checksums: exactly the
  // four fields. A line with a damaged `crc` field (or any other key) is not one.
  if (checked === NO_CHECKSUM && Object.keys(line).length !== LEGACY_KEYS) return undefined;
  return line;
}

/**
 * The text of a checked line without its checksum field: `bytes[start…head)` and a closing brace.
 * The parse never sees the checksum, which matters for memory as well as speed: V8 interns short
 * string values of `JSON.parse`, and a million distinct checksums would stay in its string table
 * (about 50 MB over a replay of a million events). The brace is put in place of the comma for the
 * conversion and the byte restored.
 */
function withoutChecksum(bytes: Buffer, start: number, head: number): string {
  bytes[head] = 0x7d; // }
  try {
    return bytes.toString('utf8', start, head + 1);
  } finally {
    bytes[head] = 0x2c; // ,
  }
}

/** Whether a line is a crash's zero fill (data that never reached the disk) rather than a written line. */
export function startsWithNul(bytes: Buffer): boolean {
  return bytes.length > 0 && bytes[0] === 0;
}
