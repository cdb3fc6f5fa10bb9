import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeEventLogIO } from '../../src/events/event-log-io.js';
import { LineScanner } from '../../src/events/line-scanner.js';
import { tempDir } from '../helpers/tmp.js';

describe('LineScanner', () => {
  it('returns every complete line with its offsets, whatever the chunk sizes, and holds back a partial one', () => {
    const dir = tempDir();
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ unit: 'grapheme', maxLength: 9_000 }).map((text) => text.replaceAll('\n', ' ')),
          {
            maxLength: 30,
          },
        ),
        fc.string({ maxLength: 300 }).map((text) => text.replaceAll('\n', ' ')),
        fc.integer({ min: 1, max: 20_000 }),
        (lines, partial, firstChunk) => {
          const file = path.join(dir, 'lines');
          fs.writeFileSync(file, lines.map((line) => `${line}\n`).join('') + partial);
          const handle = nodeEventLogIO.open(file, 'read')!;
          try {
            const scanner = new LineScanner(handle, 0, { firstChunk, maxLineBytes: 1 << 20 });
            const seen: string[] = [];
            let offset = 0;
            for (let line = scanner.next(); line !== undefined; line = scanner.next()) {
              expect(scanner.lineStart).toBe(offset);
              offset = scanner.lineEnd;
              seen.push(line);
            }
            expect(seen).toEqual(lines);
            expect(scanner.partialBytes).toBe(Buffer.byteLength(partial));
          } finally {
            handle.close();
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('gives each of two scanners open at once its own lines when one was released before they began', () => {
    const dir = tempDir();
    const files = ['a', 'b'].map((name) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, Array.from({ length: 50 }, (_, i) => `${name}${i}\n`).join(''));
      return nodeEventLogIO.open(file, 'read')!;
    });
    try {
      const scanner = (handle = files[0]!) => new LineScanner(handle, 0, { maxLineBytes: 1 << 20 });
      const first = scanner();
      first.next();
      // Its buffer goes to the next scanner made: only one of the two open below may have it.
      first.release();
      expect(first.next()).toBeUndefined();
      const [a, b] = [scanner(files[0]), scanner(files[1])];
      const seen: string[] = [];
      for (let i = 0; i < 50; i++) seen.push(a.next()!, b.next()!);
      expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => [`a${i}`, `b${i}`]).flat());
    } finally {
      for (const handle of files) handle.close();
    }
  });
});
