// The behaviour every feedback pipeline must show (DESIGN.md, FeedbackPipeline), whatever it stores
// on: run against the file, the in-memory twin (feedback-pipeline.test.ts) and PostgreSQL
// (test/postgres/pipeline.conformance.test.ts). Time comes from an injected clock: nothing sleeps.
import { beforeEach, describe, expect, it } from 'vitest';
import {
  ConflictError,
  IllegalTransitionError,
  NotFoundError,
  PIPELINE_TRANSITIONS,
  type PipelineStage,
  PipelineStageSchema,
  type PipelineStore,
  ValidationError,
} from '../../src/index.js';
import { type ManualClock, manualClock } from '../helpers/manual-clock.js';
import type { OpenPipeline } from './helpers.js';

const STAGES = PipelineStageSchema.options;
const REVIEWED: PipelineStage[] = ['reviewed', 'merged', 'rejected'];
/** The stages an entry passes to reach `stage` on the main path (rejected is reached from feedback). */
const PATH_TO: Record<PipelineStage, PipelineStage[]> = {
  feedback: [],
  case_draft: ['case_draft'],
  skill_draft: ['case_draft', 'skill_draft'],
  reviewed: ['case_draft', 'skill_draft', 'reviewed'],
  merged: ['case_draft', 'skill_draft', 'reviewed', 'merged'],
  rejected: ['rejected'],
};
const ALLOWED: [PipelineStage, PipelineStage][] = STAGES.flatMap((from) =>
  PIPELINE_TRANSITIONS[from].map((to): [PipelineStage, PipelineStage] => [from, to]),
);
const REFUSED: [PipelineStage, PipelineStage][] = STAGES.flatMap((from) =>
  STAGES.filter((to) => !PIPELINE_TRANSITIONS[from].includes(to)).map((to): [PipelineStage, PipelineStage] => [
    from,
    to,
  ]),
);

function step(stage: PipelineStage) {
  return REVIEWED.includes(stage) ? { stage, reviewer: 'rita' } : { stage };
}

