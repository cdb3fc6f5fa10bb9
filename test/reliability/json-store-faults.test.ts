import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FeedbackPipeline } from '../../src/feedback/index.js';
import { ProjectMemoryStore } from '../../src/memory/index.js';
import { tempDir } from '../helpers/tmp.js';
import { describeOutcomes, type FaultCase, type FaultOutcome, sweepFaults } from './fault-sweep.js';
import { FaultyIO } from './faulty-io.js';

const T0 = 1_700_000_000_000;
const DAY = 24 * 3_600_000;
let now = T0;
const clock = () => now;

const memoryFile = (root: string) => path.join(root, 'analysis_project_memory.json');
const pipelineFile = (root: string) => path.join(root, 'feedback_pipeline.json');

async function seedMemory(root: string): Promise<void> {
  now = T0;
  const store = new ProjectMemoryStore({ path: memoryFile(root), clock });
  await store.save({ entryId: 'a', scope: 'project', projectKey: 'p', tags: ['x'], insight: 'first', confidence: 0.5 });
  await store.save({
    entryId: 'b',
    scope: 'project',
    projectKey: 'p',
    tags: ['y'],
    insight: 'second',
    confidence: 0.7,
  });
  await store.applyFeedback('b', 'positive');
}

function memoryCase(
  run: (store: ProjectMemoryStore) => Promise<unknown>,
): FaultCase<ProjectMemoryStore, unknown, FaultyIO> {
  return {
    prepare: seedMemory,
    open: (root, io) => new ProjectMemoryStore({ path: memoryFile(root), clock, io }),
    injector: () => new FaultyIO(),
    run,
    observe: async (store) => ({ entries: await store.list(), audit: await store.promotionAudit() }),
    probe: (store) => store.save({ entryId: 'probe', scope: 'project', projectKey: 'p', insight: 'ok', confidence: 1 }),
    // The atomic replace renames inside writeAtomic: past it the change is on disk.
    committedAfter: ['writeAtomic'],
    detectsDamage: true,
  };
}

async function seedPipeline(root: string): Promise<void> {
  now = T0;
  const pipeline = new FeedbackPipeline({ path: pipelineFile(root), clock });
  await pipeline.create({ entryId: 'a', feedbackId: 'f1' });
  await pipeline.advance('a', { stage: 'case_draft', case: { caseId: 'c1' } });
}

function pipelineCase(
  run: (pipeline: FeedbackPipeline) => Promise<unknown>,
): FaultCase<FeedbackPipeline, unknown, FaultyIO> {
  return {
    prepare: seedPipeline,
    open: (root, io) => new FeedbackPipeline({ path: pipelineFile(root), clock, io }),
    injector: () => new FaultyIO(),
    run,
    observe: async (pipeline) => ({ entries: await pipeline.list() }),
    probe: (pipeline) => pipeline.create({ entryId: `probe-${Math.random()}`, feedbackId: 'f' }),
    committedAfter: ['writeAtomic'],
    detectsDamage: true,
  };
}

/**
 * Every fault fired; every rejection that kept the old state was typed `IO`; a short write left
 * the old state; damaged bytes were refused as CORRUPT by the next reader.
 */
function expectCovered(outcomes: FaultOutcome[]): void {
  expect(
    outcomes.filter((o) => o.result === 'not-reached'),
    describeOutcomes(outcomes),
  ).toEqual([]);
  expect(
    outcomes.filter((o) => o.result !== 'absorbed' && o.result !== 'detected' && o.errorCode !== 'IO'),
    describeOutcomes(outcomes),
  ).toEqual([]);
  expect(outcomes.some((o) => o.step === 'writeAtomic' && o.result === 'unchanged')).toBe(true);
  const shortWrites = outcomes.filter((o) => o.kind === 'short-write');
  expect(shortWrites.length).toBeGreaterThan(0);
  expect(
    shortWrites.filter((o) => o.result !== 'unchanged' || !o.bytesUnchanged),
    describeOutcomes(outcomes),
  ).toEqual([]);
  const damaged = outcomes.filter((o) => o.kind === 'zeroed-range' || o.kind === 'flipped-byte');
  expect(damaged.length).toBeGreaterThan(0);
  expect(
    damaged.filter((o) => o.result !== 'detected'),
    describeOutcomes(outcomes),
  ).toEqual([]);
}

describe('ProjectMemoryStore under injected disk faults at every write step', () => {
  it('save() of a new entry is all-or-nothing', async () => {
    expectCovered(
      await sweepFaults(
        memoryCase((s) => s.save({ entryId: 'c', scope: 'project', projectKey: 'p', insight: 'new', confidence: 0.1 })),
      ),
    );
  });

  it('promote() writes the entry and its audit row together or not at all', async () => {
    expectCovered(
      await sweepFaults(
        memoryCase((s) =>
          s.promote('a', { fromScope: 'project', toScope: 'world', trigger: 'reviewer_approval', reviewer: 'rev' }),
        ),
      ),
    );
  });

  it('applyFeedback() is all-or-nothing', async () => {
    expectCovered(await sweepFaults(memoryCase((s) => s.applyFeedback('a', 'negative'))));
  });

  it('remove() is all-or-nothing', async () => {
    expectCovered(await sweepFaults(memoryCase((s) => s.remove('a'))));
  });

  it('sweepAutoConfirm() confirms every due entry or none', async () => {
    expectCovered(await sweepFaults(memoryCase((s) => s.sweepAutoConfirm(T0 + 2 * DAY))));
  });
});

describe('FeedbackPipeline under injected disk faults at every write step', () => {
  it('create() is all-or-nothing', async () => {
    expectCovered(await sweepFaults(pipelineCase((p) => p.create({ entryId: 'b', feedbackId: 'f2' }))));
  });

  it('advance() moves the stage, history and high-water mark together or not at all', async () => {
    expectCovered(await sweepFaults(pipelineCase((p) => p.advance('a', { stage: 'skill_draft', skillDraftId: 's1' }))));
  });

  it('keeps updatedAt above a stamp that was written but not acknowledged', async () => {
    // A fault after the rename leaves the change on disk although the caller heard "failed":
    // with the clock standing still, the next stamp must still be above it.
    const root = tempDir();
    await seedPipeline(root);
    const io = new FaultyIO();
    const pipeline = new FeedbackPipeline({ path: pipelineFile(root), clock, io });
    await pipeline.list();
    io.failAll('EIO', ['fsyncDir']);
    await expect(pipeline.advance('a', { stage: 'skill_draft' })).rejects.toMatchObject({ code: 'IO' });
    io.heal();
    const created = await pipeline.create({ entryId: 'b', feedbackId: 'f2' });
    const stamps = (await pipeline.list()).map((e) => e.updatedAt);
    expect(new Set(stamps).size).toBe(stamps.length);
    expect(created.updatedAt).toBe(Math.max(...stamps));
  });
});
