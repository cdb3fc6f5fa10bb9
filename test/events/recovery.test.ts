import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentEventLog, type EventLogWarning } from '../../src/events/index.js';
import { CorruptStoreError } from '../../src/storage/errors.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';
import { collect, cursors, range } from './helpers.js';

/** A closed run of `count` events in a fresh directory. */
async function runOf(count: number): Promise<{ dir: string; log: string; idx: string }> {
  const dir = tempDir();
  const writer = new AgentEventLog({ dir });
  await Promise.all(range(count).map((i) => writer.append('run-1', { type: 'n', payload: { i } })));
  await writer.close();
  return { dir, log: path.join(dir, 'run-1.ndjson'), idx: path.join(dir, 'run-1.idx') };
}

/** A writer that records its warnings. */
function reopen(dir: string): { log: AgentEventLog; warnings: EventLogWarning[] } {
  const warnings: EventLogWarning[] = [];
  return { log: new AgentEventLog({ dir, onWarning: (w) => warnings.push(w) }), warnings };
}

const tornTails: [string, string | Buffer][] = [
  ['half a line', '{"cursor":6,"type":"n","at":1,"pay'],
  ['zeros a crash left', Buffer.alloc(300)],
  ['zeros a crash left, then the end of a line', Buffer.concat([Buffer.alloc(30), Buffer.from('"payload":null}\n')])],
  ['zeros, then the end of a line and half of the next', Buffer.from('\0\0\0\0ad":null}\n{"cursor":7,"ty')],
];
// Complete lines that are not the next event (changed bytes, a wrong cursor) are corruption, not a
// torn tail: see integrity.test.ts.

const indexDamage: [string, (idx: string) => void, RegExp][] = [
  ['lost', (idx) => fs.rmSync(idx), /missing/],
  ['short', (idx) => fs.truncateSync(idx, 16), /short by 3/],
  ['long', (idx) => fs.appendFileSync(idx, Buffer.alloc(24, 7)), /long by 3/],
  ['wrong', (idx) => fs.writeFileSync(idx, Buffer.alloc(40, 1)), /entry 1 points at byte/],
  ['cut mid-entry', (idx) => fs.truncateSync(idx, 37), /not a multiple of 8/],
];

