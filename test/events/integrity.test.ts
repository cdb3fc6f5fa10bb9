import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentEventLog, type EventLogWarning } from '../../src/events/index.js';
import { CorruptStoreError } from '../../src/storage/errors.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';
import { collect, cursors, range } from './helpers.js';

/** A closed run of `count` events (the last one terminal when `sealed`) in a fresh directory. */
async function runOf(count: number, sealed = false): Promise<{ dir: string; log: string; idx: string }> {
  const dir = tempDir();
  const writer = new AgentEventLog({ dir, clock: () => 1_700_000_000_000 });
  for (const i of range(count)) {
    await writer.append('run-1', { type: sealed && i === count ? 'end' : 'n', payload: { i, text: 'abcdef' } });
  }
  await writer.close();
  return { dir, log: path.join(dir, 'run-1.ndjson'), idx: path.join(dir, 'run-1.idx') };
}

/** Byte offset of the start of line `n` (1-based) of a file. */
function lineStart(file: string, n: number): number {
  const bytes = fs.readFileSync(file);
  let at = 0;
  for (let line = 1; line < n; line++) at = bytes.indexOf(0x0a, at) + 1;
  return at;
}

/** Replaces the first occurrence of `from` inside line `n` with `to` (same length), in place. */
function changeInLine(file: string, n: number, from: string, to: string): number {
  expect(to.length).toBe(from.length);
  const bytes = fs.readFileSync(file);
  const start = lineStart(file, n);
  const at = bytes.indexOf(from, start);
  expect(at).toBeGreaterThanOrEqual(start);
  expect(at).toBeLessThan(bytes.indexOf(0x0a, start));
  bytes.write(to, at, 'latin1');
  fs.writeFileSync(file, bytes);
  return start;
}

describe('a complete line that is damaged is corruption, never a torn tail', () => {
  it('an append after a changed byte in the last complete line fails with CorruptStoreError naming the file and offset, cutting nothing', async () => {
    const { dir, log: file } = await runOf(3);
    const start = changeInLine(file, 3, '"i":3', '"i"?3');
    const before = snapshotFiles(dir);
    const log = new AgentEventLog({ dir });
    const failure = await log.append('run-1', { type: 'n' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CorruptStoreError);
    expect((failure as Error).message).toContain(file);
    expect((failure as Error).message).toContain(`byte ${start}`);
    expect(snapshotFiles(dir)).toEqual(before);
    await log.close();
  });

  it('a complete last line with the wrong cursor is not cut and its cursor is not given to a new event', async () => {
    const { dir, log: file } = await runOf(3);
    fs.appendFileSync(file, '{"cursor":9,"type":"n","at":1,"payload":null}\n');
    const before = snapshotFiles(dir);
    const log = new AgentEventLog({ dir });
    await expect(log.append('run-1', { type: 'n' })).rejects.toBeInstanceOf(CorruptStoreError);
    expect(snapshotFiles(dir)).toEqual(before);
    await log.close();
  });

  it('a log whose only line is not an event is refused, not truncated to 0 bytes', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'run-1.ndjson');
    fs.writeFileSync(file, 'not an event at all\n');
    const log = new AgentEventLog({ dir });
    await expect(log.append('run-1', { type: 'n' })).rejects.toBeInstanceOf(CorruptStoreError);
    expect(fs.readFileSync(file, 'utf8')).toBe('not an event at all\n');
    await log.close();
  });

  it('a flipped digit inside a payload that still parses is caught on read and on recovery', async () => {
    const { dir, log: file } = await runOf(4);
    changeInLine(file, 2, '"i":2', '"i":3');
    const log = new AgentEventLog({ dir });
    await expect(collect(log.read('run-1'))).rejects.toBeInstanceOf(CorruptStoreError);
    await expect(collect(log.read('run-1', { after: 1 }))).rejects.toBeInstanceOf(CorruptStoreError);
    expect(cursors(await collect(log.read('run-1', { after: 2 })))).toEqual([3, 4]);
    await expect(log.append('run-1', { type: 'n' })).rejects.toBeInstanceOf(CorruptStoreError);
    expect((await log.verify('run-1')).corruption).toMatch(/byte \d+/);
    await log.close();
  });

  it('zeros a crash left in place of the start of the last line are a torn tail, cut on open', async () => {
    const { dir, log: file } = await runOf(3);
    const start = lineStart(file, 3);
    const bytes = fs.readFileSync(file);
    bytes.fill(0, start, start + 20);
    fs.writeFileSync(file, bytes);
    const warnings: EventLogWarning[] = [];
    const log = new AgentEventLog({ dir, onWarning: (w) => warnings.push(w) });
    expect((await log.append('run-1', { type: 'n' })).cursor).toBe(3);
    expect(warnings.map((w) => w.code)).toContain('TORN_TAIL_CUT');
    expect(cursors(await collect(log.read('run-1')))).toEqual([1, 2, 3]);
    await log.close();
  });

  it('zeros in place of whole lines, running straight into an intact event, are corruption, not a torn tail', async () => {
    const { dir, log: file } = await runOf(4);
    const bytes = fs.readFileSync(file);
    const fourth = lineStart(file, 4);
    bytes.fill(0, lineStart(file, 2), fourth);
    fs.writeFileSync(file, bytes);
    const log = new AgentEventLog({ dir });
    const failure = await collect(log.read('run-1')).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CorruptStoreError);
    expect((failure as Error).message).toContain(`event 4 follows at byte ${fourth}`);
    await expect(log.append('run-1', { type: 'n' })).rejects.toBeInstanceOf(CorruptStoreError);
    expect(fs.readFileSync(file)).toEqual(bytes);
    await log.close();
  });

  it('verify with repair moves a damaged last line aside intact before cutting it, and reports the move', async () => {
    const { dir, log: file } = await runOf(3);
    changeInLine(file, 3, '"i":3', '"i"?3');
    const damaged = fs.readFileSync(file);
    const start = lineStart(file, 3);
    const log = new AgentEventLog({ dir });
    const report = await log.verify('run-1', { repair: true });
    expect(report.repaired).toBe(true);
    expect(report.movedAside).toMatchObject({ fromByte: start, bytes: damaged.length - start });
    const moved = report.movedAside!.file;
    expect(path.dirname(moved)).toBe(dir);
    expect(path.basename(moved)).toMatch(/^run-1\.ndjson\.corrupt-/);
    expect(fs.readFileSync(moved)).toEqual(damaged.subarray(start));
    expect(fs.readFileSync(file)).toEqual(damaged.subarray(0, start));
    expect(await log.verify('run-1')).toMatchObject({ ok: true, lastCursor: 2 });
    expect(await log.runIds()).toEqual(['run-1']);
    await log.close();
  });

  it('verify without repair changes nothing on a damaged log', async () => {
    const { dir, log: file } = await runOf(3);
    changeInLine(file, 2, '"i":2', '"i"?2');
    const before = snapshotFiles(dir);
    const log = new AgentEventLog({ dir });
    const report = await log.verify('run-1');
    expect(report.ok).toBe(false);
    expect(report.corruption).toContain(`byte ${lineStart(file, 2)}`);
    expect(snapshotFiles(dir)).toEqual(before);
    await log.close();
  });
});

