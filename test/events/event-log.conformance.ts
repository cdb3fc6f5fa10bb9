// The behaviour every event log must show, whatever it stores on: run against the file backend
// and the in-memory twin (conformance.test.ts) and against PostgreSQL
// (test/postgres/event-log.conformance.test.ts).
import { describe, expect, it } from 'vitest';
import type { EventLog } from '../../src/events/index.js';
import type { Clock } from '../../src/storage/clock.js';
import { InvalidIdError, PayloadTooLargeError, SealedLogError, ValidationError } from '../../src/storage/errors.js';
import { collect, cursors, range, turn } from './helpers.js';

/** The options every event log takes. */
export interface EventLogTestOptions {
  clock?: Clock;
  terminalTypes?: string[];
  maxEventBytes?: number;
}

/** Declares the conformance tests for the event logs `open` makes: each test opens its own, empty. */
export function describeEventLogConformance(label: string, open: (options?: EventLogTestOptions) => EventLog): void {
  describe(`EventLog conformance (${label})`, () => {
    describe('append', () => {
      it('numbers each run’s events 1, 2, 3… independently of other runs', async () => {
        const log = open();
        const a1 = await log.append('run-a', { type: 'step' });
        const b1 = await log.append('run-b', { type: 'step' });
        const a2 = await log.append('run-a', { type: 'step' });
        expect([a1.cursor, b1.cursor, a2.cursor]).toEqual([1, 1, 2]);
        await log.close();
      });

      it('returns the event with its run, cursor, type, payload and the clock’s time', async () => {
        const log = open({ clock: () => 1_234 });
        const event = await log.append('run-1', { type: 'progress', payload: { step: 1 } });
        expect(event).toEqual({ runId: 'run-1', cursor: 1, type: 'progress', at: 1_234, payload: { step: 1 } });
        await log.close();
      });

      it('stores a missing payload as null', async () => {
        const log = open();
        await log.append('run-1', { type: 'ping' });
        expect((await collect(log.read('run-1')))[0]?.payload).toBeNull();
        await log.close();
      });

      it('gives concurrent appends to one run gap-free cursors in call order', async () => {
        const log = open();
        const events = await Promise.all(range(50).map((i) => log.append('run-1', { type: 'n', payload: i })));
        expect(cursors(events)).toEqual(range(50));
        expect(events.map((event) => event.payload)).toEqual(range(50));
        await log.close();
      });

      it('commits concurrent appends to many runs, each run numbered on its own', async () => {
        const log = open();
        const events = await Promise.all(range(30).map((i) => log.append(`run-${i % 3}`, { type: 'n', payload: i })));
        for (const runId of ['run-0', 'run-1', 'run-2']) {
          expect(cursors(events.filter((event) => event.runId === runId))).toEqual(range(10));
          expect(cursors(await collect(log.read(runId)))).toEqual(range(10));
        }
        await log.close();
      });
    });

    describe('read', () => {
      it('returns the events after a cursor, oldest first, as JSON would give them back', async () => {
        const log = open();
        for (const i of range(5))
          await log.append('run-1', { type: 'n', payload: { i, when: new Date(0), gone: undefined } });
        const events = await collect(log.read('run-1', { after: 2 }));
        expect(cursors(events)).toEqual([3, 4, 5]);
        expect(events[0]?.payload).toEqual({ i: 3, when: '1970-01-01T00:00:00.000Z' });
        await log.close();
      });

      it('stops after limit events', async () => {
        const log = open();
        for (const i of range(10)) await log.append('run-1', { type: 'n', payload: i });
        expect(cursors(await collect(log.read('run-1', { after: 3, limit: 4 })))).toEqual([4, 5, 6, 7]);
        expect(await collect(log.read('run-1', { limit: 0 }))).toEqual([]);
        await log.close();
      });

      it('returns nothing after the last cursor', async () => {
        const log = open();
        await log.append('run-1', { type: 'n' });
        expect(await collect(log.read('run-1', { after: 1 }))).toEqual([]);
        expect(await collect(log.read('run-1', { after: 99 }))).toEqual([]);
        await log.close();
      });

      it('knows nothing of a run that was never appended to', async () => {
        const log = open();
        expect(await collect(log.read('nobody'))).toEqual([]);
        expect(await log.lastCursor('nobody')).toBe(0);
        expect(await log.isSealed('nobody')).toBe(false);
        expect(await log.exists('nobody')).toBe(false);
        expect(await log.runIds()).toEqual([]);
        await log.close();
      });

      it('reports the last cursor and existence of a run', async () => {
        const log = open();
        for (const _ of range(3)) await log.append('run-1', { type: 'n' });
        expect(await log.lastCursor('run-1')).toBe(3);
        expect(await log.exists('run-1')).toBe(true);
        await log.close();
      });

      it('lists the runs sorted by id', async () => {
        const log = open();
        for (const runId of ['b', 'c', 'a']) await log.append(runId, { type: 'n' });
        expect(await log.runIds()).toEqual(['a', 'b', 'c']);
        await log.close();
      });
    });

    describe('sealing', () => {
      it.each(['analysis_completed', 'error', 'end'])(
        'seals the run after a default terminal type (%s)',
        async (type) => {
          const log = open();
          await log.append('run-1', { type: 'step' });
          await log.append('run-1', { type, payload: { report: '/r/1' } });
          expect(await log.isSealed('run-1')).toBe(true);
          await expect(log.append('run-1', { type: 'step' })).rejects.toBeInstanceOf(SealedLogError);
          expect(await log.lastCursor('run-1')).toBe(2);
          await log.close();
        },
      );

      it('refuses the appends of a batch that come after its terminal event and keeps those before', async () => {
        const log = open();
        const results = await Promise.allSettled([
          log.append('run-1', { type: 'step' }),
          log.append('run-1', { type: 'end' }),
          log.append('run-1', { type: 'late' }),
        ]);
        expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
        expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(SealedLogError);
        expect(cursors(await collect(log.read('run-1')))).toEqual([1, 2]);
        await log.close();
      });

      it('uses the configured terminal types instead of the defaults', async () => {
        const log = open({ terminalTypes: ['done'] });
        await log.append('run-1', { type: 'end' });
        expect(await log.isSealed('run-1')).toBe(false);
        await log.append('run-1', { type: 'done' });
        await expect(log.append('run-1', { type: 'end' })).rejects.toBeInstanceOf(SealedLogError);
        await log.close();
      });

      it('does not seal other runs', async () => {
        const log = open();
        await log.append('run-1', { type: 'end' });
        expect((await log.append('run-2', { type: 'step' })).cursor).toBe(1);
        await log.close();
      });
    });

    describe('follow', () => {
      it('replays after the cursor, then yields live events, and ends after the terminal one', async () => {
        const log = open();
        for (const _ of range(3)) await log.append('run-1', { type: 'step' });
        const followed = collect(log.follow('run-1', { after: 1 }));
        await turn();
        await log.append('run-1', { type: 'step' });
        await log.append('run-1', { type: 'analysis_completed', payload: { report: '/r' } });
        const events = await followed;
        expect(cursors(events)).toEqual([2, 3, 4, 5]);
        expect(events.at(-1)?.payload).toEqual({ report: '/r' });
        await log.close();
      });

      it('yields every event once, in order, while appends race with the replay', async () => {
        const log = open();
        for (const i of range(20)) await log.append('run-1', { type: 'n', payload: i });
        const followed = collect(log.follow('run-1'));
        const racing = Promise.all(range(40, 21).map((i) => log.append('run-1', { type: 'n', payload: i })));
        await turn();
        await Promise.all(range(20, 61).map((i) => log.append('run-1', { type: 'n', payload: i })));
        await racing;
        await log.append('run-1', { type: 'end' });
        expect(cursors(await followed)).toEqual(range(81));
        await log.close();
      });

      it('ends at once for a sealed run followed from its last cursor', async () => {
        const log = open();
        await log.append('run-1', { type: 'step' });
        await log.append('run-1', { type: 'end' });
        expect(await collect(log.follow('run-1', { after: 2 }))).toEqual([]);
        expect(cursors(await collect(log.follow('run-1', { after: 1 })))).toEqual([2]);
        await log.close();
      });

      it('waits for a run that does not exist yet', async () => {
        const log = open();
        const followed = collect(log.follow('later'));
        await turn();
        await log.append('later', { type: 'step' });
        await log.append('later', { type: 'end' });
        expect(cursors(await followed)).toEqual([1, 2]);
        await log.close();
      });

      it('ends when its signal aborts, keeping what it yielded', async () => {
        const log = open();
        await log.append('run-1', { type: 'step' });
        const controller = new AbortController();
        const seen: number[] = [];
        const done = (async () => {
          for await (const event of log.follow('run-1', { signal: controller.signal })) {
            seen.push(event.cursor);
            if (event.cursor === 2) controller.abort();
          }
        })();
        await turn();
        await log.append('run-1', { type: 'step' });
        await log.append('run-1', { type: 'step' });
        await done;
        expect(seen).toEqual([1, 2]);
        await log.close();
      });

      it('yields nothing with a signal that is already aborted', async () => {
        const log = open();
        await log.append('run-1', { type: 'step' });
        expect(await collect(log.follow('run-1', { signal: AbortSignal.abort() }))).toEqual([]);
        await log.close();
      });

      it('ends when the run is deleted', async () => {
        const log = open();
        await log.append('run-1', { type: 'step' });
        const followed = log.follow('run-1')[Symbol.asyncIterator]();
        expect((await followed.next()).value?.cursor).toBe(1);
        // Waiting for a live event when the run goes.
        const rest = followed.next();
        await log.delete('run-1');
        expect(await rest).toEqual({ done: true, value: undefined });
        await log.close();
      });

      it('ends when the log is closed', async () => {
        const log = open();
        await log.append('run-1', { type: 'step' });
        const followed = log.follow('run-1')[Symbol.asyncIterator]();
        expect((await followed.next()).value?.cursor).toBe(1);
        const rest = followed.next();
        await log.close();
        expect(await rest).toEqual({ done: true, value: undefined });
      });
    });

    describe('delete', () => {
      it('removes the run: it is no longer listed, and a new append starts again at cursor 1', async () => {
        const log = open();
        await log.append('run-1', { type: 'end' });
        await log.append('run-2', { type: 'step' });
        expect(await log.delete('run-1')).toBe(true);
        expect(await log.runIds()).toEqual(['run-2']);
        expect(await log.isSealed('run-1')).toBe(false);
        expect((await log.append('run-1', { type: 'step' })).cursor).toBe(1);
        await log.close();
      });

      it('returns false for a run that does not exist', async () => {
        const log = open();
        expect(await log.delete('nobody')).toBe(false);
        await log.close();
      });
    });

    describe('verify', () => {
      it('reports a sound run as ok with its events and seal', async () => {
        const log = open();
        for (const _ of range(4)) await log.append('run-1', { type: 'step' });
        await log.append('run-1', { type: 'end' });
        const report = await log.verify('run-1');
        expect(report).toMatchObject({ runId: 'run-1', exists: true, events: 5, lastCursor: 5, sealed: true });
        expect(report).toMatchObject({ tornTailBytes: 0, indexProblems: [], repaired: false, ok: true });
        await log.close();
      });
    });

    describe('bad input', () => {
      it.each([
        ['a parent path', '../x'],
        ['a slash', 'a/b'],
        ['empty', ''],
        ['a leading dot', '.hidden'],
        ['a NUL', 'a\0b'],
        ['129 characters', 'x'.repeat(129)],
        ['not a string', 42],
      ])('refuses a runId with %s with InvalidIdError', async (_what, runId) => {
        const log = open();
        const id = runId as string;
        await expect(log.append(id, { type: 'step' })).rejects.toBeInstanceOf(InvalidIdError);
        expect(() => log.read(id)).toThrow(InvalidIdError);
        expect(() => log.follow(id)).toThrow(InvalidIdError);
        await expect(log.lastCursor(id)).rejects.toBeInstanceOf(InvalidIdError);
        await expect(log.isSealed(id)).rejects.toBeInstanceOf(InvalidIdError);
        await expect(log.delete(id)).rejects.toBeInstanceOf(InvalidIdError);
        await expect(log.verify(id)).rejects.toBeInstanceOf(InvalidIdError);
        await log.close();
      });

      it('accepts a runId of 128 characters', async () => {
        const log = open();
        expect((await log.append('x'.repeat(128), { type: 'step' })).cursor).toBe(1);
        await log.close();
      });

      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      it.each([
        ['a cycle', cyclic],
        ['a BigInt', { n: 1n }],
        ['a function', () => 1],
        ['a symbol', Symbol('s')],
        ['a non-finite number', { n: Number.NaN }],
      ])('refuses a payload with %s with ValidationError', async (_what, payload) => {
        const log = open();
        await expect(log.append('run-1', { type: 'step', payload })).rejects.toBeInstanceOf(ValidationError);
        await log.close();
      });

      it.each([
        ['empty', ''],
        ['with a newline', 'a\nb'],
        ['not a string', 7],
        ['missing', undefined],
      ])('refuses a type that is %s with ValidationError', async (_what, type) => {
        const log = open();
        await expect(log.append('run-1', { type: type as string })).rejects.toBeInstanceOf(ValidationError);
        await expect(log.append('run-1', null as never)).rejects.toBeInstanceOf(ValidationError);
        await log.close();
      });

      it('refuses an event over maxEventBytes with PayloadTooLargeError, counting UTF-8 bytes', async () => {
        const log = open({ maxEventBytes: 200 });
        await expect(log.append('run-1', { type: 'big', payload: 'é'.repeat(100) })).rejects.toBeInstanceOf(
          PayloadTooLargeError,
        );
        expect((await log.append('run-1', { type: 'small', payload: 'é'.repeat(40) })).cursor).toBe(1);
        await log.close();
      });

      it('refuses bad read and follow options with ValidationError', async () => {
        const log = open();
        expect(() => log.read('run-1', { after: -1 })).toThrow(ValidationError);
        expect(() => log.read('run-1', { after: 1.5 })).toThrow(ValidationError);
        expect(() => log.follow('run-1', { after: Number.NaN })).toThrow(ValidationError);
        await log.close();
      });
    });
  });
}
