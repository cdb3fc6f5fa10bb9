import * as path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { IllegalTransitionError, NotFoundError, type ProjectMemoryEntry, ProjectMemoryStore } from '../../src/index.js';
import { type ManualClock, manualClock } from '../helpers/manual-clock.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';
import { memoryBackends, projectEntry } from './helpers.js';

const toWorld = { fromScope: 'project', toScope: 'world', trigger: 'reviewer_approval', reviewer: 'ana' } as const;

describe.each(memoryBackends)('save() of an existing entry and update() (%s)', (_backend, open) => {
  let clock: ManualClock;
  let store: ProjectMemoryStore;

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

describe('save() and update() on a file', () => {
  function fileStore() {
    const dir = tempDir();
    const clock = manualClock();
    return {
      dir,
      clock,
      store: new ProjectMemoryStore({ path: path.join(dir, 'analysis_project_memory.json'), clock }),
    };
  }

  it('leaves the files byte-identical when save() tries to undo a promotion', async () => {
    const { dir, store } = fileStore();
    await store.save(projectEntry('m1'));
    await store.promote('m1', toWorld);
    await store.applyFeedback('m1', 'positive');
    const before = snapshotFiles(dir);
    await expect(store.save(projectEntry('m1'))).rejects.toBeInstanceOf(IllegalTransitionError);
    await expect(store.save({ ...(await store.get('m1'))!, promotionLevel: 0 })).rejects.toBeInstanceOf(
      IllegalTransitionError,
    );
    expect(snapshotFiles(dir)).toEqual(before);
  });

  it('writes nothing for an update that changes nothing', async () => {
    const { dir, store } = fileStore();
    await store.save(projectEntry('m1', { confidence: 0.5 }));
    const before = snapshotFiles(dir);
    await store.update('m1', {});
    await store.update('m1', { confidence: 0.5, unsupportedReason: null });
    expect(snapshotFiles(dir)).toEqual(before);
  });

  it('writes nothing for an update of an unknown entry', async () => {
    const { dir, store } = fileStore();
    await store.save(projectEntry('m1'));
    const before = snapshotFiles(dir);
    await expect(store.update('nope', { confidence: 0.1 })).rejects.toBeInstanceOf(NotFoundError);
    expect(snapshotFiles(dir)).toEqual(before);
  });

  it('another instance on the same file sees an update with every other field kept', async () => {
    const { dir, store } = fileStore();
    const saved = await store.save(projectEntry('m1', { tags: ['a', 'b'] }));
    await store.update('m1', { insight: 'changed' });
    const other = new ProjectMemoryStore({ path: path.join(dir, 'analysis_project_memory.json') });
    expect(await other.get('m1')).toEqual({ ...saved, insight: 'changed' });
  });
});