describe('the line format', () => {
  it('each line is one JSON object per event, readable with tail -f, carrying a crc32 of the line before it', async () => {
    const { log: file } = await runOf(2);
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    for (const [i, line] of lines.entries()) {
      const value = JSON.parse(line);
      expect(value).toMatchObject({ cursor: i + 1, type: 'n', payload: { i: i + 1 } });
      expect(line).toMatch(/,"crc":"[0-9a-f]{8}"\}$/);
    }
  });

  it('logs written before the checksum still read and take appends', async () => {
    const dir = tempDir();
    fs.copyFileSync(path.join(__dirname, 'fixtures', 'legacy-run.ndjson'), path.join(dir, 'run-1.ndjson'));
    const log = new AgentEventLog({ dir });
    expect(cursors(await collect(log.read('run-1')))).toEqual([1, 2, 3]);
    expect((await log.append('run-1', { type: 'n' })).cursor).toBe(4);
    expect(cursors(await collect(log.read('run-1', { after: 2 })))).toEqual([3, 4]);
    expect((await log.verify('run-1')).ok).toBe(true);
    await log.close();
  });
});

describe('a read yields exactly the events after its cursor, or fails', () => {
  it('an index entry zeroed by a crash (not fsynced) does not hide events from read or follow', async () => {
    const { dir, idx } = await runOf(6, true);
    const entries = fs.readFileSync(idx);
    entries.fill(0, 2 * 8, 3 * 8); // entry of cursor 3
    fs.writeFileSync(idx, entries);
    const log = new AgentEventLog({ dir });
    expect(cursors(await collect(log.read('run-1', { after: 2 })))).toEqual([3, 4, 5, 6]);
    expect(cursors(await collect(log.follow('run-1', { after: 2 })))).toEqual([3, 4, 5, 6]);
    await log.close();
  });

  it('an index entry pointing at another event is not trusted', async () => {
    const { dir, idx, log: file } = await runOf(6, true);
    const entries = fs.readFileSync(idx);
    entries.writeUInt32LE(lineStart(file, 5), 2 * 8);
    fs.writeFileSync(idx, entries);
    const log = new AgentEventLog({ dir });
    expect(cursors(await collect(log.read('run-1', { after: 2 })))).toEqual([3, 4, 5, 6]);
    await log.close();
  });

  it('a damaged line in the middle fails read and follow with CorruptStoreError naming the offset, and appends too', async () => {
    const { dir, log: file } = await runOf(6, true);
    const start = changeInLine(file, 3, '"i":3', '"i"?3');
    const log = new AgentEventLog({ dir });
    const failure = await collect(log.read('run-1')).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CorruptStoreError);
    expect((failure as Error).message).toContain(`byte ${start}`);
    await expect(collect(log.follow('run-1'))).rejects.toBeInstanceOf(CorruptStoreError);
    expect(cursors(await collect(log.read('run-1', { after: 3 })))).toEqual([4, 5, 6]);
    await log.close();

    const { dir: open, log: openFile } = await runOf(6);
    changeInLine(openFile, 3, '"i":3', '"i"?3');
    const writer = new AgentEventLog({ dir: open });
    await expect(writer.append('run-1', { type: 'n' })).rejects.toBeInstanceOf(CorruptStoreError);
    await writer.close();
  });
});
