// Bad input as every memory store must refuse it: the right typed error, and nothing stored
// changed. Run against the file (bad-input.test.ts, which also holds the file-only checks) and
// PostgreSQL (test/postgres/memory.conformance.test.ts).
import { beforeEach, describe, expect, it } from 'vitest';
import {
  IllegalTransitionError,
  type MemoryStore,
  NotFoundError,
  type StoreError,
  ValidationError,
} from '../../src/index.js';
import type { Clock } from '../../src/storage/clock.js';
import { projectEntry, worldEntry } from './helpers.js';

/** A store on empty storage of its own, for the bad-input suite. */
export interface BadInputSubject {
  store: MemoryStore;
  /** Everything the store keeps, in a form that changes with any write. */
  snapshot(): unknown;
  /** Another store on the same storage, on `clock`. */
  reopen(clock: Clock): MemoryStore;
}

type Op = (store: MemoryStore) => Promise<unknown>;
// biome-ignore lint/suspicious/noExplicitAny: bad input is the point of these tests
const anyInput = (value: unknown) => value as any;

const saveWith =
  (overrides: Record<string, unknown>): Op =>
  (store) =>
    store.save(anyInput({ ...projectEntry('m9'), ...overrides }));

const badSaves: [string, Op][] = [
  ['an entry that is not an object', (s) => s.save(anyInput('m9'))],
  ['a null entry', (s) => s.save(anyInput(null))],
  ['a numeric entryId', saveWith({ entryId: 7 })],
  ['an empty entryId', saveWith({ entryId: '' })],
  ['a blank entryId', saveWith({ entryId: '   ' })],
  ['an entryId over 256 characters', saveWith({ entryId: 'x'.repeat(257) })],
  ["scope 'session'", saveWith({ scope: 'session' })],
  ['an unknown scope', saveWith({ scope: 'galaxy' })],
  ['a numeric scope', saveWith({ scope: 1 })],
  ['an empty projectKey', saveWith({ projectKey: '' })],
  ['a numeric projectKey', saveWith({ projectKey: 5 })],
  ['tags that are a string', saveWith({ tags: 'cpu' })],
  ['a numeric tag', saveWith({ tags: [1] })],
  ['an empty tag', saveWith({ tags: [''] })],
  ['a numeric insight', saveWith({ insight: 3 })],
  ['an empty insight', saveWith({ insight: '' })],
  ['a missing insight', saveWith({ insight: undefined })],
  ['confidence as a string', saveWith({ confidence: '0.5' })],
  ['confidence above 1', saveWith({ confidence: 1.5 })],
  ['confidence below 0', saveWith({ confidence: -0.1 })],
  ['confidence NaN', saveWith({ confidence: Number.NaN })],
  ['an unknown status', saveWith({ status: 'maybe' })],
  ['a negative promotionLevel', saveWith({ promotionLevel: -1 })],
  ['a fractional promotionLevel', saveWith({ promotionLevel: 1.5 })],
  ['promotionLevel as a string', saveWith({ promotionLevel: 'one' })],
  ['a promotionPolicy that is a string', saveWith({ promotionPolicy: 'approved' })],
  [
    'a world entry without promotionPolicy',
    (s) => s.save(anyInput({ ...worldEntry('w9'), promotionPolicy: undefined })),
  ],
  [
    'a policy with a forbidden trigger',
    (s) =>
      s.save(
        anyInput({ ...worldEntry('w9'), promotionPolicy: { ...worldEntry('w9').promotionPolicy, trigger: 'vibes' } }),
      ),
  ],
  [
    'a policy with an unknown fromScope',
    (s) =>
      s.save(
        anyInput({
          ...worldEntry('w9'),
          promotionPolicy: { ...worldEntry('w9').promotionPolicy, fromScope: 'galaxy' },
        }),
      ),
  ],
  [
    'a policy without promotedAt',
    (s) =>
      s.save(
        anyInput({
          ...worldEntry('w9'),
          promotionPolicy: { ...worldEntry('w9').promotionPolicy, promotedAt: undefined },
        }),
      ),
  ],
  ['evidence that is a string', saveWith({ evidence: 'see query' })],
  ['evidence with a numeric sql', saveWith({ evidence: [{ sql: 1 }] })],
  ['evidence with a range ending before it starts', saveWith({ evidence: [{ range: { startNs: 5, endNs: 1 } }] })],
  ['evidence with a range of strings', saveWith({ evidence: [{ range: { startNs: '1', endNs: '2' } }] })],
  ['createdAt as a string', saveWith({ createdAt: 'yesterday' })],
  ['a negative createdAt', saveWith({ createdAt: -1 })],
  ['lastSeenAt as a string', saveWith({ lastSeenAt: 'now' })],
  ['firstFeedbackAt as a string', saveWith({ firstFeedbackAt: 'now' })],
  ['lastFeedbackAt infinite', saveWith({ lastFeedbackAt: Number.POSITIVE_INFINITY })],
  ['a numeric unsupportedReason', saveWith({ unsupportedReason: 1 })],
];

