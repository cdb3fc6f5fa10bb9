import { describe, expect, it } from 'vitest';
import { parseLastEventId } from '../../src/sse/index.js';

describe('parseLastEventId', () => {
  it('reads a plain non-negative integer from the header', () => {
    expect(parseLastEventId('42')).toBe(42);
    expect(parseLastEventId('0')).toBe(0);
  });

  it.each(['3.5', '1e9', '-1', '', ' 3', '3 ', '+3', '0x10', 'abc', '١٢'])('refuses %j', (text) => {
    expect(parseLastEventId(text)).toBeNull();
  });

  it('refuses a number beyond the safe integer range', () => {
    expect(parseLastEventId('9007199254740993')).toBeNull();
  });

  it('gives null when neither value is present', () => {
    expect(parseLastEventId(undefined)).toBeNull();
    expect(parseLastEventId(undefined, undefined)).toBeNull();
    expect(parseLastEventId(null, null)).toBeNull();
  });

  it('prefers the header over the legacy query value', () => {
    expect(parseLastEventId('7', '3')).toBe(7);
  });

  it('falls back to the legacy query value when the header is absent', () => {
    expect(parseLastEventId(undefined, '3')).toBe(3);
  });

  it('falls back to the legacy query value when the header is not a cursor', () => {
    expect(parseLastEventId('nope', '3')).toBe(3);
  });

  it('takes the first value of a repeated header as node gives it in an array', () => {
    expect(parseLastEventId(['5', '9'])).toBe(5);
    expect(parseLastEventId([])).toBeNull();
    expect(parseLastEventId(['x', '9'])).toBeNull();
  });
});
