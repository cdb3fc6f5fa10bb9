import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentEventLog, type EventLogIO } from '../../src/events/index.js';
import { SealedLogError, StoreIOError } from '../../src/storage/errors.js';
import { nodeEventLogIO } from '../../src/testing.js';
import { tempDir } from '../helpers/tmp.js';
import { collect, cursors, range, turn } from './helpers.js';

/** Which step to fail, consulted at the time of each call (so a test can switch faults on and off). */
interface FaultPlan {
  step?: 'write' | 'datasync' | undefined;
  /** Fail only files whose name ends with this. @defaultValue '.ndjson' */
  suffix?: string;
  /** Write half of the buffer before failing. */
  partial?: boolean;
  /** Fail the truncate that cuts a failed batch back, too. */
  truncate?: boolean;
}

/** The real file system, failing what `plan` says: the seam the log exposes for this. */
function faultyIO(plan: FaultPlan): EventLogIO {
  const fail = (code: string) => Object.assign(new Error(`injected ${code}`), { code });
  const applies = (file: string) => file.endsWith(plan.suffix ?? '.ndjson');
  return {
    ...nodeEventLogIO,
    open(file, mode) {
      const real = nodeEventLogIO.open(file, mode);
      if (real === undefined) return undefined;
      return {
        file,
        size: () => real.size(),
        read: (buffer, offset, length, position) => real.read(buffer, offset, length, position),
        write(buffer, offset, length, position) {
          if (plan.step === 'write' && applies(file)) {
            if (plan.partial) real.write(buffer, offset, Math.ceil(length / 2), position);
            throw fail('ENOSPC');
          }
          return real.write(buffer, offset, length, position);
        },
        datasync() {
          if (plan.step === 'datasync' && applies(file)) throw fail('EIO');
          real.datasync();
        },
        async datasyncAsync() {
          if (plan.step === 'datasync' && applies(file)) throw fail('EIO');
          await real.datasyncAsync!();
        },
        truncate(length) {
          if (plan.truncate && applies(file)) throw fail('EIO');
          real.truncate(length);
        },
        close: () => real.close(),
      };
    },
  };
}

async function setup(): Promise<{ dir: string; file: string; plan: FaultPlan; log: AgentEventLog }> {
  const dir = tempDir();
  const plan: FaultPlan = {};
  const log = new AgentEventLog({ dir, io: faultyIO(plan) });
  for (const i of range(3)) await log.append('run-1', { type: 'n', payload: i });
  await turn(); // their index entries are written when the event loop turns
  return { dir, file: path.join(dir, 'run-1.ndjson'), plan, log };
}

