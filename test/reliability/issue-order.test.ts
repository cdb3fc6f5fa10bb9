import { describe, expect, it } from 'vitest';
import { FeedbackPipeline } from '../../src/feedback/index.js';
import { ProjectMemoryStore } from '../../src/memory/index.js';

// DESIGN.md: mutations issued together are applied in the order they were issued, including
// remove() and sweepAutoConfirm(), which must not look at the committed state and return early.
describe('calls issued together without awaiting', () => {
  it('a memory remove() issued right after save() of the same entry removes it', async () => {
    const store = ProjectMemoryStore.inMemory();
    const [, removed] = await Promise.all([
      store.save({ entryId: 'a', scope: 'project', projectKey: 'p', insight: 'i', confidence: 1 }),
      store.remove('a'),
    ]);
    expect(removed).toBe(true);
    expect(await store.get('a')).toBeUndefined();
  });

  it('a pipeline remove() issued right after create() of the same entry removes it', async () => {
    const pipeline = FeedbackPipeline.inMemory();
    const [, removed] = await Promise.all([pipeline.create({ entryId: 'a', feedbackId: 'f' }), pipeline.remove('a')]);
    expect(removed).toBe(true);
    expect(await pipeline.get('a')).toBeUndefined();
  });

  it('a memory applyFeedback() issued right after save() sees the saved entry', async () => {
    const store = ProjectMemoryStore.inMemory();
    const [, status] = await Promise.all([
      store.save({ entryId: 'a', scope: 'project', projectKey: 'p', insight: 'i', confidence: 1 }),
      store.applyFeedback('a', 'positive'),
    ]);
    expect(status).toBe('confirmed');
  });

  it('a memory sweepAutoConfirm() issued right after save() of an old provisional entry confirms it', async () => {
    const store = ProjectMemoryStore.inMemory({ clock: () => 100 * 3_600_000 });
    const [, count] = await Promise.all([
      store.save({ entryId: 'a', scope: 'project', projectKey: 'p', insight: 'i', confidence: 1, createdAt: 0 }),
      store.sweepAutoConfirm(),
    ]);
    expect(count).toBe(1);
    expect((await store.get('a'))?.status).toBe('confirmed');
  });
});
