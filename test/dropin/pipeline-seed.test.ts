import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FeedbackPipeline, FeedbackPipelineEntrySchema } from '../../src/index.js';
import { manualClock } from '../helpers/manual-clock.js';
import { snapshotFiles } from '../helpers/tmp.js';
import { copyOfSeedLogs, fixtureDoc, oldPipelineReader, PIPELINE_FILE } from './helpers.js';

const seed = fixtureDoc(PIPELINE_FILE);
const HIGHEST = Math.max(...seed.entries.map((entry: { updatedAt: number }) => entry.updatedAt));
/** A clock far behind the file's stamps, so the stamps can only come from the file. */
const BEHIND = 1_000;

function openSeed() {
  const logs = copyOfSeedLogs();
  const clock = manualClock(BEHIND);
  return { ...logs, clock, pipeline: new FeedbackPipeline({ path: logs.pipelineFile, clock }) };
}

/** A seed entry as the store returns it: every field kept, and an empty history. */
// biome-ignore lint/suspicious/noExplicitAny: fixture entries are plain JSON.
const asRead = (entry: any) => ({ ...entry, history: [] });

describe('FeedbackPipeline on a file written by the implementation it replaces', () => {
  it('lists every entry, newest updatedAt first, with an empty history', async () => {
    const { pipeline } = openSeed();
    const expected = [...seed.entries].sort((a, b) => b.updatedAt - a.updatedAt).map(asRead);
    expect(await pipeline.list()).toEqual(expected);
  });

  it('gets every entry by its id, reviewer and case as the file holds them', async () => {
    const { pipeline } = openSeed();
    for (const entry of seed.entries) expect(await pipeline.get(entry.entryId)).toEqual(asRead(entry));
  });

  it('returns entries that the exported entry schema accepts', async () => {
    const { pipeline } = openSeed();
    for (const entry of await pipeline.list()) expect(FeedbackPipelineEntrySchema.safeParse(entry).success).toBe(true);
  });

  it('counts the entries per stage', async () => {
    const { pipeline } = openSeed();
    expect(await pipeline.stats()).toEqual({
      feedback: 1,
      case_draft: 1,
      skill_draft: 1,
      reviewed: 1,
      merged: 2,
      rejected: 1,
    });
  });

  it('reads the file without changing a byte of it', async () => {
    const { root, pipeline } = openSeed();
    const before = snapshotFiles(root);
    await pipeline.list();
    await pipeline.stats();
    await pipeline.get('fb-entry-3');
    expect(snapshotFiles(root)).toEqual(before);
  });

  it('stamps an advance above the highest updatedAt in the file, with a clock far behind', async () => {
    const { pipeline } = openSeed();
    const advanced = await pipeline.advance('fb-entry-0', { stage: 'case_draft' });
    expect(advanced.updatedAt).toBeGreaterThan(HIGHEST);
    expect(advanced.history).toEqual([{ stage: 'case_draft', at: advanced.updatedAt }]);
  });

  it('stamps a create above the highest updatedAt in the file, even when that entry is removed first', async () => {
    const { pipeline } = openSeed();
    await pipeline.remove('fb-entry-6');
    const created = await pipeline.create({ entryId: 'fb-new', feedbackId: 'feedback-new' });
    expect(created.updatedAt).toBeGreaterThan(HIGHEST);
  });

  it('starts the history of an entry it takes over with its next move, keeping the old reviewer on the entry', async () => {
    const { pipeline } = openSeed();
    const merged = await pipeline.advance('fb-entry-3', { stage: 'merged', reviewer: 'ana' });
    expect(merged.history).toEqual([{ stage: 'merged', at: merged.updatedAt, reviewer: 'ana' }]);
    expect(merged).toMatchObject({ case: { caseId: 'case-3', status: 'draft' }, skillDraftId: 'skill-3' });
  });

  const writes: [string, (pipeline: FeedbackPipeline) => Promise<unknown>, string?][] = [
    ['create', (p) => p.create({ entryId: 'fb-new', feedbackId: 'feedback-new' })],
    ['advance', (p) => p.advance('fb-entry-2', { stage: 'reviewed', reviewer: 'kim' })],
    ['remove', (p) => p.remove('fb-entry-4'), 'fb-entry-4'],
  ];

  describe.each(writes)('after a %s through agent-stores', (_what, write, removed) => {
    it('the old reader still accepts the file and sees every record', async () => {
      const { pipelineFile, pipeline } = openSeed();
      await write(pipeline);
      const old = oldPipelineReader(pipelineFile);
      expect(old).toBeDefined();
      const byId = new Map(old!.entries.map((entry: { entryId: string }) => [entry.entryId, entry]));
      for (const entry of await pipeline.list()) expect(byId.get(entry.entryId)).toEqual(entry);
      expect(byId.size).toBe((await pipeline.list()).length);
      for (const { entryId } of seed.entries) expect(byId.has(entryId)).toBe(entryId !== removed);
    });

    it('a reopened pipeline reads back the same entries and keeps stamping above them', async () => {
      const { pipelineFile, pipeline } = openSeed();
      await write(pipeline);
      const reopened = new FeedbackPipeline({ path: pipelineFile, clock: () => BEHIND });
      expect(await reopened.list()).toEqual(await pipeline.list());
      expect(await reopened.stats()).toEqual(await pipeline.stats());
      const highest = Math.max(...(await reopened.list()).map((entry) => entry.updatedAt));
      expect((await reopened.create({ entryId: 'fb-later', feedbackId: 'f' })).updatedAt).toBeGreaterThan(highest);
    });
  });

  it('writes schemaVersion 1, its revision on the first line, a high-water mark in meta, and no log', async () => {
    const { pipelineFile, pipeline } = openSeed();
    const created = await pipeline.create({ entryId: 'fb-new', feedbackId: 'feedback-new' });
    const text = fs.readFileSync(pipelineFile, 'utf8');
    expect(text.split('\n')[0]).toMatch(/^\{"schemaVersion":1,"rev":1,"crc32":"[0-9a-f]{8}",$/);
    const doc = JSON.parse(text);
    expect(Object.keys(doc)).toEqual(['schemaVersion', 'rev', 'crc32', 'meta', 'entries']);
    expect(doc.meta).toEqual({ highWater: created.updatedAt });
  });
});

describe('FeedbackPipeline on a file written by an earlier agent-stores (rev, meta, empty log)', () => {
  it('reads it and keeps stamping above its high-water mark', async () => {
    const { pipelineFile } = copyOfSeedLogs();
    const entry = {
      entryId: 'e1',
      feedbackId: 'f1',
      stage: 'feedback',
      updatedAt: 10,
      history: [{ stage: 'feedback', at: 10 }],
    };
    fs.writeFileSync(
      pipelineFile,
      `{"schemaVersion":1,"rev":4,\n"meta":{"highWater":50},\n"entries":[\n${JSON.stringify(entry)}\n],\n"log":[]}\n`,
    );
    const pipeline = new FeedbackPipeline({ path: pipelineFile, clock: () => 1 });
    expect(await pipeline.get('e1')).toEqual(entry);
    const advanced = await pipeline.advance('e1', { stage: 'case_draft' });
    expect(advanced.updatedAt).toBe(51);
    const doc = JSON.parse(fs.readFileSync(pipelineFile, 'utf8'));
    expect(doc.rev).toBe(5);
    expect(doc.log).toBeUndefined();
  });
});