describe('AgentEventLog under disk faults', () => {
  it.each([
    ['ENOSPC on the write', { step: 'write' }],
    ['ENOSPC after half the batch was written', { step: 'write', partial: true }],
    ['EIO on fdatasync', { step: 'datasync' }],
  ] as [string, FaultPlan][])(
    'rejects the whole batch with StoreIOError on %s, leaves the log as it was, and continues gap-free',
    async (_what, fault) => {
      const { file, plan, log } = await setup();
      const before = fs.readFileSync(file);
      Object.assign(plan, fault);
      const results = await Promise.allSettled(range(4).map(() => log.append('run-1', { type: 'n' })));
      expect(results.every((result) => result.status === 'rejected')).toBe(true);
      expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(StoreIOError);
      expect((results[0] as PromiseRejectedResult).reason.message).toContain('run-1.ndjson');
      expect(fs.readFileSync(file)).toEqual(before);
      plan.step = undefined;
      expect((await log.append('run-1', { type: 'n' })).cursor).toBe(4);
      expect(cursors(await collect(log.read('run-1')))).toEqual(range(4));
      expect((await log.verify('run-1')).ok).toBe(true);
      await log.close();
    },
  );

  it('re-reads the run from disk when a failed batch could not be cut back, keeping cursors gap-free', async () => {
    const { dir, plan, log } = await setup();
    Object.assign(plan, { step: 'write', partial: true, truncate: true });
    await expect(log.append('run-1', { type: 'n' })).rejects.toBeInstanceOf(StoreIOError);
    Object.assign(plan, { step: undefined, partial: false, truncate: false });
    // The half-written line is a torn tail: recovery cuts it before the next append.
    expect((await log.append('run-1', { type: 'n' })).cursor).toBe(4);
    expect(cursors(await collect(log.read('run-1')))).toEqual(range(4));
    await log.close();
    expect((await new AgentEventLog({ dir }).verify('run-1')).ok).toBe(true);
  });

  it('acknowledges appends whose index write failed, and rebuilds the index on the next open', async () => {
    const { dir, plan, log } = await setup();
    Object.assign(plan, { step: 'write', suffix: '.idx' });
    const events = await Promise.all(range(3).map(() => log.append('run-1', { type: 'n' })));
    expect(cursors(events)).toEqual([4, 5, 6]);
    expect(cursors(await collect(log.read('run-1', { after: 4 })))).toEqual([5, 6]);
    await log.close();
    expect((await new AgentEventLog({ dir }).verify('run-1')).indexProblems).toEqual(['short by 3 entries']);
    const reopened = new AgentEventLog({ dir });
    expect((await reopened.append('run-1', { type: 'n' })).cursor).toBe(7);
    expect((await reopened.verify('run-1')).ok).toBe(true);
    await reopened.close();
  });

  it('fails the first append with StoreIOError when the directory cannot be created, and touches nothing', async () => {
    const dir = tempDir();
    const blocker = path.join(dir, 'file');
    fs.writeFileSync(blocker, '');
    const log = new AgentEventLog({ dir: path.join(blocker, 'events') });
    await expect(log.append('run-1', { type: 'n' })).rejects.toBeInstanceOf(StoreIOError);
    expect(fs.readdirSync(dir)).toEqual(['file']);
    await log.close();
  });

  it('fails only the run whose file failed when one batch appends to several runs', async () => {
    const dir = tempDir();
    const plan: FaultPlan = {};
    const log = new AgentEventLog({ dir, io: faultyIO(plan) });
    await log.append('a', { type: 'n' });
    await log.append('b', { type: 'n' });
    Object.assign(plan, { step: 'write', suffix: 'a.ndjson' });
    const [a, b] = await Promise.allSettled([log.append('a', { type: 'n' }), log.append('b', { type: 'n' })]);
    expect(a.status).toBe('rejected');
    expect(b).toMatchObject({ status: 'fulfilled', value: { runId: 'b', cursor: 2 } });
    plan.step = undefined;
    expect((await log.append('a', { type: 'n' })).cursor).toBe(2);
    await log.close();
  });

  it('fails only the run whose fsync failed when one batch makes several runs durable together', async () => {
    const dir = tempDir();
    const plan: FaultPlan = {};
    const log = new AgentEventLog({ dir, io: faultyIO(plan) });
    await log.append('a', { type: 'n' });
    await log.append('b', { type: 'n' });
    const before = fs.readFileSync(path.join(dir, 'a.ndjson'));
    Object.assign(plan, { step: 'datasync', suffix: 'a.ndjson' });
    const results = await Promise.allSettled([
      log.append('a', { type: 'n' }),
      log.append('b', { type: 'n' }),
      log.append('a', { type: 'n' }),
      log.append('b', { type: 'end' }),
    ]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(StoreIOError);
    expect(fs.readFileSync(path.join(dir, 'a.ndjson'))).toEqual(before);
    expect(cursors(await collect(log.read('b')))).toEqual([1, 2, 3]);
    plan.step = undefined;
    expect((await log.append('a', { type: 'n' })).cursor).toBe(2);
    await log.close();
  });

  it('queues appends to a run whose batch is still being made durable, and writes them after it', async () => {
    const dir = tempDir();
    const log = new AgentEventLog({ dir });
    const first = Promise.all([log.append('a', { type: 'n' }), log.append('b', { type: 'n' })]);
    await Promise.resolve(); // the batch above is now being fsynced off the event loop
    const second = Promise.all([log.append('a', { type: 'n' }), log.append('a', { type: 'end' })]);
    expect(cursors(await first)).toEqual([1, 1]);
    expect(cursors(await second)).toEqual([2, 3]);
    await expect(log.append('a', { type: 'n' })).rejects.toBeInstanceOf(SealedLogError);
    expect(cursors(await collect(log.read('a')))).toEqual([1, 2, 3]);
    await log.close();
  });

  it('starts a read at the event after the cursor when the index grows between its lookup and its size', async () => {
    const dir = tempDir();
    const writer = new AgentEventLog({ dir });
    for (const _ of range(10)) await writer.append('run-1', { type: 'n' });
    await writer.close();
    // The index entry of event 6 looks absent at first, as if another process had not written it
    // yet, while the index's size already shows all ten.
    let hidden = true;
    const racing: EventLogIO = {
      ...nodeEventLogIO,
      open(file, mode) {
        const real = nodeEventLogIO.open(file, mode);
        if (real === undefined || !file.endsWith('.idx')) return real;
        return {
          ...real,
          file,
          size: () => real.size(),
          read(buffer, offset, length, position) {
            // A read that reaches entry 6 (a seek's, or the page a reader keeps) ends just before it.
            if (hidden && position <= 5 * 8 && position + length > 5 * 8) {
              hidden = false;
              return real.read(buffer, offset, 5 * 8 - position, position);
            }
            return real.read(buffer, offset, length, position);
          },
          write: (buffer, offset, length, position) => real.write(buffer, offset, length, position),
          datasync: () => real.datasync(),
          truncate: (length) => real.truncate(length),
          close: () => real.close(),
        };
      },
    };
    const reader = new AgentEventLog({ dir, io: racing });
    expect(cursors(await collect(reader.read('run-1', { after: 5 })))).toEqual([6, 7, 8, 9, 10]);
    expect(hidden).toBe(false);
  });

  it('fsyncs with flush durability only the batches that hold a terminal event', async () => {
    const synced: string[] = [];
    const counting = countingIO(synced);
    const log = new AgentEventLog({ dir: tempDir(), durability: 'flush', io: counting });
    for (const _ of range(5)) await log.append('run-1', { type: 'n' });
    expect(synced).toEqual([]);
    await log.append('run-1', { type: 'analysis_completed' });
    expect(synced).toEqual(['run-1.ndjson']);
    await log.close();
  });

  it('makes 64 concurrent appends durable with one write and one fsync of the log', async () => {
    const synced: string[] = [];
    const log = new AgentEventLog({ dir: tempDir(), io: countingIO(synced) });
    await log.append('run-1', { type: 'n' });
    synced.length = 0;
    writes.length = 0;
    await Promise.all(range(64).map(() => log.append('run-1', { type: 'n' })));
    expect(synced).toEqual(['run-1.ndjson']);
    expect(writes.filter((file) => file === 'run-1.ndjson')).toHaveLength(1);
    await log.close();
  });
});

const writes: string[] = [];

/** The real file system, recording every fsync (and write) by file name. */
function countingIO(synced: string[]): EventLogIO {
  return {
    ...nodeEventLogIO,
    open(file, mode) {
      const real = nodeEventLogIO.open(file, mode);
      if (real === undefined) return undefined;
      return {
        file,
        size: () => real.size(),
        read: (buffer, offset, length, position) => real.read(buffer, offset, length, position),
        write(buffer, offset, length, position) {
          writes.push(path.basename(file));
          return real.write(buffer, offset, length, position);
        },
        datasync() {
          synced.push(path.basename(file));
          real.datasync();
        },
        truncate: (length) => real.truncate(length),
        close: () => real.close(),
      };
    },
  };
}