const promoteWith =
  (policy: Record<string, unknown>, entryId = 'm1'): Op =>
  (store) =>
    store.promote(entryId, anyInput(policy));

const badPromotions: [string, Op][] = [
  ['a forbidden trigger', promoteWith({ fromScope: 'project', toScope: 'project', trigger: 'vibes' })],
  ["toScope 'session'", promoteWith({ fromScope: 'project', toScope: 'session', trigger: 'user_feedback' })],
  ['an unknown toScope', promoteWith({ fromScope: 'project', toScope: 'galaxy', trigger: 'user_feedback' })],
  [
    'world without reviewer_approval',
    promoteWith({ fromScope: 'project', toScope: 'world', trigger: 'user_feedback' }),
  ],
  [
    'reviewer_approval without reviewer',
    promoteWith({ fromScope: 'project', toScope: 'world', trigger: 'reviewer_approval' }),
  ],
  [
    'reviewer_approval with a blank reviewer',
    promoteWith({ fromScope: 'project', toScope: 'world', trigger: 'reviewer_approval', reviewer: '   ' }),
  ],
  [
    'skill_eval_pass without evalCaseId',
    promoteWith({ fromScope: 'project', toScope: 'project', trigger: 'skill_eval_pass' }),
  ],
  [
    'a promotedAt that is a string',
    promoteWith({ fromScope: 'project', toScope: 'project', trigger: 'user_feedback', promotedAt: 'now' }),
  ],
  ['a policy that is not an object', (s) => s.promote('m1', anyInput('world'))],
  [
    'a numeric entryId',
    promoteWith({ fromScope: 'project', toScope: 'project', trigger: 'user_feedback' }, anyInput(7)),
  ],
];

const badOthers: [string, Op][] = [
  ['get with a numeric id', (s) => s.get(anyInput(7))],
  ['get with an empty id', (s) => s.get('')],
  ['remove with a blank id', (s) => s.remove('  ')],
  ["list with scope 'session'", (s) => s.list(anyInput({ scope: 'session' }))],
  ['list with anyOfTags as a string', (s) => s.list(anyInput({ anyOfTags: 'cpu' }))],
  ['recall with an unknown scope', (s) => s.recall(anyInput({ scope: 'galaxy' }))],
  ['recall with tags as a string', (s) => s.recall(anyInput({ tags: 'cpu' }))],
  ['recall with topK 0', (s) => s.recall({ topK: 0 })],
  ['recall with a fractional topK', (s) => s.recall({ topK: 2.5 })],
  ['applyFeedback with an unknown rating', (s) => s.applyFeedback('m1', anyInput('meh'))],
  ['applyFeedback with a string time', (s) => s.applyFeedback('m1', 'positive', anyInput('now'))],
  ['applyFeedback with a negative time', (s) => s.applyFeedback('m1', 'positive', -1)],
  ['sweepAutoConfirm with a string time', (s) => s.sweepAutoConfirm(anyInput('now'))],
];

const updateWith =
  (patch: unknown, entryId: unknown = 'm1'): Op =>
  (store) =>
    store.update(anyInput(entryId), anyInput(patch));