export function describePipelineConformance(label: string, open: OpenPipeline): void {
  describe(`feedback pipeline conformance (${label})`, () => {
    let clock: ManualClock;
    let pipeline: PipelineStore;

    beforeEach(() => {
      clock = manualClock(1_000);
      pipeline = open(clock);
    });

    async function entryAt(entryId: string, stage: PipelineStage) {
      await pipeline.create({ entryId, feedbackId: `fb-${entryId}` });
      for (const next of PATH_TO[stage]) await pipeline.advance(entryId, step(next));
    }

    describe('create', () => {
      it('starts an entry at stage feedback with a one-row history stamped by the clock', async () => {
        const created = await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
        expect(created).toEqual({
          entryId: 'e1',
          feedbackId: 'fb1',
          stage: 'feedback',
          updatedAt: 1_000,
          history: [{ stage: 'feedback', at: 1_000 }],
        });
        expect(await pipeline.get('e1')).toEqual(created);
      });

      it('refuses a duplicate entryId with ConflictError and keeps the first entry', async () => {
        await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
        await expect(pipeline.create({ entryId: 'e1', feedbackId: 'fb2' })).rejects.toBeInstanceOf(ConflictError);
        expect((await pipeline.get('e1'))?.feedbackId).toBe('fb1');
      });

      it('refuses the second of two creates of one id issued together', async () => {
        const results = await Promise.allSettled([
          pipeline.create({ entryId: 'e1', feedbackId: 'fb1' }),
          pipeline.create({ entryId: 'e1', feedbackId: 'fb2' }),
        ]);
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
      });
    });

    describe('advance', () => {
      it.each(ALLOWED)('allows %s → %s', async (from, to) => {
        await entryAt('e1', from);
        const advanced = await pipeline.advance('e1', step(to));
        expect(advanced.stage).toBe(to);
        expect((await pipeline.get('e1'))?.stage).toBe(to);
      });

      it.each(REFUSED)('refuses %s → %s with IllegalTransitionError and changes nothing', async (from, to) => {
        await entryAt('e1', from);
        const before = await pipeline.get('e1');
        await expect(pipeline.advance('e1', step(to))).rejects.toBeInstanceOf(IllegalTransitionError);
        expect(await pipeline.get('e1')).toEqual(before);
      });

      it('appends a history row per stage, with the reviewer where one was given', async () => {
        await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
        for (const stage of ['case_draft', 'skill_draft', 'reviewed', 'merged'] as const) {
          clock.advance(10);
          await pipeline.advance('e1', step(stage));
        }
        expect((await pipeline.get('e1'))?.history).toEqual([
          { stage: 'feedback', at: 1_000 },
          { stage: 'case_draft', at: 1_010 },
          { stage: 'skill_draft', at: 1_020 },
          { stage: 'reviewed', at: 1_030, reviewer: 'rita' },
          { stage: 'merged', at: 1_040, reviewer: 'rita' },
        ]);
      });

      it('stores the reviewer trimmed on the entry and its history row', async () => {
        await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
        const advanced = await pipeline.advance('e1', { stage: 'rejected', reviewer: '  rita  ' });
        expect(advanced.reviewer).toBe('rita');
        expect(advanced.history.at(-1)?.reviewer).toBe('rita');
      });

      it.each(REVIEWED)('refuses a move to %s without a reviewer with ValidationError', async (stage) => {
        await entryAt('e1', stage === 'merged' ? 'reviewed' : stage === 'reviewed' ? 'skill_draft' : 'feedback');
        await expect(pipeline.advance('e1', { stage })).rejects.toBeInstanceOf(ValidationError);
      });

      it.each(['', '   ', '\t\n'])('refuses the blank reviewer %j with ValidationError', async (reviewer) => {
        await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
        await expect(pipeline.advance('e1', { stage: 'rejected', reviewer })).rejects.toBeInstanceOf(ValidationError);
        expect((await pipeline.get('e1'))?.stage).toBe('feedback');
      });

      it('carries case and skillDraftId forward when they are not given again', async () => {
        await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
        await pipeline.advance('e1', { stage: 'case_draft', case: { caseId: 'c1', status: 'draft' } });
        await pipeline.advance('e1', { stage: 'skill_draft', skillDraftId: 'sd1' });
        const reviewed = await pipeline.advance('e1', { stage: 'reviewed', reviewer: 'rita' });
        expect(reviewed).toMatchObject({ case: { caseId: 'c1', status: 'draft' }, skillDraftId: 'sd1' });
      });

      it('replaces case and skillDraftId when they are given again', async () => {
        await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
        await pipeline.advance('e1', { stage: 'case_draft', case: { caseId: 'c1', citationReason: 'x' } });
        await pipeline.advance('e1', { stage: 'skill_draft', skillDraftId: 'sd1' });
        const reviewed = await pipeline.advance('e1', {
          stage: 'reviewed',
          reviewer: 'rita',
          case: { caseId: 'c1', status: 'reviewed' },
          skillDraftId: 'sd2',
        });
        expect(reviewed.case).toEqual({ caseId: 'c1', status: 'reviewed' });
        expect(reviewed.skillDraftId).toBe('sd2');
      });

      it('keeps the latest reviewer on the entry when a later move names none', async () => {
        await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
        await pipeline.advance('e1', { stage: 'case_draft', reviewer: 'rita' });
        expect((await pipeline.advance('e1', { stage: 'skill_draft' })).reviewer).toBe('rita');
      });

      it('throws NotFoundError for an unknown entry', async () => {
        await expect(pipeline.advance('nope', { stage: 'case_draft' })).rejects.toBeInstanceOf(NotFoundError);
      });
    });

    describe('updatedAt', () => {
      it('is the clock’s time when the clock has moved on', async () => {
        await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
        clock.set(5_000);
        expect((await pipeline.advance('e1', { stage: 'case_draft' })).updatedAt).toBe(5_000);
      });

      it('increases strictly while the clock stands still', async () => {
        const stamps: number[] = [];
        for (let i = 0; i < 5; i++)
          stamps.push((await pipeline.create({ entryId: `e${i}`, feedbackId: 'fb' })).updatedAt);
        expect(stamps).toEqual([1_000, 1_001, 1_002, 1_003, 1_004]);
      });

      it('increases strictly across operations issued together', async () => {
        const created = await Promise.all(
          Array.from({ length: 10 }, (_, i) => pipeline.create({ entryId: `e${i}`, feedbackId: 'fb' })),
        );
        const stamps = created.map((e) => e.updatedAt);
        expect(new Set(stamps).size).toBe(10);
        expect([...stamps].sort((a, b) => a - b)).toEqual(stamps);
      });

      it('increases strictly when the clock steps back', async () => {
        await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
        clock.set(10);
        expect((await pipeline.advance('e1', { stage: 'case_draft' })).updatedAt).toBe(1_001);
      });

      it('stays above the stamp of a removed entry', async () => {
        await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
        const newest = await pipeline.advance('e1', { stage: 'case_draft' });
        await pipeline.remove('e1');
        clock.set(0);
        expect((await pipeline.create({ entryId: 'e2', feedbackId: 'fb2' })).updatedAt).toBeGreaterThan(
          newest.updatedAt,
        );
      });

      it('does not move on a refused operation', async () => {
        await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
        await expect(pipeline.advance('e1', { stage: 'merged', reviewer: 'rita' })).rejects.toThrow();
        expect((await pipeline.create({ entryId: 'e2', feedbackId: 'fb2' })).updatedAt).toBe(1_001);
      });
    });

    describe('get / remove / list / stats', () => {
      it('returns undefined from get for an unknown id', async () => {
        expect(await pipeline.get('nope')).toBeUndefined();
      });

      it('returns true when removing an entry and false the second time', async () => {
        await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
        expect(await pipeline.remove('e1')).toBe(true);
        expect(await pipeline.get('e1')).toBeUndefined();
        expect(await pipeline.remove('e1')).toBe(false);
      });

      it('lists entries newest updatedAt first', async () => {
        await pipeline.create({ entryId: 'a', feedbackId: 'fb' });
        await pipeline.create({ entryId: 'b', feedbackId: 'fb' });
        await pipeline.create({ entryId: 'c', feedbackId: 'fb' });
        await pipeline.advance('a', { stage: 'case_draft' });
        expect((await pipeline.list()).map((e) => e.entryId)).toEqual(['a', 'c', 'b']);
      });

      it('lists only the entries at the stage asked for', async () => {
        await entryAt('a', 'case_draft');
        await entryAt('b', 'feedback');
        await entryAt('c', 'case_draft');
        expect((await pipeline.list({ stage: 'case_draft' })).map((e) => e.entryId)).toEqual(['c', 'a']);
      });

      it('counts entries per stage with every stage present', async () => {
        await entryAt('a', 'case_draft');
        await entryAt('b', 'merged');
        await entryAt('c', 'case_draft');
        expect(await pipeline.stats()).toEqual({
          feedback: 0,
          case_draft: 2,
          skill_draft: 0,
          reviewed: 0,
          merged: 1,
          rejected: 0,
        });
      });

      it('returns copies that cannot change the stored entry', async () => {
        await pipeline.create({ entryId: 'e1', feedbackId: 'fb1' });
        await pipeline.advance('e1', { stage: 'case_draft', case: { caseId: 'c1' } });
        const got = (await pipeline.get('e1'))!;
        got.history.push({ stage: 'merged', at: 0 });
        got.case!.caseId = 'mutated';
        (await pipeline.list())[0]!.history[0]!.stage = 'rejected';
        const again = await pipeline.get('e1');
        expect(again?.history.map((h) => h.stage)).toEqual(['feedback', 'case_draft']);
        expect(again?.case?.caseId).toBe('c1');
      });
    });
  });
}
