// Every clock reading the run store stamps is checked before anything is written, and a
// heartbeat stamped by a clock that ran ahead does not keep a dead run alive (issue 9, item 5).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AnalysisRunStore, ValidationError } from '../../src/index.js';
import { manualClock } from '../helpers/manual-clock.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';
import { FakeEventLog } from './fake-event-log.js';

const T0 = 1_700_000_000_000;
const DAY = 86_400_000;
const STALE_MS = 90_000;
const BAD_READINGS: [string, number][] = [
  ['a fractional reading', T0 + 0.5],
  ['a negative reading', -5],
  ['NaN', Number.NaN],
  ['a reading above 2^53', 1e20],
];

function open() {
  const dir = path.join(tempDir(), 'analysis_runs');
  const clock = manualClock(T0);
  const events = new FakeEventLog(clock);
  const store = new AnalysisRunStore({ dir, clock, events, staleAfterMs: STALE_MS });
  return { dir, clock, events, store };
}

describe('AnalysisRunStore clock readings', () => {
  describe.each(BAD_READINGS)('with %s', (_, reading) => {
    it('refuses create() with ValidationError and writes nothing', async () => {
      const { dir, clock, store } = open();
      clock.set(reading);
      await expect(store.create({ runId: 'r1', sessionId: 's', question: 'q' })).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(store.create({ sessionId: 's', question: 'q' })).rejects.toBeInstanceOf(ValidationError);
      expect(snapshotFiles(dir)).toEqual({});
    });

    it('refuses start, heartbeat and every ending, changing no file and no event log', async () => {
      const { dir, clock, events, store } = open();
      await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
      await store.create({ runId: 'r2', sessionId: 's', question: 'q' });
      await store.start('r2');
      const before = snapshotFiles(dir);
      clock.set(reading);
      await expect(store.start('r1')).rejects.toBeInstanceOf(ValidationError);
      await expect(store.heartbeat('r1')).rejects.toBeInstanceOf(ValidationError);
      await expect(store.complete('r2', 1)).rejects.toBeInstanceOf(ValidationError);
      await expect(store.fail('r2', 'boom')).rejects.toBeInstanceOf(ValidationError);
      await expect(store.cancel('r2')).rejects.toBeInstanceOf(ValidationError);
      await expect(store.cleanup({ retentionMs: 0 })).rejects.toBeInstanceOf(ValidationError);
      expect(() =>
        store.isStale({ runId: 'r2', sessionId: 's', question: 'q', status: 'running', createdAt: T0, updatedAt: T0 }),
      ).toThrow(ValidationError);
      expect(snapshotFiles(dir)).toEqual(before);
      expect(await events.lastCursor('r2')).toBe(0);
    });

    it('refuses it as cleanup()’s or isStale()’s now', async () => {
      const { store } = open();
      const run = await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
      await expect(store.cleanup({ retentionMs: 0, now: reading })).rejects.toBeInstanceOf(ValidationError);
      expect(() => store.isStale(run, reading)).toThrow(ValidationError);
    });
  });

  it('leaves the runs readable by a fresh instance after a bad reading was refused', async () => {
    const { dir, clock, store } = open();
    await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
    clock.set(T0 + 0.5);
    await expect(store.heartbeat('r1')).rejects.toBeInstanceOf(ValidationError);
    clock.set(T0 + 1);
    const fresh = new AnalysisRunStore({ dir, clock, staleAfterMs: STALE_MS });
    expect((await fresh.get('r1'))?.status).toBe('pending');
    expect((await fresh.list()).map((run) => run.runId)).toEqual(['r1']);
    expect((await fresh.cleanup({ retentionMs: 0 })).kept).toEqual(['r1']);
  });

  it('reads a beat file stamped above 2^53 (by an older version) as no beat, and status changes still write readable records', async () => {
    const { dir, clock, store } = open();
    await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
    const json = '{"heartbeatAt":1e+20,"updatedAt":1e+20}';
    const checksum = crc32(json).toString(16).padStart(8, '0');
    fs.writeFileSync(path.join(dir, 'active', 'r1.beat'), ` ${json}\n${checksum}\n`);
    const fresh = new AnalysisRunStore({ dir, clock, staleAfterMs: STALE_MS });
    expect((await fresh.get('r1'))?.heartbeatAt).toBeUndefined();
    clock.advance(10);
    await fresh.start('r1');
    const reader = new AnalysisRunStore({ dir, clock, staleAfterMs: STALE_MS });
    expect((await reader.get('r1'))?.updatedAt).toBeLessThan(2 ** 53);
  });

  describe('a heartbeat stamped in the future', () => {
    it('does not keep a dead run alive when it is more than staleAfterMs ahead of now', async () => {
      const { dir, clock, store } = open();
      await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
      await store.start('r1');
      clock.set(T0 + DAY); // the agent's clock jumps a day ahead, it beats, then dies
      await store.heartbeat('r1');
      clock.set(T0 + 10 * STALE_MS); // the clock is corrected; the run has been silent for long
      const janitor = new AnalysisRunStore({ dir, clock, staleAfterMs: STALE_MS });
      const run = await janitor.get('r1');
      expect(janitor.isStale(run!)).toBe(true);
      const report = await janitor.cleanup({ retentionMs: DAY });
      expect(report.abandoned).toEqual(['r1']);
      expect((await janitor.get('r1'))?.error?.code).toBe('heartbeat_stale');
    });

    it('keeps a run alive when its heartbeat is ahead of now by no more than staleAfterMs', async () => {
      const { store } = open();
      const run = await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
      expect(store.isStale({ ...run, heartbeatAt: T0 + STALE_MS }, T0)).toBe(false);
      expect(store.isStale({ ...run, heartbeatAt: T0 + STALE_MS + 1, createdAt: T0 - STALE_MS - 1 }, T0)).toBe(true);
    });

    it('lets beats from the corrected clock replace a future heartbeatAt already in the record', async () => {
      const { clock, store } = open();
      await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
      clock.advance(DAY);
      await store.heartbeat('r1');
      await store.start('r1'); // the future beat is now part of the durable record
      clock.advance(-DAY + 1_000);
      const beat = await store.heartbeat('r1');
      expect(beat.heartbeatAt).toBe(clock());
      expect((await store.get('r1'))?.heartbeatAt).toBe(clock());
      clock.advance(10_000);
      expect((await store.cleanup({ retentionMs: DAY })).kept).toEqual(['r1']);
    });
  });
});
