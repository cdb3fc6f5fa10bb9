import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CorruptStoreError, FeedbackPipeline, ProjectMemoryStore } from '../../src/index.js';
import { snapshotFiles } from '../helpers/tmp.js';
import { copyOfSeedLogs, FIXTURES, MEMORY_FILE, PIPELINE_FILE } from './helpers.js';

const seedMemory = fs.readFileSync(`${FIXTURES}/${MEMORY_FILE}`, 'utf8');
const seedPipeline = fs.readFileSync(`${FIXTURES}/${PIPELINE_FILE}`, 'utf8');
const seedMemoryDoc = JSON.parse(seedMemory);
const seedPipelineDoc = JSON.parse(seedPipeline);

const memoryCases: [string, string][] = [
  ['the seed cut in half (not valid JSON)', seedMemory.slice(0, seedMemory.length >> 1)],
  ['an array', '[]'],
  ['schemaVersion as a string', JSON.stringify({ ...seedMemoryDoc, schemaVersion: '1' })],
  ['no entries', JSON.stringify({ schemaVersion: 1, promotionAudit: [] })],
  ['entries as an object', JSON.stringify({ ...seedMemoryDoc, entries: {} })],
  ['promotionAudit as an object', JSON.stringify({ ...seedMemoryDoc, promotionAudit: {} })],
  [
    'an entry without insight',
    JSON.stringify({ ...seedMemoryDoc, entries: [{ ...seedMemoryDoc.entries[1], insight: undefined }] }),
  ],
  [
    'an audit row without policy',
    JSON.stringify({ ...seedMemoryDoc, promotionAudit: [{ entryId: 'mem-0', auditedAt: 1 }] }),
  ],
  ['both promotionAudit and log', JSON.stringify({ ...seedMemoryDoc, log: seedMemoryDoc.promotionAudit })],
  ['a negative rev', JSON.stringify({ ...seedMemoryDoc, rev: -1 })],
  ['a rev that is a string', JSON.stringify({ ...seedMemoryDoc, rev: '3' })],
];

const pipelineCases: [string, string][] = [
  ['the seed cut in half (not valid JSON)', seedPipeline.slice(0, seedPipeline.length >> 1)],
  ['a bare string', '"feedback"'],
  ['no entries', JSON.stringify({ schemaVersion: 1 })],
  ['entries as a string', JSON.stringify({ schemaVersion: 1, entries: 'none' })],
  [
    'an unknown stage',
    JSON.stringify({ ...seedPipelineDoc, entries: [{ ...seedPipelineDoc.entries[0], stage: 'published' }] }),
  ],
  [
    'history that is not an array',
    JSON.stringify({ ...seedPipelineDoc, entries: [{ ...seedPipelineDoc.entries[0], history: 'x' }] }),
  ],
  ['a log with rows', JSON.stringify({ ...seedPipelineDoc, log: [{ stage: 'feedback' }] })],
];

const memoryOps: [string, (store: ProjectMemoryStore) => Promise<unknown>][] = [
  ['list', (s) => s.list()],
  ['recall', (s) => s.recall({ tags: ['gc'] })],
  ['promotionAudit', (s) => s.promotionAudit()],
  ['stats', (s) => s.stats()],
  ['save', (s) => s.save({ entryId: 'x', scope: 'project', insight: 'i', confidence: 1 })],
  ['update', (s) => s.update('mem-1', { confidence: 1 })],
];

const pipelineOps: [string, (pipeline: FeedbackPipeline) => Promise<unknown>][] = [
  ['list', (p) => p.list()],
  ['get', (p) => p.get('fb-entry-0')],
  ['stats', (p) => p.stats()],
  ['create', (p) => p.create({ entryId: 'x', feedbackId: 'f' })],
];

describe("under onCorrupt: 'throw', a broken file in place of the old implementation's is refused and left as it is", () => {
  describe.each(memoryCases)('memory file with %s', (_what, text) => {
    it.each(memoryOps)('%s throws CorruptStoreError and changes no file', async (_op, run) => {
      const { root, memoryFile } = copyOfSeedLogs();
      fs.writeFileSync(memoryFile, text);
      const before = snapshotFiles(root);
      await expect(run(new ProjectMemoryStore({ path: memoryFile, onCorrupt: 'throw' }))).rejects.toBeInstanceOf(
        CorruptStoreError,
      );
      expect(snapshotFiles(root)).toEqual(before);
    });
  });

  describe.each(pipelineCases)('pipeline file with %s', (_what, text) => {
    it.each(pipelineOps)('%s throws CorruptStoreError and changes no file', async (_op, run) => {
      const { root, pipelineFile } = copyOfSeedLogs();
      fs.writeFileSync(pipelineFile, text);
      const before = snapshotFiles(root);
      await expect(run(new FeedbackPipeline({ path: pipelineFile, onCorrupt: 'throw' }))).rejects.toBeInstanceOf(
        CorruptStoreError,
      );
      expect(snapshotFiles(root)).toEqual(before);
    });
  });
});
