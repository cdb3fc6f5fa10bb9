import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentEventLog, type EventLogIO } from '../../src/events/index.js';
import { nodeEventLogIO } from '../../src/testing.js';
import { tempDir } from '../helpers/tmp.js';
import { collect, cursors, range } from './helpers.js';

describe('AgentEventLog kept file handles', () => {
  it('a reader that keeps a run’s files open never serves the old events of a run deleted and created again', async () => {
    const dir = tempDir();
    const writer = new AgentEventLog({ dir, durability: 'flush' });
    const reader = new AgentEventLog({ dir });
    for (const step of range(3)) await writer.append('run-1', { type: 'old', payload: { step } });
    // Read twice: the second read is served by the handles the first one kept.
    expect(cursors(await collect(reader.read('run-1', { after: 1 })))).toEqual([2, 3]);
    expect(cursors(await collect(reader.read('run-1')))).toEqual([1, 2, 3]);
    // Deleted and created again between two reads: the path now names another file.
    await writer.delete('run-1');
    await writer.append('run-1', { type: 'new', payload: { again: true } });
    const events = await collect(reader.read('run-1'));
    expect(events.map((event) => [event.cursor, event.type])).toEqual([[1, 'new']]);
    expect(await reader.lastCursor('run-1')).toBe(1);
    await writer.close();
    await reader.close();
  });

  it('a reader’s kept handles follow a run replaced by another file under the same name (renamed over it)', async () => {
    const dir = tempDir();
    const first = new AgentEventLog({ dir: path.join(dir, 'a'), durability: 'flush' });
    const second = new AgentEventLog({ dir: path.join(dir, 'b'), durability: 'flush' });
    for (const step of range(3)) await first.append('run-1', { type: 'first', payload: { step } });
    await second.append('run-1', { type: 'second' });
    await first.close();
    await second.close();
    const reader = new AgentEventLog({ dir: path.join(dir, 'a') });
    expect(cursors(await collect(reader.read('run-1')))).toEqual([1, 2, 3]);
    for (const ext of ['ndjson', 'idx']) {
      fs.renameSync(path.join(dir, 'b', `run-1.${ext}`), path.join(dir, 'a', `run-1.${ext}`));
    }
    const events = await collect(reader.read('run-1'));
    expect(events.map((event) => [event.cursor, event.type])).toEqual([[1, 'second']]);
    await reader.close();
  });

  it('a reader’s seeks into two runs of the same shape, interleaved, each return that run’s events, also those appended since its last seek', async () => {
    const dir = tempDir();
    const writer = new AgentEventLog({ dir, durability: 'flush' });
    const reader = new AgentEventLog({ dir });
    const append = (runId: string, step: number) => writer.append(runId, { type: 'n', payload: { run: runId, step } });
    for (const step of range(600)) for (const runId of ['run-a', 'run-b']) await append(runId, step);
    const seek = async (runId: string, after: number) =>
      (await collect(reader.read(runId, { after, limit: 2 }))).map((event) => [event.cursor, event.payload]);
    for (const after of [1, 300, 511, 512, 598]) {
      for (const runId of ['run-a', 'run-b']) {
        expect(await seek(runId, after)).toEqual([1, 2].map((i) => [after + i, { run: runId, step: after + i }]));
      }
    }
    for (const step of range(3, 601)) for (const runId of ['run-a', 'run-b']) await append(runId, step);
    for (const runId of ['run-a', 'run-b']) {
      expect(await seek(runId, 600)).toEqual([1, 2].map((i) => [600 + i, { run: runId, step: 600 + i }]));
    }
    await writer.close();
    await reader.close();
  });

  it('a reader seeking again near its last seek takes the index entry from the page it read then, not from the file', async () => {
    const dir = tempDir();
    const writer = new AgentEventLog({ dir, durability: 'flush' });
    for (const step of range(1200)) await writer.append('run-1', { type: 'n', payload: { step } });
    await writer.close();
    let indexReads = 0;
    const io: EventLogIO = {
      ...nodeEventLogIO,
      open(file, mode) {
        const handle = nodeEventLogIO.open(file, mode);
        if (handle === undefined || !file.endsWith('.idx')) return handle;
        return new Proxy(handle, {
          get(target, key) {
            const value = Reflect.get(target, key);
            if (key === 'read') indexReads++;
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
      },
    };
    const reader = new AgentEventLog({ dir, io });
    const seek = async (after: number) => cursors(await collect(reader.read('run-1', { after, limit: 1 })));
    expect(await seek(600)).toEqual([601]);
    const once = indexReads;
    // Entries 512 to 1023 are one page.
    for (const after of [601, 700, 540, 1000]) expect(await seek(after)).toEqual([after + 1]);
    expect(indexReads).toBe(once);
    expect(await seek(1100)).toEqual([1101]);
    expect(indexReads).toBe(once + 1);
    await reader.close();
  });

  it('runs whose files the cap closed and reopened keep gapless cursors, read back whole, with an exact index', async () => {
    const dir = tempDir();
    const log = new AgentEventLog({ dir, durability: 'flush' });
    // 300 runs against a cap of 256: every run's files are closed and reopened in every round.
    for (const round of range(3)) {
      for (const run of range(300)) {
        expect((await log.append(`run-${run}`, { type: 'n', payload: { round } })).cursor).toBe(round);
      }
      // Read while live: index entries of closed runs not yet written must still be found.
      expect(cursors(await collect(log.read('run-1', { after: round - 1 })))).toEqual([round]);
    }
    await log.close();
    const reader = new AgentEventLog({ dir });
    for (const run of range(300)) {
      expect(cursors(await collect(reader.read(`run-${run}`)))).toEqual([1, 2, 3]);
      expect(cursors(await collect(reader.read(`run-${run}`, { after: 2 })))).toEqual([3]);
    }
    for (const run of [1, 150, 300]) expect((await reader.verify(`run-${run}`)).ok).toBe(true);
    await reader.close();
  });

  it('a writer whose run’s log was replaced behind its lock while its files were closed re-reads it instead of trusting its tail', async () => {
    const dir = tempDir();
    const log = new AgentEventLog({ dir, durability: 'flush' });
    for (const step of range(3)) await log.append('run-0', { type: 'n', payload: { step } });
    // Push run-0's files out of the cap (256 runs).
    for (const run of range(256)) await log.append(`run-${run}`, { type: 'n' });
    // Another file of the same size (a copy) renamed over the log: same bytes, another inode.
    const file = path.join(dir, 'run-0.ndjson');
    fs.copyFileSync(file, `${file}.copy`);
    fs.renameSync(`${file}.copy`, file);
    await expect(log.append('run-0', { type: 'n' })).rejects.toThrow(/changed while this process held its writer lock/);
    expect((await log.append('run-0', { type: 'n' })).cursor).toBe(4);
    await log.close();
    const reader = new AgentEventLog({ dir });
    expect(cursors(await collect(reader.read('run-0')))).toEqual(range(4));
    await reader.close();
  });
});
