// The behaviour every memory store must show (DESIGN.md, ProjectMemoryStore), whatever it stores on:
// run against the file, the in-memory twin (project-memory-store.test.ts) and PostgreSQL
// (test/postgres/memory.conformance.test.ts). Time comes from an injected clock: nothing sleeps.
import { beforeEach, describe, expect, it } from 'vitest';
import { IllegalTransitionError, type MemoryStore, NotFoundError, ValidationError } from '../../src/index.js';
import { type ManualClock, manualClock } from '../helpers/manual-clock.js';
import { type OpenMemoryStore, projectEntry, worldEntry } from './helpers.js';

const SECOND = 1000;
const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;

export function describeMemoryStoreConformance(label: string, open: OpenMemoryStore): void {
  describe(`memory store conformance (${label})`, () => {
    let clock: ManualClock;
    let store: MemoryStore;

    beforeEach(() => {
      clock = manualClock();
      store = open(clock);
    });

    describe('save / get / remove', () => {
      it('stores an entry with status provisional and createdAt from the clock when they are left out', async () => {
        const saved = await store.save(projectEntry('m1'));
        expect(saved).toMatchObject({ entryId: 'm1', status: 'provisional', createdAt: clock() });
        expect(await store.get('m1')).toEqual(saved);
      });

      it('defaults tags to an empty list', async () => {
        const { tags: _tags, ...withoutTags } = projectEntry('m1');
        expect((await store.save(withoutTags)).tags).toEqual([]);
      });

      it('keeps a createdAt and status given by the caller', async () => {
        const saved = await store.save(projectEntry('m1', { createdAt: 5, status: 'confirmed' }));
        expect(saved).toMatchObject({ createdAt: 5, status: 'confirmed' });
      });

      it('replaces the whole entry saved under the same entryId', async () => {
        await store.save(projectEntry('m1', { insight: 'old', unsupportedReason: 'stale' }));
        await store.save(projectEntry('m1', { insight: 'new' }));
        const got = await store.get('m1');
        expect(got?.insight).toBe('new');
        expect(got?.unsupportedReason).toBeUndefined();
        expect(await store.list()).toHaveLength(1);
      });

      it('returns undefined from get for an unknown id', async () => {
        expect(await store.get('nope')).toBeUndefined();
      });

      it('returns true when removing an entry and false the second time', async () => {
        await store.save(projectEntry('m1'));
        expect(await store.remove('m1')).toBe(true);
        expect(await store.get('m1')).toBeUndefined();
        expect(await store.remove('m1')).toBe(false);
      });

      it('keeps every saved entry when many saves are issued at once', async () => {
        await Promise.all(Array.from({ length: 50 }, (_, i) => store.save(projectEntry(`m${i}`))));
        expect(await store.list()).toHaveLength(50);
      });
    });

    describe('copies', () => {
      it('is not changed by mutating an entry returned by get', async () => {
        await store.save(projectEntry('m1', { evidence: [{ sql: 'select 1', range: { startNs: 1, endNs: 2 } }] }));
        const got = (await store.get('m1'))!;
        got.tags.push('mutated');
        got.evidence![0]!.range!.endNs = 99;
        got.insight = 'mutated';
        expect(await store.get('m1')).toMatchObject({
          tags: ['cpu'],
          insight: 'insight of m1',
          evidence: [{ sql: 'select 1', range: { startNs: 1, endNs: 2 } }],
        });
      });

      it('is not changed by mutating the object passed to save or the one it returned', async () => {
        const input = projectEntry('m1', { tags: ['a'] });
        const saved = await store.save(input);
        (input.tags as string[]).push('from-input');
        saved.tags.push('from-result');
        expect((await store.get('m1'))?.tags).toEqual(['a']);
      });

      it('is not changed by mutating what list, recall and promotionAudit return', async () => {
        await store.save(projectEntry('m1'));
        await store.promote('m1', {
          fromScope: 'project',
          toScope: 'world',
          trigger: 'reviewer_approval',
          reviewer: 'ana',
        });
        (await store.list())[0]!.tags.push('x');
        (await store.recall())[0]!.entry.tags.push('y');
        (await store.promotionAudit())[0]!.policy.reviewer = 'mallory';
        expect((await store.get('m1'))?.tags).toEqual(['cpu']);
        expect((await store.promotionAudit())[0]?.policy.reviewer).toBe('ana');
      });
    });

    describe('list', () => {
      beforeEach(async () => {
        await store.save(projectEntry('c', { projectKey: 'proj-b', tags: ['io'] }));
        await store.save(projectEntry('a', { tags: ['cpu', 'jank'] }));
        await store.save(worldEntry('b', { tags: ['memory'] }));
      });

      it('returns every entry sorted by entryId', async () => {
        expect((await store.list()).map((e) => e.entryId)).toEqual(['a', 'b', 'c']);
      });

      it('filters by scope', async () => {
        expect((await store.list({ scope: 'world' })).map((e) => e.entryId)).toEqual(['b']);
      });

      it('filters by the entry’s own projectKey', async () => {
        expect((await store.list({ projectKey: 'proj-b' })).map((e) => e.entryId)).toEqual(['c']);
      });

      it('keeps entries carrying any of anyOfTags', async () => {
        expect((await store.list({ anyOfTags: ['io', 'memory'] })).map((e) => e.entryId)).toEqual(['b', 'c']);
      });
    });

    describe('recall', () => {
      it('scores by the share of query tags an entry carries, best first', async () => {
        await store.save(projectEntry('half', { tags: ['cpu', 'other'] }));
        await store.save(projectEntry('full', { tags: ['cpu', 'jank', 'x'] }));
        const hits = await store.recall({ tags: ['cpu', 'jank'] });
        expect(hits.map((h) => [h.entry.entryId, h.score])).toEqual([
          ['full', 1],
          ['half', 0.5],
        ]);
      });

      it('leaves out entries sharing no tag with the query', async () => {
        await store.save(projectEntry('m1', { tags: ['io'] }));
        expect(await store.recall({ tags: ['cpu'] })).toEqual([]);
      });

      it('scores by confidence when the query has no tags', async () => {
        await store.save(projectEntry('low', { confidence: 0.2 }));
        await store.save(projectEntry('high', { confidence: 0.9 }));
        const hits = await store.recall();
        expect(hits.map((h) => [h.entry.entryId, h.score])).toEqual([
          ['high', 0.9],
          ['low', 0.2],
        ]);
      });

      it('breaks score ties by higher confidence, then by entryId', async () => {
        await store.save(projectEntry('b', { confidence: 0.5 }));
        await store.save(projectEntry('a', { confidence: 0.5 }));
        await store.save(projectEntry('c', { confidence: 0.8 }));
        const hits = await store.recall({ tags: ['cpu'] });
        expect(hits.map((h) => h.entry.entryId)).toEqual(['c', 'a', 'b']);
      });

      it('returns at most 5 hits by default and topK when given', async () => {
        for (let i = 0; i < 7; i++) await store.save(projectEntry(`m${i}`));
        expect(await store.recall()).toHaveLength(5);
        expect(await store.recall({ topK: 2 })).toHaveLength(2);
      });

      it('skips entries with an unsupportedReason', async () => {
        await store.save(projectEntry('m1', { unsupportedReason: 'the trace format changed' }));
        expect(await store.recall()).toEqual([]);
      });

      it('skips rejected entries', async () => {
        await store.save(projectEntry('m1', { status: 'rejected' }));
        expect(await store.recall()).toEqual([]);
      });

      it('keeps only the given project’s entries but includes world entries for every project', async () => {
        await store.save(projectEntry('mine', { projectKey: 'proj-a' }));
        await store.save(projectEntry('theirs', { projectKey: 'proj-b' }));
        await store.save(worldEntry('everyone', { projectKey: 'proj-b' }));
        const hits = await store.recall({ projectKey: 'proj-a' });
        expect(hits.map((h) => h.entry.entryId).sort()).toEqual(['everyone', 'mine']);
      });

      it('leaves world entries out when scope is project', async () => {
        await store.save(projectEntry('mine'));
        await store.save(worldEntry('everyone'));
        expect((await store.recall({ scope: 'project' })).map((h) => h.entry.entryId)).toEqual(['mine']);
      });

      it('returns only world entries when scope is world', async () => {
        await store.save(projectEntry('mine'));
        await store.save(worldEntry('everyone'));
        expect((await store.recall({ scope: 'world' })).map((h) => h.entry.entryId)).toEqual(['everyone']);
      });

      it.each([0, -1, 1.5, '3'])('refuses topK %j with ValidationError', async (topK) => {
        await expect(store.recall({ topK: topK as number })).rejects.toBeInstanceOf(ValidationError);
      });
    });

    describe('promote', () => {
      beforeEach(async () => {
        await store.save(projectEntry('m1'));
      });

      it('moves a project entry to world, raises promotionLevel to 1 and stores the policy', async () => {
        clock.set(2_000);
        const promoted = await store.promote('m1', {
          fromScope: 'project',
          toScope: 'world',
          trigger: 'reviewer_approval',
          reviewer: '  ana ',
        });
        expect(promoted).toMatchObject({ scope: 'world', promotionLevel: 1 });
        expect(promoted.promotionPolicy).toEqual({
          fromScope: 'project',
          toScope: 'world',
          trigger: 'reviewer_approval',
          reviewer: 'ana',
          promotedAt: 2_000,
        });
        expect(await store.get('m1')).toEqual(promoted);
      });

      it('keeps a promotedAt given in the policy', async () => {
        const promoted = await store.promote('m1', {
          fromScope: 'project',
          toScope: 'project',
          trigger: 'user_feedback',
          promotedAt: 42,
        });
        expect(promoted.promotionPolicy?.promotedAt).toBe(42);
      });

      it('adds one to an existing promotionLevel', async () => {
        await store.save(projectEntry('m2', { promotionLevel: 3 }));
        const promoted = await store.promote('m2', {
          fromScope: 'project',
          toScope: 'project',
          trigger: 'user_feedback',
        });
        expect(promoted.promotionLevel).toBe(4);
      });

      it('appends an audit row with the policy and the clock’s time', async () => {
        clock.set(7_000);
        await store.promote('m1', {
          fromScope: 'project',
          toScope: 'project',
          trigger: 'skill_eval_pass',
          evalCaseId: 'case-1',
          promotedAt: 5,
        });
        expect(await store.promotionAudit()).toEqual([
          {
            entryId: 'm1',
            auditedAt: 7_000,
            policy: {
              fromScope: 'project',
              toScope: 'project',
              trigger: 'skill_eval_pass',
              evalCaseId: 'case-1',
              promotedAt: 5,
            },
          },
        ]);
      });

      it('lists audit rows oldest first and keeps them after the entry is removed', async () => {
        await store.promote('m1', { fromScope: 'project', toScope: 'project', trigger: 'user_feedback' });
        clock.advance(1);
        await store.promote('m1', {
          fromScope: 'project',
          toScope: 'world',
          trigger: 'reviewer_approval',
          reviewer: 'bo',
        });
        await store.remove('m1');
        const audit = await store.promotionAudit();
        expect(audit.map((row) => row.policy.toScope)).toEqual(['project', 'world']);
        expect(audit[0]!.auditedAt).toBeLessThan(audit[1]!.auditedAt);
      });

      it('refuses a policy whose fromScope is not the entry’s scope with IllegalTransitionError', async () => {
        await expect(
          store.promote('m1', { fromScope: 'world', toScope: 'world', trigger: 'reviewer_approval', reviewer: 'ana' }),
        ).rejects.toBeInstanceOf(IllegalTransitionError);
        expect((await store.get('m1'))?.scope).toBe('project');
        expect(await store.promotionAudit()).toEqual([]);
      });

      it('refuses to lower a world entry to project with IllegalTransitionError', async () => {
        await store.save(worldEntry('w1'));
        await expect(
          store.promote('w1', { fromScope: 'world', toScope: 'project', trigger: 'user_feedback' }),
        ).rejects.toBeInstanceOf(IllegalTransitionError);
      });

      it('throws NotFoundError for an unknown entry', async () => {
        await expect(
          store.promote('nope', { fromScope: 'project', toScope: 'project', trigger: 'user_feedback' }),
        ).rejects.toBeInstanceOf(NotFoundError);
      });
    });

    describe('stats', () => {
      it('counts entries per scope', async () => {
        await store.save(projectEntry('a'));
        await store.save(projectEntry('b'));
        await store.save(worldEntry('c'));
        expect(await store.stats()).toEqual({ project: 2, world: 1 });
      });

      it('counts zero of each scope in an empty store', async () => {
        expect(await store.stats()).toEqual({ project: 0, world: 0 });
      });
    });

    describe('applyFeedback', () => {
      const t0 = 10_000_000;
      beforeEach(async () => {
        clock.set(t0);
        await store.save(projectEntry('m1'));
      });

      it('confirms a provisional entry on a first positive rating', async () => {
        expect(await store.applyFeedback('m1', 'positive', t0)).toBe('confirmed');
        expect((await store.get('m1'))?.status).toBe('confirmed');
      });

      it('rejects a provisional entry on a first negative rating', async () => {
        expect(await store.applyFeedback('m1', 'negative', t0)).toBe('rejected');
      });

      it('records firstFeedbackAt once and lastFeedbackAt on every rating', async () => {
        await store.applyFeedback('m1', 'positive', t0 + 1);
        await store.applyFeedback('m1', 'positive', t0 + 2 * HOUR);
        expect(await store.get('m1')).toMatchObject({ firstFeedbackAt: t0 + 1, lastFeedbackAt: t0 + 2 * HOUR });
      });

      it('uses the clock when no time is given', async () => {
        clock.set(t0 + 123);
        await store.applyFeedback('m1', 'positive');
        expect(await store.get('m1')).toMatchObject({ firstFeedbackAt: t0 + 123, lastFeedbackAt: t0 + 123 });
      });

      it('lets the last rating win when it reverses the first within 10 s (a misclick)', async () => {
        await store.applyFeedback('m1', 'positive', t0);
        expect(await store.applyFeedback('m1', 'negative', t0 + 9_999)).toBe('rejected');
      });

      it('lets a misclicked rejection be reversed to confirmed within the 10 s window', async () => {
        await store.applyFeedback('m1', 'negative', t0);
        expect(await store.applyFeedback('m1', 'positive', t0 + 5 * SECOND)).toBe('confirmed');
        expect(await store.applyFeedback('m1', 'negative', t0 + 9 * SECOND)).toBe('rejected');
      });

      it('keeps rejected final once 10 s have passed', async () => {
        await store.applyFeedback('m1', 'negative', t0);
        expect(await store.applyFeedback('m1', 'positive', t0 + 10 * SECOND)).toBe('rejected');
      });

      it('disputes a confirmed entry reversed 10 s after the first feedback', async () => {
        await store.applyFeedback('m1', 'positive', t0);
        expect(await store.applyFeedback('m1', 'negative', t0 + 10 * SECOND)).toBe('disputed');
      });

      it('disputes a confirmed entry reversed exactly 24 h after the first feedback', async () => {
        await store.applyFeedback('m1', 'positive', t0);
        expect(await store.applyFeedback('m1', 'negative', t0 + DAY)).toBe('disputed');
      });

      it('marks a confirmed entry disputed_late when reversed more than 24 h after the first feedback', async () => {
        await store.applyFeedback('m1', 'positive', t0);
        expect(await store.applyFeedback('m1', 'negative', t0 + DAY + 1)).toBe('disputed_late');
      });

      it('changes nothing when the same rating comes again', async () => {
        await store.applyFeedback('m1', 'positive', t0);
        expect(await store.applyFeedback('m1', 'positive', t0 + 2 * DAY)).toBe('confirmed');
      });

      it('leaves a disputed entry disputed whatever rating follows', async () => {
        await store.applyFeedback('m1', 'positive', t0);
        await store.applyFeedback('m1', 'negative', t0 + HOUR);
        expect(await store.applyFeedback('m1', 'positive', t0 + 2 * HOUR)).toBe('disputed');
        expect(await store.applyFeedback('m1', 'negative', t0 + 3 * DAY)).toBe('disputed');
      });

      it('throws NotFoundError for an unknown entry', async () => {
        await expect(store.applyFeedback('nope', 'positive')).rejects.toBeInstanceOf(NotFoundError);
      });
    });

    describe('sweepAutoConfirm', () => {
      it('confirms provisional entries older than 24 h and returns how many', async () => {
        clock.set(0);
        await store.save(projectEntry('old-1'));
        await store.save(projectEntry('old-2'));
        clock.set(DAY);
        await store.save(projectEntry('young'));
        expect(await store.sweepAutoConfirm(DAY + 1)).toBe(2);
        expect((await store.list()).map((e) => [e.entryId, e.status])).toEqual([
          ['old-1', 'confirmed'],
          ['old-2', 'confirmed'],
          ['young', 'provisional'],
        ]);
      });

      it('leaves an entry exactly 24 h old provisional', async () => {
        clock.set(0);
        await store.save(projectEntry('m1'));
        expect(await store.sweepAutoConfirm(DAY)).toBe(0);
      });

      it('leaves rejected, disputed and already confirmed entries alone', async () => {
        await store.save(projectEntry('r', { createdAt: 0, status: 'rejected' }));
        await store.save(projectEntry('d', { createdAt: 0, status: 'disputed' }));
        await store.save(projectEntry('c', { createdAt: 0, status: 'confirmed' }));
        expect(await store.sweepAutoConfirm(10 * DAY)).toBe(0);
        expect((await store.list()).map((e) => e.status)).toEqual(['confirmed', 'disputed', 'rejected']);
      });

      it('uses the clock when no time is given', async () => {
        await store.save(projectEntry('m1', { createdAt: 0 }));
        clock.set(DAY + 1);
        expect(await store.sweepAutoConfirm()).toBe(1);
      });

      it('makes an auto-confirmed entry disputed_late on a later negative rating', async () => {
        await store.save(projectEntry('m1', { createdAt: 0 }));
        await store.sweepAutoConfirm(DAY + 1);
        expect(await store.applyFeedback('m1', 'negative', DAY + 2)).toBe('disputed_late');
      });
    });
  });
}
