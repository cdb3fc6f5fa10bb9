// save() of an existing entry (it cannot go around promote()) and update(): the behaviour every
// memory store must show, run against the file, the in-memory twin (save-rule-and-update.test.ts)
// and PostgreSQL (test/postgres/memory.conformance.test.ts).
import { beforeEach, describe, expect, it } from 'vitest';
import { IllegalTransitionError, type MemoryStore, NotFoundError, type ProjectMemoryEntry } from '../../src/index.js';
import { type ManualClock, manualClock } from '../helpers/manual-clock.js';
import { type OpenMemoryStore, projectEntry } from './helpers.js';

/** The policy that promotes a project entry to world. */
export const toWorld = {
  fromScope: 'project',
  toScope: 'world',
  trigger: 'reviewer_approval',
  reviewer: 'ana',
} as const;

export function describeSaveRuleConformance(label: string, open: OpenMemoryStore): void {
  describe(`save() of an existing entry and update() (${label})`, () => {
    let clock: ManualClock;
    let store: MemoryStore;

    beforeEach(() => {
      clock = manualClock();
      store = open(clock);
    });

    /** A world entry that got there by promote(), then confirmed by feedback. */
    async function promotedConfirmed(): Promise<ProjectMemoryEntry> {
      await store.save(projectEntry('m1', { evidence: [{ sql: 'select 1' }], lastSeenAt: 7 }));
      await store.promote('m1', toWorld);
      clock.advance(1_000);
      await store.applyFeedback('m1', 'positive');
      return (await store.get('m1'))!;
    }

    describe('save() cannot go around promote()', () => {
      it('refuses to bring a promoted, confirmed world entry back to project/provisional', async () => {
        const before = await promotedConfirmed();
        const audit = await store.promotionAudit();
        await expect(store.save(projectEntry('m1', { status: 'provisional' }))).rejects.toBeInstanceOf(
          IllegalTransitionError,
        );
        expect(await store.get('m1')).toEqual(before);
        expect(await store.promotionAudit()).toEqual(audit);
      });

      it('refuses a project entry saved as world, even with a valid-looking policy', async () => {
        await store.save(projectEntry('m1'));
        const policy = { ...toWorld, promotedAt: 1 };
        await expect(
          store.save({ ...projectEntry('m1'), scope: 'world', promotionPolicy: policy }),
        ).rejects.toBeInstanceOf(IllegalTransitionError);
        expect((await store.get('m1'))?.scope).toBe('project');
        expect(await store.promotionAudit()).toEqual([]);
      });

      it('refuses a different promotionLevel', async () => {
        const before = await promotedConfirmed();
        await expect(store.save({ ...before, promotionLevel: 5 })).rejects.toBeInstanceOf(IllegalTransitionError);
        expect(await store.get('m1')).toEqual(before);
      });

      it('refuses a different promotionPolicy', async () => {
        const before = await promotedConfirmed();
        const forged = { ...before.promotionPolicy!, reviewer: 'mallory' };
        await expect(store.save({ ...before, promotionPolicy: forged })).rejects.toBeInstanceOf(IllegalTransitionError);
        expect(await store.get('m1')).toEqual(before);
      });

      it('refuses a promotionLevel on an entry never promoted', async () => {
        await store.save(projectEntry('m1'));
        await expect(store.save(projectEntry('m1', { promotionLevel: 1 }))).rejects.toBeInstanceOf(
          IllegalTransitionError,
        );
      });

      it('accepts what get() returned, changed outside the promotion fields', async () => {
        const before = await promotedConfirmed();
        const saved = await store.save({ ...before, insight: 'sharper insight' });
        expect(saved).toEqual({ ...before, insight: 'sharper insight' });
      });

      it('keeps the stored promotionLevel and promotionPolicy when they are left out', async () => {
        await store.save(projectEntry('m1'));
        const promoted = await store.promote('m1', {
          fromScope: 'project',
          toScope: 'project',
          trigger: 'user_feedback',
        });
        const saved = await store.save(projectEntry('m1', { insight: 'again' }));
        expect(saved.promotionLevel).toBe(1);
        expect(saved.promotionPolicy).toEqual(promoted.promotionPolicy);
      });
    });

    describe('save() of an existing entry keeps the feedback state it leaves out', () => {
      it('keeps status, createdAt, firstFeedbackAt and lastFeedbackAt when they are left out', async () => {
        const before = await promotedConfirmed();
        clock.advance(60_000);
        const saved = await store.save({
          entryId: 'm1',
          scope: 'world',
          insight: 'resaved',
          confidence: 0.9,
          promotionPolicy: before.promotionPolicy!,
        });
        expect(saved).toMatchObject({
          status: 'confirmed',
          createdAt: before.createdAt,
          firstFeedbackAt: before.firstFeedbackAt,
          lastFeedbackAt: before.lastFeedbackAt,
        });
      });

      it('replaces a status given explicitly', async () => {
        await store.save(projectEntry('m1'));
        await store.applyFeedback('m1', 'positive');
        expect((await store.save(projectEntry('m1', { status: 'disputed' }))).status).toBe('disputed');
      });

      it('still replaces the content fields (one left out is removed)', async () => {
        await store.save(projectEntry('m1', { tags: ['a'], lastSeenAt: 3, unsupportedReason: 'why' }));
        const saved = await store.save({ entryId: 'm1', scope: 'project', insight: 'bare', confidence: 0.1 });
        expect(saved.tags).toEqual([]);
        expect(saved.lastSeenAt).toBeUndefined();
        expect(saved.unsupportedReason).toBeUndefined();
        expect(saved.projectKey).toBeUndefined();
      });
    });

    describe('update()', () => {
      it('changes only the fields given', async () => {
        const before = await promotedConfirmed();
        const patch = { tags: ['gc'], insight: 'new insight', confidence: 0.9, lastSeenAt: 99 };
        const updated = await store.update('m1', patch);
        expect(updated).toEqual({ ...before, ...patch });
        expect(await store.get('m1')).toEqual(updated);
      });

      it('changes evidence and unsupportedReason, and removes them with null', async () => {
        await store.save(projectEntry('m1', { lastSeenAt: 5 }));
        const evidence = [{ artifactId: 'a1', range: { startNs: 1, endNs: 2 } }];
        expect(await store.update('m1', { evidence, unsupportedReason: 'no trace' })).toMatchObject({
          evidence,
          unsupportedReason: 'no trace',
        });
        const cleared = await store.update('m1', { evidence: null, unsupportedReason: null, lastSeenAt: null });
        expect(cleared).not.toHaveProperty('evidence');
        expect(cleared).not.toHaveProperty('unsupportedReason');
        expect(cleared).not.toHaveProperty('lastSeenAt');
        expect((await store.recall()).map((hit) => hit.entry.entryId)).toEqual(['m1']);
      });

      it('treats a field set to undefined as left out', async () => {
        await store.save(projectEntry('m1', { unsupportedReason: 'why' }));
        expect((await store.update('m1', { unsupportedReason: undefined, confidence: 0.2 })).unsupportedReason).toBe(
          'why',
        );
      });

      it('adds no audit row and leaves scope, status and promotion as they were', async () => {
        const before = await promotedConfirmed();
        const audit = await store.promotionAudit();
        const updated = await store.update('m1', { confidence: 0.1 });
        expect(updated).toMatchObject({
          scope: before.scope,
          status: before.status,
          promotionLevel: before.promotionLevel,
          promotionPolicy: before.promotionPolicy,
        });
        expect(await store.promotionAudit()).toEqual(audit);
      });

      it('throws NotFoundError for an unknown entry', async () => {
        await expect(store.update('nope', { confidence: 0.1 })).rejects.toBeInstanceOf(NotFoundError);
      });
    });
  });
}
