import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createStores, ProjectMemoryStore } from '../../src/index.js';
import { manualClock } from '../helpers/manual-clock.js';
import { snapshotFiles } from '../helpers/tmp.js';
import { byEntryId, copyOfSeedLogs, fixtureDoc, MEMORY_FILE, oldMemoryReader } from './helpers.js';

const seed = fixtureDoc(MEMORY_FILE);
const LATER = 1_800_000_000_000;

function openSeed() {
  const logs = copyOfSeedLogs();
  const clock = manualClock(LATER);
  return { ...logs, clock, store: new ProjectMemoryStore({ path: logs.memoryFile, clock }) };
}

describe('ProjectMemoryStore on a file written by the implementation it replaces', () => {
  it('lists every entry exactly as the file holds it', async () => {
    const { store } = openSeed();
    expect(await store.list()).toEqual(byEntryId(seed.entries));
  });

  it('gets every entry by its id', async () => {
    const { store } = openSeed();
    for (const entry of seed.entries) expect(await store.get(entry.entryId)).toEqual(entry);
  });

  it('returns every audit row, including the one of an entry removed since', async () => {
    const { store } = openSeed();
    const audit = await store.promotionAudit();
    expect(audit).toEqual(seed.promotionAudit);
    expect(audit.map((row) => row.entryId)).toContain('mem-6');
    expect(await store.get('mem-6')).toBeUndefined();
  });

  it('counts the entries per scope', async () => {
    const { store } = openSeed();
    expect(await store.stats()).toEqual({ project: 10, world: 1 });
  });

  it('recalls with a projectKey without matching the project entries that have none', async () => {
    const { store } = openSeed();
    const hits = await store.recall({ projectKey: 'com.example.shop', topK: 20 });
    // mem-1 and mem-9 are the shop's; mem-5 too; mem-0 is world; mem-3, mem-7, mem-11 have no key.
    expect(hits.map((hit) => hit.entry.entryId).sort()).toEqual(['mem-0', 'mem-1', 'mem-5', 'mem-9']);
  });

  it('recalls entries without a projectKey when no projectKey is asked for', async () => {
    const { store } = openSeed();
    const hits = await store.recall({ tags: ['network'] });
    // mem-7 is rejected, so left out; mem-3 and mem-11 have no projectKey.
    expect(hits.map((hit) => hit.entry.entryId).sort()).toEqual(['mem-11', 'mem-3']);
  });

  it('reads the file without changing a byte of it', async () => {
    const { root, store } = openSeed();
    const before = snapshotFiles(root);
    await store.list();
    await store.recall({ tags: ['gc'] });
    await store.promotionAudit();
    await store.stats();
    await store.get('mem-0');
    expect(snapshotFiles(root)).toEqual(before);
  });

  it('accepts a project entry without projectKey on save()', async () => {
    const { store } = openSeed();
    const saved = await store.save({ entryId: 'no-key', scope: 'project', insight: 'x', confidence: 0.5 });
    expect(saved.projectKey).toBeUndefined();
    expect(await store.list({ projectKey: 'com.example.shop' })).not.toContainEqual(saved);
  });

  // Each write, and the seed entry it removes (if any).
  const writes: [string, (store: ProjectMemoryStore) => Promise<unknown>, string?][] = [
    ['save', (s) => s.save({ entryId: 'mem-new', scope: 'project', tags: ['cpu'], insight: 'i', confidence: 1 })],
    ['update', (s) => s.update('mem-3', { tags: ['network', 'dns'] })],
    ['remove', (s) => s.remove('mem-2'), 'mem-2'],
    ['promote', (s) => s.promote('mem-1', { fromScope: 'project', toScope: 'project', trigger: 'user_feedback' })],
    ['applyFeedback', (s) => s.applyFeedback('mem-10', 'positive')],
    ['sweepAutoConfirm', (s) => s.sweepAutoConfirm()],
  ];

  describe.each(writes)('after a %s through agent-stores', (_what, write, removed) => {
    it('the old reader still accepts the file and sees every record', async () => {
      const { memoryFile, store } = openSeed();
      await write(store);
      const old = oldMemoryReader(memoryFile);
      expect(old).toBeDefined();
      expect(byEntryId(old!.entries)).toEqual(await store.list());
      expect(old!.promotionAudit).toEqual(await store.promotionAudit());
      const oldIds = new Set(old!.entries.map((entry: { entryId: string }) => entry.entryId));
      for (const { entryId } of seed.entries) expect(oldIds.has(entryId)).toBe(entryId !== removed);
      expect(old!.promotionAudit.slice(0, seed.promotionAudit.length)).toEqual(seed.promotionAudit);
    });

    it('a reopened store reads back the same entries and audit rows', async () => {
      const { memoryFile, store } = openSeed();
      await write(store);
      const reopened = new ProjectMemoryStore({ path: memoryFile });
      expect(await reopened.list()).toEqual(await store.list());
      expect(await reopened.promotionAudit()).toEqual(await store.promotionAudit());
      expect(await reopened.stats()).toEqual(await store.stats());
    });
  });

  it('writes schemaVersion 1 with its revision on the first line, starting at rev 1', async () => {
    const { memoryFile, store } = openSeed();
    await store.update('mem-3', { confidence: 0.9 });
    const text = fs.readFileSync(memoryFile, 'utf8');
    expect(text.split('\n')[0]).toMatch(/^\{"schemaVersion":1,"rev":1,"crc32":"[0-9a-f]{8}",$/);
    const doc = JSON.parse(text);
    expect(Object.keys(doc)).toEqual(['schemaVersion', 'rev', 'crc32', 'meta', 'entries', 'promotionAudit']);
    await store.update('mem-3', { confidence: 0.8 });
    expect(fs.readFileSync(memoryFile, 'utf8').slice(0, 64)).toMatch(/^\{"schemaVersion":1,"rev":2,/);
  });

  it('opens the seed through createStores({ root }) like a team switching over', async () => {
    const { root } = copyOfSeedLogs();
    const stores = createStores({ root });
    try {
      expect(await stores.memory.list()).toEqual(byEntryId(seed.entries));
      expect(await stores.pipeline.stats()).toMatchObject({ merged: 2, rejected: 1 });
    } finally {
      await stores.close();
    }
  });
});

describe('ProjectMemoryStore on a file written by an earlier agent-stores (rev, meta, log)', () => {
  const row = {
    entryId: 'm1',
    policy: { fromScope: 'project', toScope: 'world', trigger: 'reviewer_approval', reviewer: 'ana', promotedAt: 5 },
    auditedAt: 6,
  };
  const entry = {
    entryId: 'm1',
    scope: 'world',
    tags: ['cpu'],
    insight: 'i',
    confidence: 0.5,
    status: 'provisional',
    createdAt: 1,
    promotionLevel: 1,
    promotionPolicy: row.policy,
  };
  const earlier = `{"schemaVersion":1,"rev":7,\n"meta":{},\n"entries":[\n${JSON.stringify(entry)}\n],\n"log":[\n${JSON.stringify(row)}\n]}\n`;

  it('reads its audit rows from "log" and writes them under "promotionAudit" with the next revision', async () => {
    const { memoryFile } = copyOfSeedLogs();
    fs.writeFileSync(memoryFile, earlier);
    const store = new ProjectMemoryStore({ path: memoryFile });
    expect(await store.promotionAudit()).toEqual([row]);
    expect(await store.list()).toEqual([entry]);
    await store.update('m1', { insight: 'j' });
    const doc = JSON.parse(fs.readFileSync(memoryFile, 'utf8'));
    expect(doc.rev).toBe(8);
    expect(doc.promotionAudit).toEqual([row]);
    expect(doc.log).toBeUndefined();
    expect(oldMemoryReader(memoryFile)?.promotionAudit).toEqual([row]);
  });
});