describe('AgentEventLog recovery', () => {
  describe.each(tornTails)('a torn tail: %s', (_what, tail) => {
    it('is cut when a writer opens the run, which continues at the next cursor', async () => {
      const { dir, log: file } = await runOf(5);
      const intact = fs.readFileSync(file);
      fs.appendFileSync(file, tail);
      const { log, warnings } = reopen(dir);
      expect((await log.append('run-1', { type: 'n', payload: { i: 6 } })).cursor).toBe(6);
      expect(warnings.map((w) => w.code)).toContain('TORN_TAIL_CUT');
      expect(fs.readFileSync(file).subarray(0, intact.length)).toEqual(intact);
      expect(cursors(await collect(log.read('run-1')))).toEqual(range(6));
      expect((await log.verify('run-1')).ok).toBe(true);
      await log.close();
    });

    it('is reported by verify, changing nothing, and cut by verify with repair', async () => {
      const { dir, log: file } = await runOf(5);
      fs.appendFileSync(file, tail);
      const log = new AgentEventLog({ dir });
      const before = snapshotFiles(dir);
      const report = await log.verify('run-1');
      expect(report).toMatchObject({ ok: false, events: 5, lastCursor: 5, repaired: false });
      expect(report.tornTailBytes).toBe(Buffer.byteLength(tail));
      expect(snapshotFiles(dir)).toEqual(before);
      expect(await log.verify('run-1', { repair: true })).toMatchObject({ repaired: true, events: 5 });
      expect(await log.verify('run-1')).toMatchObject({ ok: true, tornTailBytes: 0 });
      await log.close();
    });

    it('is skipped by readers, which repair nothing', async () => {
      const { dir, log: file } = await runOf(5);
      fs.appendFileSync(file, tail);
      const before = snapshotFiles(dir);
      const reader = new AgentEventLog({ dir });
      expect(cursors(await collect(reader.read('run-1', { after: 3 })))).toEqual([4, 5]);
      expect(await reader.lastCursor('run-1')).toBe(5);
      expect(snapshotFiles(dir)).toEqual(before);
      await reader.close();
    });
  });

  it('refuses to cut a bad line followed by events, leaving the files as they were', async () => {
    const { dir, log: file } = await runOf(5);
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines[2] = '{"cursor":3,"ty';
    fs.writeFileSync(file, lines.join('\n'));
    const before = snapshotFiles(dir);
    const log = new AgentEventLog({ dir });
    await expect(log.append('run-1', { type: 'n' })).rejects.toBeInstanceOf(CorruptStoreError);
    const report = await log.verify('run-1');
    expect(report.corruption).toMatch(/byte \d+ should be event 3/);
    expect(report).toMatchObject({ ok: false, repaired: false, tornTailBytes: 0 });
    expect(snapshotFiles(dir)).toEqual(before);
    await log.close();
  });

  describe.each(indexDamage)('an index that is %s', (_what, damage, problem) => {
    it('is rebuilt when a writer opens the run', async () => {
      const { dir, idx } = await runOf(5);
      const sound = fs.readFileSync(idx);
      damage(idx);
      const { log, warnings } = reopen(dir);
      expect((await log.append('run-1', { type: 'n' })).cursor).toBe(6);
      expect(warnings.map((w) => w.code)).toContain('INDEX_REBUILT');
      // Rebuilt on open, before the append: the first five entries are as they were.
      expect(fs.readFileSync(idx).subarray(0, sound.length)).toEqual(sound);
      await log.close();
      expect(fs.statSync(idx).size).toBe(48);
      const checker = reopen(dir).log;
      expect((await checker.verify('run-1')).ok).toBe(true);
      await checker.close();
    });

    it('is reported by verify and rebuilt by verify with repair', async () => {
      const { dir, idx } = await runOf(5);
      const sound = fs.readFileSync(idx);
      damage(idx);
      const log = new AgentEventLog({ dir });
      const report = await log.verify('run-1');
      expect(report.ok).toBe(false);
      expect(report.indexProblems.join('; ')).toMatch(problem);
      expect(await log.verify('run-1', { repair: true })).toMatchObject({ repaired: true });
      expect(fs.readFileSync(idx)).toEqual(sound);
      await log.close();
    });

    it('does not stop readers from finding every event', async () => {
      const { dir, idx } = await runOf(5);
      damage(idx);
      const reader = new AgentEventLog({ dir });
      for (const after of [0, 1, 3, 4, 5]) {
        expect(cursors(await collect(reader.read('run-1', { after })))).toEqual(range(5 - after, after + 1));
      }
      expect(await reader.lastCursor('run-1')).toBe(5);
      await reader.close();
    });
  });

  it('rebuilds only the index tail after its last sound entry', async () => {
    const { dir, idx } = await runOf(50);
    const sound = fs.readFileSync(idx);
    fs.truncateSync(idx, 20 * 8);
    fs.appendFileSync(idx, Buffer.alloc(8 * 10, 0xff));
    const { log, warnings } = reopen(dir);
    await log.append('run-1', { type: 'n' });
    expect(warnings.find((w) => w.code === 'INDEX_REBUILT')?.message).toMatch(/from entry 20/);
    expect(fs.readFileSync(idx).subarray(0, sound.length)).toEqual(sound);
    await log.close();
  });

  describe('a line longer than this instance reads (16 MiB unless maxEventBytes is larger)', () => {
    const big = 'z'.repeat(17 * 2 ** 20);

    it('is refused with CorruptStoreError, never cut, when it is a complete event', async () => {
      const dir = tempDir();
      const large = new AgentEventLog({ dir, maxEventBytes: 32 * 2 ** 20 });
      await large.append('run-1', { type: 'n' });
      await large.append('run-1', { type: 'n', payload: big });
      await large.close();
      const before = fs.statSync(path.join(dir, 'run-1.ndjson')).size;
      const small = new AgentEventLog({ dir });
      await expect(collect(small.read('run-1'))).rejects.toBeInstanceOf(CorruptStoreError);
      await expect(small.append('run-1', { type: 'n' })).rejects.toBeInstanceOf(CorruptStoreError);
      expect((await small.verify('run-1', { repair: true })).corruption).toMatch(/larger maxEventBytes/);
      expect(fs.statSync(path.join(dir, 'run-1.ndjson')).size).toBe(before);
      const [, second] = await collect(new AgentEventLog({ dir, maxEventBytes: 32 * 2 ** 20 }).read('run-1'));
      expect(second?.payload).toBe(big);
    });

    it('is cut as a torn tail when no newline ends it', async () => {
      const { dir, log: file } = await runOf(2);
      fs.appendFileSync(file, `{"cursor":3,"type":"n","at":1,"payload":"${big}`);
      const log = new AgentEventLog({ dir });
      expect((await log.append('run-1', { type: 'n' })).cursor).toBe(3);
      expect((await log.verify('run-1')).ok).toBe(true);
      await log.close();
    });
  });
});
