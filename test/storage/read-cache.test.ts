import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type DocumentFormat, nodeIO, openDocument, type StorageIO } from '../../src/storage/index.js';
import { tempDir } from '../helpers/tmp.js';

const Item = z.object({ id: z.string(), n: z.number() });
type Item = z.infer<typeof Item>;
const format: DocumentFormat<Item, Record<string, never>, string> = {
  version: 1,
  entry: Item,
  meta: z.object({}) as unknown as z.ZodType<Record<string, never>>,
  logRow: z.string(),
  keyOf: (item) => item.id,
  emptyMeta: () => ({}),
};

/** The real file system, counting stats of the path (the slow way to revalidate the cache). */
function countingIO(): StorageIO & { stats: number } {
  const io = {
    ...nodeIO,
    stats: 0,
    identify(file: string) {
      io.stats++;
      return nodeIO.identify(file);
    },
  };
  return io;
}

function open(file: string, io?: StorageIO) {
  return openDocument(format, { file, io });
}

async function ids(doc: ReturnType<typeof open>): Promise<string[]> {
  return [...(await doc.read()).entries.keys()];
}

describe('the read cache of a file document', () => {
  it('revalidates a warm read without a stat of the path', async () => {
    const io = countingIO();
    const doc = open(path.join(tempDir(), 'doc.json'), io);
    await doc.mutate((tx) => tx.put('a', { id: 'a', n: 1 }));
    await doc.read();
    const before = io.stats;
    for (let i = 0; i < 100; i++) await doc.read();
    expect(io.stats).toBe(before);
  });

  it("sees another instance's atomic replace on the next read", async () => {
    const file = path.join(tempDir(), 'doc.json');
    const reader = open(file);
    const writer = open(file);
    await writer.mutate((tx) => tx.put('a', { id: 'a', n: 1 }));
    expect(await ids(reader)).toEqual(['a']);
    await writer.mutate((tx) => tx.put('b', { id: 'b', n: 2 }));
    expect(await ids(reader)).toEqual(['a', 'b']);
  });

  it('sees a rewrite of the file in place on the next read', async () => {
    const file = path.join(tempDir(), 'doc.json');
    const doc = open(file);
    await doc.mutate((tx) => tx.put('a', { id: 'a', n: 1 }));
    expect(await ids(doc)).toEqual(['a']);
    // Edited by hand, as the README says: the checksum key goes.
    const edited = fs
      .readFileSync(file, 'utf8')
      .replace(/"crc32":"[0-9a-f]{8}",/, '')
      .replace('"id":"a","n":1', '"id":"edited","n":12345');
    fs.writeFileSync(file, edited);
    expect(await ids(doc)).toEqual(['edited']);
  });

  it('sees the file deleted on the next read', async () => {
    const file = path.join(tempDir(), 'doc.json');
    const doc = open(file);
    await doc.mutate((tx) => tx.put('a', { id: 'a', n: 1 }));
    expect(await ids(doc)).toEqual(['a']);
    fs.rmSync(file);
    expect(await ids(doc)).toEqual([]);
  });

  it('stays correct for documents opened beyond the process-wide number of held watches', async () => {
    const dir = tempDir();
    const docs = Array.from({ length: 80 }, (_, i) => open(path.join(dir, `doc-${i}.json`)));
    await Promise.all(docs.map((doc, i) => doc.mutate((tx) => tx.put(`a${i}`, { id: `a${i}`, n: i }))));
    for (const doc of docs) await doc.read();
    const others = Array.from({ length: 80 }, (_, i) => open(path.join(dir, `doc-${i}.json`)));
    await Promise.all(others.map((doc, i) => doc.mutate((tx) => tx.put(`b${i}`, { id: `b${i}`, n: i }))));
    for (const [i, doc] of docs.entries()) expect(await ids(doc)).toEqual([`a${i}`, `b${i}`]);
  });
});
