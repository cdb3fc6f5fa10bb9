import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type DocumentFormat, openDocument } from '../../src/storage/index.js';
import { tempDir } from '../helpers/tmp.js';
import { FaultyIO } from './faulty-io.js';

// Faults after the rename that commits a JSON store's write: the fault sweeps accept them as "in
// doubt" (the change is on disk although the caller heard it failed). A rename cannot be undone,
// so the core says so (StoreIOError.inDoubt) and never fails a write that is already durable.

const Item = z.object({ id: z.string() });
const format: DocumentFormat<{ id: string }, Record<string, never>, never> = {
  version: 1,
  entry: Item,
  meta: z.object({}) as unknown as z.ZodType<Record<string, never>>,
  logRow: z.never(),
  keyOf: (item) => item.id,
  emptyMeta: () => ({}),
};

async function writeWithFaultAfter(step: 'fsyncDir' | 'identify') {
  const file = path.join(tempDir(), 'doc.json');
  const io = new FaultyIO();
  const doc = openDocument(format, { file, io });
  await doc.mutate((tx) => tx.put('a', { id: 'a' }));
  // Record one write's calls, then fail the first `step` after its writeAtomic.
  const mark = io.count;
  await doc.mutate((tx) => tx.put('b', { id: 'b' }));
  const calls = io.calls.slice(mark);
  const write = calls.findIndex((c) => c.step === 'writeAtomic');
  const at = calls.findIndex((c, i) => i > write && c.step === step);
  io.failAt(at, 'EIO');
  const outcome = await doc
    .mutate((tx) => tx.put('c', { id: 'c' }))
    .then(
      () => undefined,
      (error: Error) => error,
    );
  const reopened = await openDocument(format, { file }).read();
  return { outcome, keys: [...reopened.entries.keys()].sort() };
}

describe('a fault after the rename that committed a write', () => {
  it('a failed directory fsync rejects the write while the new contents are in the file (in doubt)', async () => {
    const { outcome, keys } = await writeWithFaultAfter('fsyncDir');
    expect(outcome).toMatchObject({ code: 'IO' });
    expect(keys).toEqual(['a', 'b', 'c']);
  });

  it('the error of an in-doubt write says the change is in the file and marks it inDoubt', async () => {
    const { outcome } = await writeWithFaultAfter('fsyncDir');
    expect(outcome?.message).not.toContain('nothing was changed');
    expect(outcome).toMatchObject({ code: 'IO', inDoubt: true });
  });

  it('a failed stat after a committed write does not fail the write', async () => {
    // Only the cache's identity is refreshed there: the write is durable, dropping the cache would do.
    const { outcome, keys } = await writeWithFaultAfter('identify');
    expect(keys).toEqual(['a', 'b', 'c']);
    expect(outcome).toBeUndefined();
  });
});
