// Bad input to AnalysisRunStore: each call fails with its typed error and leaves every file as it was.
import * as path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  AnalysisRunStore,
  IllegalTransitionError,
  InvalidIdError,
  NotFoundError,
  type StoreError,
  ValidationError,
} from '../../src/index.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';
import { FakeEventLog } from './fake-event-log.js';

let dir: string;
let store: AnalysisRunStore;
let events: FakeEventLog;

beforeEach(async () => {
  dir = path.join(tempDir(), 'analysis_runs');
  events = new FakeEventLog();
  store = new AnalysisRunStore({ dir, events });
  await store.create({ runId: 'live', sessionId: 's', question: 'q' });
  await store.start('live');
  await store.create({ runId: 'finished', sessionId: 's', question: 'q' });
  await store.complete('finished', { answer: 1 });
});

/** Runs `call`, expects it to throw `type`, and checks that no file and no event changed. */
async function expectRefused(call: () => Promise<unknown> | unknown, type: new (...args: never[]) => StoreError) {
  const before = snapshotFiles(dir);
  const eventsBefore = JSON.stringify([...events.logs]);
  await expect((async () => call())()).rejects.toBeInstanceOf(type);
  expect(snapshotFiles(dir)).toEqual(before);
  expect(JSON.stringify([...events.logs])).toBe(eventsBefore);
}

describe('AnalysisRunStore bad input', () => {
  describe('unknown run ids: NotFoundError', () => {
    it.each([
      ['start', () => store.start('ghost')],
      ['heartbeat', () => store.heartbeat('ghost')],
      ['complete', () => store.complete('ghost', 1)],
      ['fail', () => store.fail('ghost', 'x')],
      ['cancel', () => store.cancel('ghost')],
    ])('%s', async (_name, call) => {
      await expectRefused(call, NotFoundError);
    });
  });

  describe('ids outside the id rule: InvalidIdError before any file is touched', () => {
    const bad = ['../escape', '', '.hidden', 'a/b', 'x'.repeat(129), 'sp ace', 42 as unknown as string];
    it.each(bad.map((id) => [JSON.stringify(id).slice(0, 20), id]))('%s', async (_label, id) => {
      for (const call of [
        () => store.create({ runId: id, sessionId: 's', question: 'q' }),
        () => store.start(id),
        () => store.heartbeat(id),
        () => store.complete(id),
        () => store.fail(id, 'x'),
        () => store.cancel(id),
        () => store.get(id),
        () => store.startHeartbeat(id, { intervalMs: 10 }),
      ]) {
        await expectRefused(call, InvalidIdError);
      }
    });
  });

  describe('double completion: IllegalTransitionError', () => {
    it.each([
      ['complete', () => store.complete('finished', 2)],
      ['fail', () => store.fail('finished', 'late')],
      ['cancel', () => store.cancel('finished', 'late')],
    ])('%s on a completed run', async (_name, call) => {
      await expectRefused(call, IllegalTransitionError);
    });

    it('start on a finished run', async () => {
      await expectRefused(() => store.start('finished'), IllegalTransitionError);
    });
  });

  it('heartbeat on a finished run: IllegalTransitionError', async () => {
    await expectRefused(() => store.heartbeat('finished', { late: true }), IllegalTransitionError);
  });

  describe('malformed input: ValidationError', () => {
    it.each([
      ['create without sessionId', () => store.create({ question: 'q' } as never)],
      ['create with a blank sessionId', () => store.create({ sessionId: '  ', question: 'q' })],
      ['create with an unknown field', () => store.create({ sessionId: 's', question: 'q', colour: 'red' } as never)],
      ['create with a non-string question', () => store.create({ sessionId: 's', question: 7 } as never)],
      ['heartbeat details that are not JSON', () => store.heartbeat('live', { n: 1n })],
      ['heartbeat details with a cycle', () => store.heartbeat('live', cyclic())],
      ['heartbeat details over 16 KiB', () => store.heartbeat('live', 'x'.repeat(17_000))],
      ['a result that is not JSON', () => store.complete('live', { when: Number.NaN })],
      ['fail without a message', () => store.fail('live', { code: 'x' } as never)],
      ['cancel with a non-string reason', () => store.cancel('live', 5 as never)],
      ['list with an unknown status', () => store.list({ status: 'done' as never })],
      ['list with an unknown filter', () => store.list({ owner: 'me' } as never)],
      ['cleanup without retentionMs', () => store.cleanup({} as never)],
      ['cleanup with a negative retentionMs', () => store.cleanup({ retentionMs: -1 })],
      ['startHeartbeat with intervalMs 0', () => store.startHeartbeat('live', { intervalMs: 0 })],
    ])('%s', async (_name, call) => {
      await expectRefused(call, ValidationError);
    });
  });

  it('refuses a store without a dir', () => {
    expect(() => new AnalysisRunStore({} as never)).toThrow(ValidationError);
    expect(() => new AnalysisRunStore({ dir, staleAfterMs: 0 })).toThrow(ValidationError);
  });
});

function cyclic(): unknown {
  const value: Record<string, unknown> = {};
  value.self = value;
  return value;
}
