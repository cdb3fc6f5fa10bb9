import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { IllegalTransitionError, NotFoundError, ProjectMemoryStore } from '../../src/index.js';
import { manualClock } from '../helpers/manual-clock.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';
import { memoryBackends, projectEntry } from './helpers.js';
import { describeSaveRuleConformance, toWorld } from './save-rule-and-update.conformance.js';

for (const [label, open] of memoryBackends) describeSaveRuleConformance(label, open);

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
