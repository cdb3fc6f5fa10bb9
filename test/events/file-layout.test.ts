import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentEventLog } from '../../src/events/index.js';
import {
  InvalidIdError,
  LockError,
  PayloadTooLargeError,
  SealedLogError,
  ValidationError,
} from '../../src/storage/errors.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';
import { collect, cursors, range, turn } from './helpers.js';

/** The byte offsets stored in an index file. */
function indexEntries(file: string): number[] {
  const bytes = fs.readFileSync(file);
  const out: number[] = [];
  for (let at = 0; at + 8 <= bytes.length; at += 8) out.push(Number(bytes.readBigUInt64LE(at)));
  return out;
}

describe('AgentEventLog files', () => {
  it('writes one human-readable JSON line per event, cursor first, the CRC-32 of the rest of the line last', async () => {
    const dir = tempDir();
    const log = new AgentEventLog({ dir, clock: () => 5 });
    await log.append('run-1', { type: 'progress', payload: { step: 'é' } });
    await log.append('run-1', { type: 'end' });
    await log.close();
    expect(fs.readFileSync(path.join(dir, 'run-1.ndjson'), 'utf8')).toBe(
      '{"cursor":1,"type":"progress","at":5,"payload":{"step":"é"},"crc":"6e49b185"}\n' +
        '{"cursor":2,"type":"end","at":5,"payload":null,"crc":"2ee48bc3"}\n',
    );
  });

  it('keeps an index of 8 bytes per event holding the byte offset of its line', async () => {
    const dir = tempDir();
    const log = new AgentEventLog({ dir });
    await Promise.all(range(3).map((i) => log.append('run-1', { type: 'n', payload: 'x'.repeat(i) })));
    await log.append('run-1', { type: 'n' });
    await log.close();
    const text = fs.readFileSync(path.join(dir, 'run-1.ndjson'));
    const starts = [0];
    for (let i = text.indexOf(10); i !== -1 && i < text.length - 1; i = text.indexOf(10, i + 1)) starts.push(i + 1);
    expect(indexEntries(path.join(dir, 'run-1.idx'))).toEqual(starts);
  });

  it('continues a run’s cursors in a new instance', async () => {
    const dir = tempDir();
    const first = new AgentEventLog({ dir });
    for (const _ of range(3)) await first.append('run-1', { type: 'n' });
    await first.close();
    const second = new AgentEventLog({ dir });
    expect((await second.append('run-1', { type: 'n' })).cursor).toBe(4);
    expect(cursors(await collect(second.read('run-1')))).toEqual(range(4));
    await second.close();
  });

  it('keeps a run sealed in a new instance, derived from its last line', async () => {
    const dir = tempDir();
    const first = new AgentEventLog({ dir });
    await first.append('run-1', { type: 'analysis_completed' });
    await first.close();
    const second = new AgentEventLog({ dir });
    expect(await second.isSealed('run-1')).toBe(true);
    await expect(second.append('run-1', { type: 'n' })).rejects.toBeInstanceOf(SealedLogError);
    await second.close();
  });

  it('lets another instance read and follow a run while the writer holds it open', async () => {
    const dir = tempDir();
    const writer = new AgentEventLog({ dir, durability: 'flush' });
    const reader = new AgentEventLog({ dir, pollMs: 20 });
    for (const _ of range(5)) await writer.append('run-1', { type: 'n' });
    expect(cursors(await collect(reader.read('run-1', { after: 2 })))).toEqual([3, 4, 5]);
    expect(await reader.lastCursor('run-1')).toBe(5);
    const followed = collect(reader.follow('run-1', { after: 4 }));
    await writer.append('run-1', { type: 'n' });
    await writer.append('run-1', { type: 'end' });
    expect(cursors(await followed)).toEqual([5, 6, 7]);
    await writer.close();
    await reader.close();
  });

  it('refuses a second writer instance with LockError until the first closes', async () => {
    const dir = tempDir();
    const first = new AgentEventLog({ dir });
    const second = new AgentEventLog({ dir, lock: { waitMs: 0 } });
    await first.append('run-1', { type: 'n' });
    await expect(second.append('run-1', { type: 'n' })).rejects.toBeInstanceOf(LockError);
    await first.close();
    expect((await second.append('run-1', { type: 'n' })).cursor).toBe(2);
    await second.close();
  });

  it('releases a run’s lock once a terminal event sealed it', async () => {
    const dir = tempDir();
    const first = new AgentEventLog({ dir });
    await first.append('run-1', { type: 'end' });
    await first.append('run-2', { type: 'n' });
    // Released in the background: the terminal append does not wait for it.
    await expect.poll(() => fs.existsSync(path.join(dir, 'run-1.ndjson.lock'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'run-2.ndjson.lock'))).toBe(true);
    await first.close();
    expect(fs.readdirSync(dir).sort()).toEqual(['run-1.idx', 'run-1.ndjson', 'run-2.idx', 'run-2.ndjson']);
  });

  it('deletes a run’s log, index and lock', async () => {
    const dir = tempDir();
    const log = new AgentEventLog({ dir });
    await log.append('run-1', { type: 'n' });
    await log.delete('run-1');
    expect(fs.readdirSync(dir)).toEqual([]);
    await log.close();
  });

  it('touches no file when refusing bad input', async () => {
    const dir = tempDir();
    const log = new AgentEventLog({ dir: path.join(dir, 'events'), maxEventBytes: 100 });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const runId of ['../x', 'a/b', '', '.x', 'a\0b', 'x'.repeat(129)]) {
      await expect(log.append(runId, { type: 'n' })).rejects.toBeInstanceOf(InvalidIdError);
    }
    for (const payload of [cyclic, { n: 1n }, () => 1]) {
      await expect(log.append('run-1', { type: 'n', payload })).rejects.toBeInstanceOf(ValidationError);
    }
    await expect(log.append('run-1', { type: 'n', payload: 'x'.repeat(200) })).rejects.toBeInstanceOf(
      PayloadTooLargeError,
    );
    expect(snapshotFiles(dir)).toEqual({});
    expect(fs.readdirSync(dir)).toEqual([]);
    await log.close();
  });

  it('refuses invalid options with ValidationError', () => {
    expect(() => new AgentEventLog({ dir: '' })).toThrow(ValidationError);
    expect(() => new AgentEventLog({ dir: 'x', durability: 'sometimes' as never })).toThrow(ValidationError);
    expect(() => new AgentEventLog({ dir: 'x', maxEventBytes: 0 })).toThrow(ValidationError);
  });

  it('makes appends with flush durability readable by another instance', async () => {
    const dir = tempDir();
    const writer = new AgentEventLog({ dir, durability: 'flush' });
    await Promise.all(range(100).map((i) => writer.append('run-1', { type: 'n', payload: i })));
    const reader = new AgentEventLog({ dir });
    const events = await collect(reader.read('run-1', { after: 90 }));
    expect(events.map((event) => event.payload)).toEqual(range(10, 91));
    await writer.close();
  });

  it('serves reads from its cache of recent events and the disk alike, also when appends overtake the cache mid-read', async () => {
    const dir = tempDir();
    const log = new AgentEventLog({ dir, recentEvents: 4 });
    for (const i of range(10)) await log.append('run-1', { type: 'n', payload: { i } });
    expect(cursors(await collect(log.read('run-1', { after: 2 })))).toEqual(range(8, 3));
    const iterator = log.read('run-1', { after: 7 })[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.cursor).toBe(8);
    for (const i of range(10, 11)) await log.append('run-1', { type: 'n', payload: { i } });
    const rest: number[] = [];
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) rest.push(next.value.cursor);
    expect(rest).toEqual(range(12, 9));
    const fromDisk = await collect(new AgentEventLog({ dir }).read('run-1'));
    expect(await collect(log.read('run-1'))).toEqual(fromDisk);
    await log.close();
  });

  it('returns fresh payload objects from the cache, never the caller’s', async () => {
    const log = new AgentEventLog({ dir: tempDir() });
    const payload = { list: [1] };
    await log.append('run-1', { type: 'n', payload });
    payload.list.push(2);
    const [event] = await collect(log.read('run-1'));
    expect(event?.payload).toEqual({ list: [1] });
    await log.close();
  });

  it('ends a follower in another instance when the run is deleted there', async () => {
    const dir = tempDir();
    const writer = new AgentEventLog({ dir });
    const reader = new AgentEventLog({ dir, pollMs: 20 });
    await writer.append('run-1', { type: 'n' });
    const followed = collect(reader.follow('run-1'));
    await writer.append('run-1', { type: 'n' });
    await expect.poll(() => reader.lastCursor('run-1')).toBe(2);
    await writer.delete('run-1');
    expect(cursors(await followed)).toEqual([1, 2]);
    await writer.close();
    await reader.close();
  });

  it('deletes a run whose appends were issued in the same tick, after they settle', async () => {
    const dir = tempDir();
    const log = new AgentEventLog({ dir });
    const appended = log.append('run-1', { type: 'n' });
    const deleted = log.delete('run-1');
    expect((await appended).cursor).toBe(1);
    expect(await deleted).toBe(true);
    expect(fs.readdirSync(dir)).toEqual([]);
    await log.close();
  });

  it('refuses an append with LockError once its lock was taken away, then takes the lock again', async () => {
    const dir = tempDir();
    const log = new AgentEventLog({ dir, lock: { staleMs: 2_000 } });
    await log.append('run-1', { type: 'n' });
    fs.rmSync(path.join(dir, 'run-1.ndjson.lock'), { recursive: true });
    // The lock's refresh notices within half the stale time; until then appends still succeed.
    await expect
      .poll(
        () =>
          log.append('run-1', { type: 'n' }).then(
            () => 'ok',
            (error: Error) => error.name,
          ),
        {
          timeout: 10_000,
          interval: 100,
        },
      )
      .toBe('LockError');
    const next = await log.append('run-1', { type: 'n' });
    expect(cursors(await collect(log.read('run-1')))).toEqual(range(next.cursor));
    expect(fs.existsSync(path.join(dir, 'run-1.ndjson.lock'))).toBe(true);
    await log.close();
  });

  it('finds every cursor through index entries not yet written to the index file', async () => {
    const dir = tempDir();
    const writer = new AgentEventLog({ dir, recentEvents: 0 });
    await writer.append('run-1', { type: 'n' });
    await turn();
    // Sequential awaited appends within one turn: their index entries are still in memory.
    for (const i of range(20)) await writer.append('run-1', { type: 'n', payload: i });
    const other = new AgentEventLog({ dir });
    for (const after of range(22, 0)) {
      const expected = range(21 - after, after + 1);
      expect(cursors(await collect(writer.read('run-1', { after })))).toEqual(expected);
      expect(cursors(await collect(other.read('run-1', { after })))).toEqual(expected);
    }
    await writer.close();
  });
});
