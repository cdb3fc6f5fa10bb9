import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptStoreError, ProjectMemoryStore, type StoreWarning } from '../../src/index.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';
import { projectEntry, worldEntry } from './helpers.js';

function fileStore(options: Partial<ConstructorParameters<typeof ProjectMemoryStore>[0]> = {}) {
  const dir = tempDir();
  const file = path.join(dir, 'analysis_project_memory.json');
  return { dir, file, store: new ProjectMemoryStore({ path: file, ...options }) };
}

describe('ProjectMemoryStore on a file', () => {
  it('creates nothing on disk until the first write', async () => {
    const { dir, store } = fileStore();
    expect(await store.list()).toEqual([]);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('lets a second instance on the same file see the first one’s writes', async () => {
    const { file, store } = fileStore();
    const other = new ProjectMemoryStore({ path: file });
    expect(await other.get('m1')).toBeUndefined();
    await store.save(projectEntry('m1'));
    expect((await other.get('m1'))?.entryId).toBe('m1');
    await other.save(projectEntry('m2'));
    expect((await store.list()).map((e) => e.entryId)).toEqual(['m1', 'm2']);
  });

  it('writes the promoted entry and its audit row in the same file version', async () => {
    const { file, store } = fileStore();
    await store.save(projectEntry('m1'));
    await store.promote('m1', {
      fromScope: 'project',
      toScope: 'world',
      trigger: 'reviewer_approval',
      reviewer: 'ana',
    });
    const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(doc.entries[0]).toMatchObject({ entryId: 'm1', scope: 'world', promotionLevel: 1 });
    expect(doc.promotionAudit).toHaveLength(1);
    expect(doc.promotionAudit[0]).toMatchObject({ entryId: 'm1', policy: { toScope: 'world' } });
  });

  it('recalls without changing the file’s bytes or mtime and without creating a lock', async () => {
    const { dir, file, store } = fileStore();
    await store.save(projectEntry('m1'));
    await store.save(worldEntry('w1'));
    const before = snapshotFiles(dir);
    const mtime = fs.statSync(file).mtimeMs;
    const reader = new ProjectMemoryStore({ path: file });
    expect(await reader.recall({ tags: ['cpu'] })).toHaveLength(2);
    expect(await store.recall({ projectKey: 'proj-a' })).toHaveLength(2);
    expect(snapshotFiles(dir)).toEqual(before);
    expect(fs.statSync(file).mtimeMs).toBe(mtime);
    expect(fs.existsSync(`${file}.lock`)).toBe(false);
  });

  it('writes nothing when remove finds no entry or the sweep finds nothing due', async () => {
    const { dir, store } = fileStore();
    await store.save(projectEntry('m1'));
    const before = snapshotFiles(dir);
    expect(await store.remove('nope')).toBe(false);
    expect(await store.sweepAutoConfirm()).toBe(0);
    expect(snapshotFiles(dir)).toEqual(before);
  });

  describe('corruption', () => {
    const cases: [string, string][] = [
      ['truncated JSON', '{"schemaVersion":1,"rev":1,\n"meta":{},\n"entries":[\n{"entryId":"m1","sco'],
      [
        'valid JSON of the wrong shape',
        JSON.stringify({ schemaVersion: 1, rev: 1, meta: {}, entries: [{ entryId: 'm1', scope: 'galaxy' }], log: [] }),
      ],
      ['a newer schemaVersion', JSON.stringify({ schemaVersion: 99, rev: 1, meta: {}, entries: [], log: [] })],
    ];

    const operations: [string, (store: ProjectMemoryStore) => Promise<unknown>][] = [
      ['save', (s) => s.save(projectEntry('m2'))],
      ['get', (s) => s.get('m1')],
      ['remove', (s) => s.remove('m1')],
      ['list', (s) => s.list()],
      ['recall', (s) => s.recall()],
      ['promote', (s) => s.promote('m1', { fromScope: 'project', toScope: 'project', trigger: 'user_feedback' })],
      ['promotionAudit', (s) => s.promotionAudit()],
      ['stats', (s) => s.stats()],
      ['applyFeedback', (s) => s.applyFeedback('m1', 'positive')],
      ['sweepAutoConfirm', (s) => s.sweepAutoConfirm()],
    ];

    describe.each(cases)('a file with %s', (_what, text) => {
      it.each(operations)('makes %s throw CorruptStoreError and leaves the file as it was', async (_op, run) => {
        const { dir, file, store } = fileStore();
        fs.writeFileSync(file, text);
        const before = snapshotFiles(dir);
        await expect(run(store)).rejects.toBeInstanceOf(CorruptStoreError);
        expect(snapshotFiles(dir)).toEqual(before);
      });

      it('is moved aside intact under quarantine, reported, and the store works empty', async () => {
        const warnings: StoreWarning[] = [];
        const { dir, file, store } = fileStore({ onCorrupt: 'quarantine', onWarning: (w) => warnings.push(w) });
        fs.writeFileSync(file, text);
        expect(await store.list()).toEqual([]);
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatchObject({ code: 'QUARANTINED', file });
        expect(path.dirname(warnings[0]!.movedTo)).toBe(dir);
        expect(fs.readFileSync(warnings[0]!.movedTo, 'utf8')).toBe(text);
        await store.save(projectEntry('m2'));
        expect((await new ProjectMemoryStore({ path: file }).list()).map((e) => e.entryId)).toEqual(['m2']);
      });
    });
  });
});