const badUpdates: [string, Op][] = [
  ['a patch that is not an object', updateWith('tags')],
  ['a null patch', updateWith(null)],
  ['a scope in the patch', updateWith({ scope: 'world' })],
  ['a status in the patch', updateWith({ status: 'confirmed' })],
  ['a promotionLevel in the patch', updateWith({ promotionLevel: 2 })],
  [
    'a promotionPolicy in the patch',
    updateWith({ promotionPolicy: { fromScope: 'project', toScope: 'world', trigger: 'reviewer_approval' } }),
  ],
  ['a projectKey in the patch', updateWith({ projectKey: 'proj-b' })],
  ['a createdAt in the patch', updateWith({ createdAt: 1 })],
  ['firstFeedbackAt in the patch', updateWith({ firstFeedbackAt: 1 })],
  ['an unknown key beside a valid one', updateWith({ confidence: 0.7, confidance: 0.7 })],
  ['tags that are a string', updateWith({ tags: 'cpu' })],
  ['an empty insight', updateWith({ insight: '' })],
  ['a null insight (it cannot be removed)', updateWith({ insight: null })],
  ['confidence above 1', updateWith({ confidence: 1.5 })],
  ['evidence with a range ending before it starts', updateWith({ evidence: [{ range: { startNs: 5, endNs: 1 } }] })],
  ['lastSeenAt as a string', updateWith({ lastSeenAt: 'now' })],
  ['an empty unsupportedReason', updateWith({ unsupportedReason: '' })],
  ['a blank entryId', updateWith({ confidence: 0.7 }, '  ')],
  ['a numeric entryId', updateWith({ confidence: 0.7 }, 7)],
];

export function describeBadInputConformance(label: string, open: () => BadInputSubject): void {
  describe(`memory store refuses bad input and changes nothing (${label})`, () => {
    let subject: BadInputSubject;
    let store: MemoryStore;

    beforeEach(async () => {
      subject = open();
      store = subject.store;
      await store.save(projectEntry('m1'));
      await store.save(worldEntry('w1'));
    });

    async function expectRefused(op: Op, type: new (...args: never[]) => StoreError) {
      const before = await subject.snapshot();
      await expect(op(store)).rejects.toBeInstanceOf(type);
      expect(await subject.snapshot()).toEqual(before);
    }

    it.each(badSaves)('save with %s: ValidationError', async (_what, op) => {
      await expectRefused(op, ValidationError);
    });

    it.each(badPromotions)('promote with %s: ValidationError', async (_what, op) => {
      await expectRefused(op, ValidationError);
    });

    it.each(badUpdates)('update with %s: ValidationError', async (_what, op) => {
      await expectRefused(op, ValidationError);
    });

    it('update of an unknown entry: NotFoundError', async () => {
      await expectRefused(updateWith({ confidence: 0.7 }, 'nope'), NotFoundError);
    });

    it.each(badOthers)('%s: ValidationError', async (_what, op) => {
      await expectRefused(op, ValidationError);
    });

    it('promote with a fromScope other than the entry’s: IllegalTransitionError', async () => {
      await expectRefused(
        promoteWith({ fromScope: 'world', toScope: 'world', trigger: 'reviewer_approval', reviewer: 'ana' }),
        IllegalTransitionError,
      );
    });

    it('promote of a world entry down to project: IllegalTransitionError', async () => {
      await expectRefused(
        promoteWith({ fromScope: 'world', toScope: 'project', trigger: 'user_feedback' }, 'w1'),
        IllegalTransitionError,
      );
    });

    it('promote of an unknown entry: NotFoundError', async () => {
      await expectRefused(
        promoteWith({ fromScope: 'project', toScope: 'project', trigger: 'user_feedback' }, 'nope'),
        NotFoundError,
      );
    });

    it('applyFeedback on an unknown entry: NotFoundError', async () => {
      await expectRefused((s) => s.applyFeedback('nope', 'positive'), NotFoundError);
    });

    it('names the bad field in the ValidationError', async () => {
      const error = await store.save(anyInput({ ...projectEntry('m9'), confidence: '0.5' })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues.map((issue) => issue.path.join('.'))).toEqual(['confidence']);
      expect((error as ValidationError).message).toContain('confidence');
    });

    it('refuses a clock that returns something other than a time with ValidationError, writing nothing', async () => {
      store = subject.reopen(() => Number.NaN);
      await expectRefused((s) => s.save(projectEntry('m9')), ValidationError);
    });
  });
}
