import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDocument, StoreError, StoreIOError } from '../../src/storage/index.js';
import { type ItemDoc, itemFormat } from '../helpers/item-format.js';
import { tempDir } from '../helpers/tmp.js';
import { describeOutcomes, type FaultCase, sweepFaults } from './fault-sweep.js';
import { FaultyIO, strayTemps } from './faulty-io.js';
import { refuseLockRemoval } from './lock-removal-faults.js';

const fileIn = (root: string) => path.join(root, 'doc.json');
const open = (root: string, io: FaultyIO): ItemDoc => openDocument(itemFormat, { file: fileIn(root), io });

function put(doc: ItemDoc, id: string, n: number): Promise<number> {
  return doc.mutate((tx) => {
    tx.put(id, { id, n });
    tx.setMeta({ count: tx.meta.count + 1 });
    tx.appendLog(`put ${id}`);
    return n;
  });
}

async function observe(doc: ItemDoc) {
  const snap = await doc.read();
  return { meta: snap.meta, entries: [...snap.entries.values()], log: [...snap.log] };
}

function docCase(
  prepare: (doc: ItemDoc) => Promise<unknown>,
  run: (doc: ItemDoc) => Promise<unknown>,
): FaultCase<ItemDoc, unknown, FaultyIO> {
  return {
    prepare: async (root) => {
      await prepare(openDocument(itemFormat, { file: fileIn(root) }));
    },
    open,
    injector: () => new FaultyIO(),
    run,
    observe,
    probe: (doc) => put(doc, 'probe', 99),
    // writeAtomic renames the temp file over the target: past it, the change is on disk.
    committedAfter: ['writeAtomic'],
    detectsDamage: true,
  };
}

