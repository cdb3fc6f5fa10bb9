import { describe, expect, it } from 'vitest';
import { FeedbackPipeline } from '../../src/feedback/index.js';
import { ProjectMemoryStore } from '../../src/memory/index.js';

// DESIGN.md: mutations issued together are applied in the order they were issued. remove() and
// sweepAutoConfirm() first look at the committed state and return early when there is nothing to
// do, so they can overtake a write issued just before them in the same tick. The model tests keep
// them out of concurrent batches; these tests pin the deviation. They are marked `fails` until the
// stores route these calls through the document's queue (then drop `.fails`).
describe('calls issued together without awaiting', () => {
  it.fails('KNOWN DEVIATION: a memory remove() issued right after save() of the same entry removes it', async () => {
    const store = ProjectMemoryStore.inMemory();
    const [, removed] = await Promise.all([
      store.save({ entryId: 'a', scope: 'project', projectKey: 'p', insight: 'i', confidence: 1 }),
      store.remove('a'),
    ]);
    expect(removed).toBe(true);
    expect(await store.get('a')).toBeUndefined();
  });

  it.fails('KNOWN DEVIATION: a pipeline remove() issued right after create() of the same entry removes it', async () => {
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
});
