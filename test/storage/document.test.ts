import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  CorruptStoreError,
  type DocumentFormat,
  type DocumentLocation,
  openDocument,
  type StoreWarning,
} from '../../src/storage/index.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';

const Item = z.object({ id: z.string(), n: z.number() });
type Item = z.infer<typeof Item>;
const format: DocumentFormat<Item, { count: number }, string> = {
  version: 2,
  entry: Item,
  meta: z.object({ count: z.number() }),
  logRow: z.string(),
  keyOf: (item) => item.id,
  emptyMeta: () => ({ count: 0 }),
  migrations: { 1: (doc) => ({ ...doc, meta: { count: -1 } }) },
};

function put(id: string, n: number) {
  return (
    tx: Parameters<Parameters<ReturnType<typeof openDocument<Item, { count: number }, string>>['mutate']>[0]>[0],
  ) => {
    tx.put(id, { id, n });
    tx.setMeta({ count: tx.meta.count + 1 });
    return n;
  };
}

const backends: [string, () => DocumentLocation<Item, { count: number }, string>][] = [
  ['file', () => ({ file: path.join(tempDir(), 'doc.json') })],
  ['memory', () => ({ memory: true })],
];

describe.each(backends)('DurableDocument (%s)', (_name, location) => {
  it('applies mutations issued together in order and resolves each with its own result', async () => {
    const doc = openDocument(format, location());
    const results = await Promise.all([1, 2, 3].map((n) => doc.mutate(put('a', n))));
    expect(results).toEqual([1, 2, 3]);
    const snap = await doc.read();
    expect(snap.entries.get('a')).toEqual({ id: 'a', n: 3 });
    expect(snap.meta.count).toBe(3);
  });

  it('discards what a throwing mutation staged while keeping its batch-mates', async () => {
    const doc = openDocument(format, location());
    const failing = doc.mutate((tx) => {
      tx.put('bad', { id: 'bad', n: 0 });
      throw new Error('refused');
    });
    const ok = doc.mutate(put('good', 1));
    await expect(failing).rejects.toThrow('refused');
    await expect(ok).resolves.toBe(1);
    const snap = await doc.read();
    expect([...snap.entries.keys()]).toEqual(['good']);
  });
});

describe('DurableDocument on a file', () => {
  it('lets a second instance see the first one’s write on its next read', async () => {
    const file = path.join(tempDir(), 'doc.json');
    const a = openDocument(format, { file });
    const b = openDocument(format, { file });
    expect((await b.read()).entries.size).toBe(0);
    await a.mutate(put('x', 1));
    expect((await b.read()).entries.get('x')).toEqual({ id: 'x', n: 1 });
    await b.mutate(put('y', 2));
    expect([...(await a.read()).entries.keys()].sort()).toEqual(['x', 'y']);
  });

  it('migrates an older schemaVersion on load', async () => {
    const file = path.join(tempDir(), 'doc.json');
    fs.writeFileSync(file, JSON.stringify({ schemaVersion: 1, rev: 3, entries: [{ id: 'a', n: 1 }] }));
    const snap = await openDocument(format, { file }).read();
    expect(snap.meta.count).toBe(-1);
    expect(snap.entries.get('a')).toEqual({ id: 'a', n: 1 });
  });

  it.each([
    ['truncated JSON', '{"schemaVersion":2,"rev":1,"entries":[{"id":"a"'],
    ['a wrong shape', JSON.stringify({ schemaVersion: 2, rev: 1, entries: [{ id: 7 }], log: [] })],
    ['a newer schemaVersion', JSON.stringify({ schemaVersion: 3, rev: 1, entries: [], log: [] })],
  ])('refuses a file with %s and leaves its bytes as they were', async (_what, text) => {
    const dir = tempDir();
    const file = path.join(dir, 'doc.json');
    fs.writeFileSync(file, text);
    const before = snapshotFiles(dir);
    const doc = openDocument(format, { file });
    await expect(doc.read()).rejects.toBeInstanceOf(CorruptStoreError);
    await expect(doc.mutate(put('a', 1))).rejects.toBeInstanceOf(CorruptStoreError);
    expect(snapshotFiles(dir)).toEqual(before);
  });

  it('moves an unreadable file aside intact under quarantine and starts empty', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'doc.json');
    fs.writeFileSync(file, '{"schemaVersion":2,');
    const warnings: StoreWarning[] = [];
    const doc = openDocument(format, { file, onCorrupt: 'quarantine', onWarning: (w) => warnings.push(w) });
    expect((await doc.read()).entries.size).toBe(0);
    expect(warnings).toHaveLength(1);
    expect(fs.readFileSync(warnings[0]!.movedTo, 'utf8')).toBe('{"schemaVersion":2,');
    await doc.mutate(put('a', 1));
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).entries).toEqual([{ id: 'a', n: 1 }]);
  });
});

describe('DurableDocument after a crash mid-write', () => {
  it('removes the temp files of interrupted writes on its first write, and nothing else', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'doc.json');
    const doc = openDocument(format, { file });
    await doc.mutate(put('a', 1));
    // What write-file-atomic leaves when its process is killed before the rename.
    fs.writeFileSync(`${file}.3141592653`, '{"schemaVersion":2,"rev":9');
    fs.writeFileSync(`${file}.corrupt-1700000000000`, 'kept: a quarantined file');
    fs.writeFileSync(`${file}.bak`, 'kept: not ours');
    const reopened = openDocument(format, { file });
    await reopened.mutate(put('b', 2));
    expect(fs.readdirSync(dir).sort()).toEqual(['doc.json', 'doc.json.bak', 'doc.json.corrupt-1700000000000']);
    expect([...(await reopened.read()).entries.keys()]).toEqual(['a', 'b']);
  });
});