describe('DurableDocument under injected disk faults', () => {
  it('keeps the first write of a new file all-or-nothing at every step', async () => {
    const outcomes = await sweepFaults(
      docCase(
        async () => {},
        (doc) => put(doc, 'a', 1),
      ),
    );
    expect(outcomes.filter((o) => o.result === 'not-reached')).toEqual([]);
    expect(
      outcomes.some((o) => o.result === 'unchanged'),
      describeOutcomes(outcomes),
    ).toBe(true);
    if (process.env.SHOW_FAULTS) console.log(describeOutcomes(outcomes));
  });

  it('keeps an update of an existing file all-or-nothing at every step', async () => {
    const outcomes = await sweepFaults(
      docCase(
        async (doc) => {
          await put(doc, 'a', 1);
          await put(doc, 'b', 2);
        },
        (doc) => put(doc, 'a', 10),
      ),
    );
    expect(outcomes.filter((o) => o.result === 'not-reached')).toEqual([]);
  });

  it('fails every mutation of a group commit together when its one write fails', async () => {
    const outcomes = await sweepFaults(
      docCase(
        (doc) => put(doc, 'a', 1),
        async (doc) => {
          const results = await Promise.allSettled([put(doc, 'b', 2), put(doc, 'c', 3), put(doc, 'a', 4)]);
          const rejected = results.filter((r) => r.status === 'rejected');
          // All three share one write: either all are acknowledged or none is.
          expect([0, 3]).toContain(rejected.length);
          if (rejected.length) throw (rejected[0] as PromiseRejectedResult).reason;
        },
      ),
    );
    expect(outcomes.filter((o) => o.result === 'not-reached')).toEqual([]);
  });

  it('leaves only the target file readable after a crash between writing the temp file and renaming it', async () => {
    const root = tempDir();
    const io = new FaultyIO();
    const doc = open(root, io);
    await put(doc, 'a', 1);
    // Find where the write falls in one update's sequence of calls, then crash exactly there.
    const mark = io.count;
    await put(doc, 'a', 1);
    const writeIndex = io.calls.slice(mark).findIndex((call) => call.step === 'writeAtomic');
    expect(writeIndex).toBeGreaterThanOrEqual(0);
    const again = fs.readFileSync(fileIn(root));
    io.failAt(writeIndex, 'crash');
    await expect(put(doc, 'b', 2)).rejects.toBeInstanceOf(StoreError);
    expect(io.fired[0]?.step).toBe('writeAtomic');
    expect(strayTemps(root).length).toBeGreaterThan(0);
    expect(fs.readFileSync(fileIn(root))).toEqual(again);
    const reopened = await observe(open(root, new FaultyIO()));
    expect(reopened.entries).toEqual([{ id: 'a', n: 1 }]);
  });

  it('refuses every write with a StoreIOError while the disk is full and works again once space is freed', async () => {
    const root = tempDir();
    const io = new FaultyIO();
    const doc = open(root, io);
    await put(doc, 'a', 1);
    io.failAll('ENOSPC', ['writeAtomic']);
    for (let i = 0; i < 5; i++) {
      const error = await put(doc, `x${i}`, i).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreIOError);
      expect((error as StoreError).code).toBe('IO');
      expect((error as Error).message).toContain('ENOSPC');
    }
    expect((await observe(doc)).entries).toEqual([{ id: 'a', n: 1 }]);
    io.heal();
    await put(doc, 'b', 2);
    expect((await observe(open(root, new FaultyIO()))).entries).toEqual([
      { id: 'a', n: 1 },
      { id: 'b', n: 2 },
    ]);
  });

  it('serves reads from the last good snapshot while every write fails with EIO', async () => {
    const root = tempDir();
    const io = new FaultyIO();
    const doc = open(root, io);
    await put(doc, 'a', 1);
    io.failAll('EIO', ['writeAtomic', 'fsyncDir']);
    await expect(put(doc, 'b', 2)).rejects.toMatchObject({ code: 'IO' });
    expect((await observe(doc)).entries).toEqual([{ id: 'a', n: 1 }]);
  });

  it('leaves an unreadable file in place when moving it aside fails, and moves it once the disk works', async () => {
    const root = tempDir();
    fs.writeFileSync(fileIn(root), '{"schemaVersion":1,"rev":');
    const io = new FaultyIO();
    const warnings: string[] = [];
    const doc = openDocument(itemFormat, {
      file: fileIn(root),
      io,
      onCorrupt: 'quarantine',
      onWarning: (w) => warnings.push(w.movedTo),
    });
    io.failAll('EIO', ['rename']);
    await expect(put(doc, 'a', 1)).rejects.toMatchObject({ code: 'IO' });
    expect(fs.readFileSync(fileIn(root), 'utf8')).toBe('{"schemaVersion":1,"rev":');
    expect(fs.readdirSync(root).filter((name) => name.includes('.corrupt-'))).toEqual([]);
    io.heal();
    await put(doc, 'a', 1);
    expect(warnings).toHaveLength(1);
    expect(fs.readFileSync(warnings[0]!, 'utf8')).toBe('{"schemaVersion":1,"rev":');
    expect((await observe(open(root, new FaultyIO()))).entries).toEqual([{ id: 'a', n: 1 }]);
  });
});

// The lock is taken with node:fs directly (proper-lockfile on `<file>.lock`), not through
// StorageIO: its faults are installed in node:fs itself (lock-removal-faults.ts).
describe('lock faults', () => {
  it('a failure to release the lock does not fail the write that was acknowledged', async () => {
    const root = tempDir();
    const doc = openDocument(itemFormat, { file: fileIn(root), lock: { waitMs: 0, staleMs: 60_000 } });
    const heal = refuseLockRemoval('EIO');
    try {
      await expect(put(doc, 'a', 1)).resolves.toBe(1);
      expect(fs.existsSync(`${fileIn(root)}.lock`)).toBe(true);
    } finally {
      heal();
    }
    expect((await observe(open(root, new FaultyIO()))).entries).toEqual([{ id: 'a', n: 1 }]);
    // The lock left behind names this process, which no longer holds it: taken over at once.
    await expect(put(doc, 'b', 2)).resolves.toBe(2);
    expect(fs.existsSync(`${fileIn(root)}.lock`)).toBe(false);
  });
});
