import { describe, expect, it } from 'vitest';
import { decodeLine, isSoundLine, sealLine } from '../../src/events/line-format.js';

/** A sealed log line (with its checksum and newline) for `fields`, and its bytes without the newline. */
function sealed(fields: string): Buffer {
  const buffer = Buffer.alloc(1024);
  const start = 3; // not at 0: the functions take a range of a larger buffer
  const end = start + buffer.write(fields, start, 'utf8');
  const lineEnd = sealLine(buffer, start, end);
  return buffer.subarray(start, lineEnd - 1);
}

describe('log line format', () => {
  const fields = '{"cursor":7,"type":"progress","at":1700000000000,"payload":{"step":3,"note":"é"}';

  it('decodes a sealed line to its four event fields: the checksum is checked but never parsed', () => {
    // The parse must not see `crc`: V8 keeps short string values of JSON.parse in its string
    // table, so a parsed checksum per line would cost memory over a long replay.
    expect(decodeLine(sealed(fields))).toStrictEqual({
      cursor: 7,
      type: 'progress',
      at: 1700000000000,
      payload: { step: 3, note: 'é' },
    });
  });

  it('leaves the bytes it decodes as they were', () => {
    const line = sealed(fields);
    const before = Buffer.from(line);
    decodeLine(line);
    expect(line.equals(before)).toBe(true);
  });

  it('decodes a line inside a larger buffer by its range', () => {
    const line = sealed(fields);
    const buffer = Buffer.concat([Buffer.from('xx\n'), line, Buffer.from('\n{"cursor":8')]);
    expect(decodeLine(buffer, 3, 3 + line.length)?.cursor).toBe(7);
    expect(isSoundLine(buffer, 7, 3, 3 + line.length)).toBe(true);
    expect(isSoundLine(buffer, 8, 3, 3 + line.length)).toBe(false);
  });

  it('refuses a sealed line with one payload byte changed, though it still parses', () => {
    const line = Buffer.from(sealed(fields));
    line[line.indexOf('"step":3') + 7] = 0x34; // 3 → 4
    expect(decodeLine(line)).toBeUndefined();
    expect(isSoundLine(line, 7)).toBe(false);
  });

  it('reads a line written before checksums (exactly the four fields), which only a parse can judge', () => {
    const legacy = Buffer.from(`${fields}}`);
    expect(decodeLine(legacy)?.payload).toStrictEqual({ step: 3, note: 'é' });
    expect(isSoundLine(legacy, 7)).toBeUndefined();
  });
});
