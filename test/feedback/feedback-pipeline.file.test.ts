import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  ConflictError,
  CorruptStoreError,
  FeedbackPipeline,
  IllegalTransitionError,
  NotFoundError,
  type StoreError,
  type StoreWarning,
  ValidationError,
} from '../../src/index.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';

type Op = (pipeline: FeedbackPipeline) => Promise<unknown>;
// biome-ignore lint/suspicious/noExplicitAny: bad input is the point of these tests
const anyInput = (value: unknown) => value as any;

function filePipeline(options: Partial<ConstructorParameters<typeof FeedbackPipeline>[0]> = {}) {
  const dir = tempDir();
  const file = path.join(dir, 'feedback_pipeline.json');
  return { dir, file, pipeline: new FeedbackPipeline({ path: file, ...options }) };
}

describe('FeedbackPipeline on a file', () => {
  it('keeps the high-water mark in the file so a new instance with a stopped clock still stamps higher', async () => {
    const { file, pipeline } = filePipeline({ clock: () => 5_000 });
    await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
    await pipeline.advance('e1', { stage: 'case_draft' });
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).meta).toEqual({ highWater: 5_001 });
    const later = new FeedbackPipeline({ path: file, clock: () => 1 });
    expect((await later.create({ entryId: 'e2', feedbackId: 'fb2' })).updatedAt).toBe(5_002);
  });

  it('reads the high-water mark under the lock, so two instances interleaving never repeat a stamp', async () => {
    const { file, pipeline: a } = filePipeline({ clock: () => 7 });
    const b = new FeedbackPipeline({ path: file, clock: () => 7 });
    const created = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).create({ entryId: `e${i}`, feedbackId: 'fb' })),
    );
    expect(new Set(created.map((e) => e.updatedAt)).size).toBe(20);
  });

  it('lets a second instance see the first one’s writes', async () => {
    const { file, pipeline } = filePipeline();
    const other = new FeedbackPipeline({ path: file });
    expect(await other.get('e1')).toBeUndefined();
    await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
    await expect(other.create({ entryId: 'e1', feedbackId: 'fb1' })).rejects.toBeInstanceOf(ConflictError);
    expect((await other.get('e1'))?.stage).toBe('feedback');
  });

  describe('corruption', () => {
    const cases: [string, string][] = [
      ['truncated JSON', '{"schemaVersion":1,"rev":2,\n"meta":{"highWater":5},\n"entries":[\n{"entryId":"e1",'],
      [
        'valid JSON of the wrong shape',
        JSON.stringify({
          schemaVersion: 1,
          rev: 1,
          meta: { highWater: 5 },
          entries: [{ entryId: 'e1', stage: 'limbo' }],
        }),
      ],
      ['a newer schemaVersion', JSON.stringify({ schemaVersion: 2, rev: 1, meta: { highWater: 5 }, entries: [] })],
    ];
    const operations: [string, Op][] = [
      ['create', (p) => p.create({ entryId: 'e2', feedbackId: 'fb2' })],
      ['advance', (p) => p.advance('e1', { stage: 'case_draft' })],
      ['get', (p) => p.get('e1')],
      ['remove', (p) => p.remove('e1')],
      ['list', (p) => p.list()],
      ['stats', (p) => p.stats()],
    ];

    describe.each(cases)('a file with %s', (_what, text) => {
      it.each(operations)('makes %s throw CorruptStoreError and leaves the file as it was', async (_op, run) => {
        const { dir, file, pipeline } = filePipeline();
        fs.writeFileSync(file, text);
        const before = snapshotFiles(dir);
        await expect(run(pipeline)).rejects.toBeInstanceOf(CorruptStoreError);
        expect(snapshotFiles(dir)).toEqual(before);
      });

      it('is moved aside intact under quarantine, reported, and the pipeline works empty', async () => {
        const warnings: StoreWarning[] = [];
        const { dir, file, pipeline } = filePipeline({ onCorrupt: 'quarantine', onWarning: (w) => warnings.push(w) });
        fs.writeFileSync(file, text);
        expect(await pipeline.list()).toEqual([]);
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatchObject({ code: 'QUARANTINED', file });
        expect(path.dirname(warnings[0]!.movedTo)).toBe(dir);
        expect(fs.readFileSync(warnings[0]!.movedTo, 'utf8')).toBe(text);
        await pipeline.create({ entryId: 'e2', feedbackId: 'fb2' });
        expect((await new FeedbackPipeline({ path: file }).list()).map((e) => e.entryId)).toEqual(['e2']);
      });
    });
  });

  describe('bad input leaves every file as it was', () => {
    let dir: string;
    let pipeline: FeedbackPipeline;

    beforeEach(async () => {
      ({ dir, pipeline } = filePipeline());
      await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
      await pipeline.create({ entryId: 'done', feedbackId: 'fb2' });
      await pipeline.advance('done', { stage: 'rejected', reviewer: 'rita' });
    });

    async function expectRefused(op: Op, type: new (...args: never[]) => StoreError) {
      const before = snapshotFiles(dir);
      await expect(op(pipeline)).rejects.toBeInstanceOf(type);
      expect(snapshotFiles(dir)).toEqual(before);
    }

    const validationCases: [string, Op][] = [
      ['create with input that is not an object', (p) => p.create(anyInput('e2'))],
      ['create with a numeric entryId', (p) => p.create(anyInput({ entryId: 2, feedbackId: 'fb' }))],
      ['create with a blank entryId', (p) => p.create({ entryId: '  ', feedbackId: 'fb' })],
      ['create without feedbackId', (p) => p.create(anyInput({ entryId: 'e2' }))],
      ['create with a numeric feedbackId', (p) => p.create(anyInput({ entryId: 'e2', feedbackId: 3 }))],
      ['advance to an unknown stage', (p) => p.advance('e1', anyInput({ stage: 'shipped' }))],
      ['advance with a numeric stage', (p) => p.advance('e1', anyInput({ stage: 1 }))],
      ['advance without a stage', (p) => p.advance('e1', anyInput({}))],
      ['advance to rejected without a reviewer', (p) => p.advance('e1', { stage: 'rejected' })],
      ['advance to rejected with a blank reviewer', (p) => p.advance('e1', { stage: 'rejected', reviewer: ' \t ' })],
      ['advance with a numeric reviewer', (p) => p.advance('e1', anyInput({ stage: 'rejected', reviewer: 7 }))],
      ['advance with a case that is a string', (p) => p.advance('e1', anyInput({ stage: 'case_draft', case: 'c1' }))],
      ['advance with a case without caseId', (p) => p.advance('e1', anyInput({ stage: 'case_draft', case: {} }))],
      [
        'advance with an unknown case status',
        (p) => p.advance('e1', anyInput({ stage: 'case_draft', case: { caseId: 'c1', status: 'lost' } })),
      ],
      [
        'advance with a numeric skillDraftId',
        (p) => p.advance('e1', anyInput({ stage: 'case_draft', skillDraftId: 9 })),
      ],
      ['advance with a numeric entryId', (p) => p.advance(anyInput(9), { stage: 'case_draft' })],
      ['get with a numeric id', (p) => p.get(anyInput(9))],
      ['remove with an empty id', (p) => p.remove('')],
      ['list with an unknown stage', (p) => p.list(anyInput({ stage: 'shipped' }))],
    ];

    it.each(validationCases)('%s: ValidationError', async (_what, op) => {
      await expectRefused(op, ValidationError);
    });

    it('an illegal transition: IllegalTransitionError', async () => {
      await expectRefused((p) => p.advance('e1', { stage: 'merged', reviewer: 'rita' }), IllegalTransitionError);
    });

    it('advancing a terminal entry: IllegalTransitionError', async () => {
      await expectRefused((p) => p.advance('done', { stage: 'case_draft' }), IllegalTransitionError);
    });

    it('a duplicate create: ConflictError', async () => {
      await expectRefused((p) => p.create({ entryId: 'e1', feedbackId: 'fb9' }), ConflictError);
    });

    it('advancing an unknown entry: NotFoundError', async () => {
      await expectRefused((p) => p.advance('nope', { stage: 'case_draft' }), NotFoundError);
    });

    it('names the entry and both stages in the IllegalTransitionError', async () => {
      const error = await pipeline.advance('e1', { stage: 'merged', reviewer: 'rita' }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'ILLEGAL_TRANSITION', id: 'e1', from: 'feedback', to: 'merged' });
    });

    it('refuses a constructor without a path with ValidationError', () => {
      expect(() => new FeedbackPipeline(anyInput({}))).toThrow(ValidationError);
    });
  });
});
