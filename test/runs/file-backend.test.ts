// The file layout of AnalysisRunStore and what it promises beyond the conformance suite:
// heartbeats touch one small file, finished runs are never read to list live ones, and every
// interrupted status change reads consistently and is tidied by cleanup.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import {
  AnalysisRunStore,
  CorruptStoreError,
  IllegalTransitionError,
  NotFoundError,
  type RunFilesIO,
  StoreIOError,
} from '../../src/index.js';
import { encodeRunFile } from '../../src/runs/file-run-backend.js';
import type { StorageIO } from '../../src/storage/io.js';
import { acquireLock } from '../../src/storage/lock.js';
import { nodeIO, nodeRunFilesIO } from '../../src/testing.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';
import { FakeEventLog } from './fake-event-log.js';
import { captureWarnings, ManualClock } from './run-store.conformance.js';

const DAY = 86_400_000;

/** What a status change does first: flags the beat file fenced (byte 0 = 'F'). */
function fence(beatFile: string): void {
  const fd = fs.openSync(beatFile, 'r+');
  fs.writeSync(fd, 'F', 0);
  fs.closeSync(fd);
}

function open(options: { io?: StorageIO; staleAfterMs?: number; events?: FakeEventLog } = {}) {
  const dir = path.join(tempDir(), 'analysis_runs');
  const clock = new ManualClock();
  const store = new AnalysisRunStore({ dir, clock: clock.read, ...options });
  return { dir, clock, store };
}

describe('AnalysisRunStore files', () => {
  it('keeps a live run in active/ and moves it to done/ when it finishes', async () => {
    const { dir, store } = open();
    await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
    expect(fs.readdirSync(path.join(dir, 'active')).sort()).toEqual(['r1.beat', 'r1.json']);
    await store.complete('r1', 1);
    expect(fs.readdirSync(path.join(dir, 'active'))).toEqual([]);
    expect(fs.readdirSync(path.join(dir, 'done'))).toEqual(['r1.json']);
    const onDisk = JSON.parse(fs.readFileSync(path.join(dir, 'done', 'r1.json'), 'utf8'));
    expect(onDisk).toEqual({ schemaVersion: 1, run: await store.get('r1') });
  });

  it('writes a heartbeat into the run’s beat file only: state file and finished runs unchanged', async () => {
    const { dir, store } = open();
    await store.create({ runId: 'old', sessionId: 's', question: 'q' });
    await store.complete('old');
    await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
    const before = snapshotFiles(dir);
    await store.heartbeat('r1', { step: 3 });
    const after = snapshotFiles(dir);
    const changed = Object.keys(after).filter((file) => after[file] !== before[file]);
    expect(changed).toEqual([path.join('active', 'r1.beat')]);
  });

  it('sees another instance’s heartbeats, as another process would', async () => {
    const { dir, clock, store } = open();
    await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
    const other = new AnalysisRunStore({ dir, clock: clock.read });
    clock.advance(1_000);
    const beat = await other.heartbeat('r1', { from: 'other' });
    expect(await store.get('r1')).toEqual(beat);
    clock.advance(1_000);
    const started = await store.start('r1');
    expect(started.heartbeatDetails).toEqual({ from: 'other' });
    expect(started.updatedAt).toBeGreaterThan(beat.updatedAt);
    await other.close();
  });

  it('reads a torn beat as a lost beat: the record falls back to its state file', async () => {
    const { dir, clock, store } = open();
    await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
    const started = await store.start('r1');
    clock.advance(1_000);
    const beat = await store.heartbeat('r1');
    const file = path.join(dir, 'active', 'r1.beat');
    const bytes = fs.readFileSync(file);
    bytes[5] = bytes[5] === 0x31 ? 0x32 : 0x31; // one digit changed: the CRC no longer matches
    fs.writeFileSync(file, bytes);
    const run = await new AnalysisRunStore({ dir, clock: clock.read }).get('r1');
    expect(run?.heartbeatAt).toBe(started.heartbeatAt);
    expect(run?.updatedAt).toBe(started.updatedAt);
    expect(beat.heartbeatAt).toBe(clock.now);
  });

  it('accepts a heartbeat after a torn one and overwrites it whole', async () => {
    const { dir, clock, store } = open();
    await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
    await store.heartbeat('r1', { long: 'x'.repeat(500) });
    fs.writeFileSync(path.join(dir, 'active', 'r1.beat'), `{"heartbeatAt":12${' '.repeat(600)}`);
    clock.advance(10);
    const beat = await store.heartbeat('r1', { short: 1 });
    expect(await new AnalysisRunStore({ dir, clock: clock.read }).get('r1')).toEqual(beat);
  });

  it('lists live runs without reading finished ones', async () => {
    const { dir, store } = open();
    await store.create({ runId: 'live', sessionId: 's', question: 'q' });
    await store.start('live');
    await store.create({ runId: 'finished', sessionId: 's', question: 'q' });
    await store.complete('finished');
    fs.writeFileSync(path.join(dir, 'done', 'finished.json'), 'not json');
    const warned: string[] = [];
    const fresh = new AnalysisRunStore({ dir, onWarning: (warning) => warned.push(warning.runId) });
    expect((await fresh.list({ status: 'running' })).map((run) => run.runId)).toEqual(['live']);
    expect(warned).toEqual([]);
    await fresh.list();
    expect(warned).toEqual(['finished']);
  });

  describe('an unreadable run file', () => {
    async function damaged() {
      const { dir, clock, store } = open({ staleAfterMs: 1_000 });
      for (const runId of ['bad-live', 'stale', 'bad-done', 'expired', 'fresh']) {
        await store.create({ runId, sessionId: 's', question: 'q' });
      }
      await store.complete('bad-done');
      await store.complete('expired');
      clock.advance(DAY);
      await store.heartbeat('fresh');
      const badLive = path.join(dir, 'active', 'bad-live.json');
      const badDone = path.join(dir, 'done', 'bad-done.json');
      fs.writeFileSync(badLive, '{"schemaVersion":1,"run":{"runId":"bad-live"');
      fs.writeFileSync(badDone, Buffer.alloc(64)); // a block of zeros, as after a power loss
      const warnings: { code: string; runId: string; file: string }[] = [];
      const fresh = new AnalysisRunStore({
        dir,
        clock: clock.read,
        staleAfterMs: 1_000,
        onWarning: ({ code, runId, file }) => warnings.push({ code, runId, file }),
      });
      return { dir, fresh, warnings, badLive, badDone };
    }

    it('is skipped by list(), reported to onWarning, and every other run is listed', async () => {
      const { dir, fresh, warnings, badLive, badDone } = await damaged();
      const before = snapshotFiles(dir);
      expect((await fresh.list()).map((run) => run.runId).sort()).toEqual(['expired', 'fresh', 'stale']);
      expect(warnings).toEqual([
        { code: 'UNREADABLE_RUN', runId: 'bad-live', file: badLive },
        { code: 'UNREADABLE_RUN', runId: 'bad-done', file: badDone },
      ]);
      expect(snapshotFiles(dir)).toEqual(before);
    });

    it('does not stop cleanup(): the others are abandoned or deleted, the bad files reported and left as they are', async () => {
      const { fresh, warnings, badLive, badDone } = await damaged();
      const badBytes = [fs.readFileSync(badLive), fs.readFileSync(badDone)];
      const report = await fresh.cleanup({ retentionMs: 1_000 });
      expect(report.abandoned).toEqual(['stale']);
      expect(report.deleted).toEqual(['expired']);
      expect(report.kept).toEqual(['fresh']);
      expect(report.unreadable.map(({ runId, file }) => ({ runId, file }))).toEqual([
        { runId: 'bad-live', file: badLive },
        { runId: 'bad-done', file: badDone },
      ]);
      expect(report.unreadable[0]?.reason).toMatch(/not valid JSON/);
      expect(warnings.map((w) => w.runId)).toEqual(['bad-live', 'bad-done']);
      expect([fs.readFileSync(badLive), fs.readFileSync(badDone)]).toEqual(badBytes);
      await expect(fresh.get('bad-live')).rejects.toBeInstanceOf(CorruptStoreError);
      await expect(fresh.get('bad-done')).rejects.toBeInstanceOf(CorruptStoreError);
    });

    it('is a process warning when no onWarning was given', async () => {
      const { dir, badLive } = await damaged();
      const warnings = captureWarnings();
      try {
        await new AnalysisRunStore({ dir }).list({ status: 'pending' });
      } finally {
        vi.restoreAllMocks();
      }
      expect(warnings()).toHaveLength(1);
      expect(warnings()[0]).toContain(`AgentStoresWarning: run 'bad-live' was skipped: ${badLive} cannot be read`);
    });

    it('is reported by a dry run too', async () => {
      const { fresh } = await damaged();
      const report = await fresh.cleanup({ retentionMs: 1_000, dryRun: true });
      expect(report.unreadable.map((entry) => entry.runId)).toEqual(['bad-live', 'bad-done']);
      expect(report.abandoned).toEqual(['stale']);
    });
  });

  it('refuses to read a corrupt run file and leaves it as it is', async () => {
    const { dir, store } = open();
    await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
    const file = path.join(dir, 'active', 'r1.json');
    fs.writeFileSync(file, '{"schemaVersion":1,"run":{"runId":"r1"}}');
    const before = snapshotFiles(dir);
    const fresh = new AnalysisRunStore({ dir });
    await expect(fresh.get('r1')).rejects.toThrow(CorruptStoreError);
    await expect(fresh.heartbeat('r1')).rejects.toThrow(file);
    await expect(fresh.complete('r1')).rejects.toBeInstanceOf(CorruptStoreError);
    expect(snapshotFiles(dir)).toEqual(before);
  });

  it('refuses a run file written by a newer version', async () => {
    const { dir, store } = open();
    const run = await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
    fs.writeFileSync(path.join(dir, 'active', 'r1.json'), JSON.stringify({ schemaVersion: 2, run }));
    await expect(new AnalysisRunStore({ dir }).get('r1')).rejects.toThrow(/newer agent-stores/);
  });

  describe('a completion and a heartbeat at once', () => {
    it('holds a heartbeat while another process finishes the run, then refuses it', async () => {
      const { dir, store } = open();
      const run = await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
      await store.heartbeat('r1');
      // Another process is finishing the run: it holds the lock and has fenced the beat file.
      const held = await acquireLock(path.join(dir, 'locks', 'r1'));
      fence(path.join(dir, 'active', 'r1.beat'));
      const cachedHandle = store.heartbeat('r1');
      const freshStore = new AnalysisRunStore({ dir }).heartbeat('r1');
      const finished = {
        ...run,
        status: 'completed' as const,
        completedAt: run.createdAt,
        updatedAt: run.updatedAt + 5,
      };
      fs.mkdirSync(path.join(dir, 'done'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'done', 'r1.json'), encodeRunFile(finished));
      fs.unlinkSync(path.join(dir, 'active', 'r1.json'));
      fs.unlinkSync(path.join(dir, 'active', 'r1.beat'));
      await held.release();
      await expect(cachedHandle).rejects.toBeInstanceOf(IllegalTransitionError);
      await expect(freshStore).rejects.toBeInstanceOf(IllegalTransitionError);
      expect(fs.readdirSync(path.join(dir, 'active'))).toEqual([]);
      expect(await store.get('r1')).toEqual(finished);
    });

    it.each([
      ['fenced', (file: string) => fence(file)],
      ['missing', (file: string) => fs.unlinkSync(file)],
    ])('takes a heartbeat after a status change crashed and left the beat file %s', async (_how, crash) => {
      const { clock, dir, store } = open();
      await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
      await store.heartbeat('r1');
      crash(path.join(dir, 'active', 'r1.beat'));
      clock.advance(1_000);
      const beater = new AnalysisRunStore({ dir, clock: clock.read });
      expect((await beater.heartbeat('r1', { after: 'crash' })).heartbeatAt).toBe(clock.now);
      expect((await new AnalysisRunStore({ dir }).get('r1'))?.heartbeatDetails).toEqual({ after: 'crash' });
    });

    it('puts every acknowledged beat into the finished record, beneath its updatedAt', async () => {
      const { clock, dir, store } = open();
      await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
      const beater = new AnalysisRunStore({ dir, clock: clock.read });
      clock.advance(100);
      const beat = await beater.heartbeat('r1', { last: true });
      const done = await store.complete('r1');
      expect(done.heartbeatAt).toBe(beat.heartbeatAt);
      expect(done.heartbeatDetails).toEqual({ last: true });
      expect(done.updatedAt).toBeGreaterThan(beat.updatedAt);
      await expect(beater.heartbeat('r1')).rejects.toBeInstanceOf(IllegalTransitionError);
      await beater.close();
    });
  });

  describe('interrupted status changes', () => {
    it('lets done/ win when a crash left the run in active/ too, and cleanup removes the leftover', async () => {
      const { clock, dir, store } = open();
      await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
      const live = fs.readFileSync(path.join(dir, 'active', 'r1.json'));
      const done = await store.complete('r1', 'answer');
      // The crash: done/ written, active/ not yet removed.
      fs.writeFileSync(path.join(dir, 'active', 'r1.json'), live);
      const fresh = new AnalysisRunStore({ dir, clock: clock.read });
      expect(await fresh.get('r1')).toEqual(done);
      expect(await fresh.list({ status: 'pending' })).toEqual([]);
      await expect(fresh.heartbeat('r1')).rejects.toBeInstanceOf(IllegalTransitionError);
      expect((await fresh.cleanup({ retentionMs: DAY })).kept).toEqual(['r1']);
      expect(fs.readdirSync(path.join(dir, 'active'))).toEqual([]);
    });

    it('removes the temp file of a new beat file whose process died before renaming it', async () => {
      const { dir, store } = open();
      await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
      const stray = path.join(dir, 'active', 'r1.beat.0123456789abcdef.tmp');
      const older = path.join(dir, 'active', 'r1.beat.4242-7.tmp');
      fs.writeFileSync(stray, ' ');
      fs.writeFileSync(older, ' ');
      expect((await store.cleanup({ retentionMs: DAY })).kept).toEqual(['r1']);
      expect(fs.readdirSync(path.join(dir, 'active')).sort()).toEqual(['r1.beat', 'r1.json']);
    });

    it('refuses the heartbeats of a process still beating a run deleted with force', async () => {
      const { dir, clock, store } = open();
      await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
      const agent = new AnalysisRunStore({ dir, clock: clock.read });
      await agent.heartbeat('r1'); // the agent now holds the beat file open
      expect(await store.delete('r1', { force: true })).toBe(true);
      await expect(agent.heartbeat('r1')).rejects.toBeInstanceOf(NotFoundError);
      expect(fs.readdirSync(path.join(dir, 'active'))).toEqual([]);
      await agent.close();
    });

    it('removes a beat file left without its run', async () => {
      const { dir, store } = open();
      fs.mkdirSync(path.join(dir, 'active'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'active', 'ghost.beat'), '');
      expect(await store.cleanup({ retentionMs: DAY })).toEqual({
        kept: [],
        abandoned: [],
        deleted: [],
        unreadable: [],
      });
      expect(fs.readdirSync(path.join(dir, 'active'))).toEqual([]);
    });

    it('abandons a run whose completion crashed after fencing, once stale', async () => {
      const { clock, dir, store } = open({ staleAfterMs: 1_000 });
      await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
      fence(path.join(dir, 'active', 'r1.beat'));
      clock.advance(5_000);
      expect((await store.cleanup({ retentionMs: DAY })).abandoned).toEqual(['r1']);
      expect(fs.readdirSync(path.join(dir, 'active'))).toEqual([]);
    });

    it('leaves every file as it was when writing the finished record fails, and still takes heartbeats', async () => {
      const failing: StorageIO = {
        ...nodeIO,
        async writeAtomic(file, data, options) {
          if (file.includes(`${path.sep}done${path.sep}`))
            throw Object.assign(new Error('no space'), { code: 'ENOSPC' });
          return nodeIO.writeAtomic(file, data, options);
        },
      };
      const { dir, store } = open({ io: failing });
      await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
      const run = await store.heartbeat('r1');
      const before = snapshotFiles(dir);
      await expect(store.complete('r1', 1)).rejects.toBeInstanceOf(StoreIOError);
      expect(snapshotFiles(dir)).toEqual(before);
      expect(await store.get('r1')).toEqual(run);
      expect((await store.heartbeat('r1')).status).toBe('pending');
    });

    it('leaves every file as it was when syncing the finished record fails', async () => {
      const failing: StorageIO = {
        ...nodeIO,
        async fsyncDir(dir) {
          if (dir.endsWith(`${path.sep}done`)) throw Object.assign(new Error('io'), { code: 'EIO' });
          return nodeIO.fsyncDir(dir);
        },
      };
      const { dir, store } = open({ io: failing });
      await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
      const before = snapshotFiles(dir);
      await expect(store.fail('r1', 'x')).rejects.toBeInstanceOf(StoreIOError);
      expect(snapshotFiles(dir)).toEqual(before);
    });

    it('leaves no run behind when creating one fails', async () => {
      const failing: StorageIO = {
        ...nodeIO,
        async writeAtomic() {
          throw Object.assign(new Error('no space'), { code: 'ENOSPC' });
        },
      };
      const { dir, store } = open({ io: failing });
      await expect(store.create({ runId: 'r1', sessionId: 's', question: 'q' })).rejects.toBeInstanceOf(StoreIOError);
      expect(fs.readdirSync(path.join(dir, 'active'))).toEqual([]);
      expect(await store.get('r1')).toBeUndefined();
    });
  });

  it('rejects a heartbeat the disk refuses with StoreIOError and keeps the last beat readable', async () => {
    let failWrites = false;
    const files: RunFilesIO = {
      ...nodeRunFilesIO,
      write(fd, data, offset, length, position) {
        if (failWrites) throw Object.assign(new Error('i/o error'), { code: 'EIO' });
        return nodeRunFilesIO.write(fd, data, offset, length, position);
      },
    };
    const dir = path.join(tempDir(), 'analysis_runs');
    const store = new AnalysisRunStore({ dir, files });
    await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
    const last = await store.heartbeat('r1', { step: 1 });
    failWrites = true;
    await expect(store.heartbeat('r1', { step: 2 })).rejects.toBeInstanceOf(StoreIOError);
    expect(await new AnalysisRunStore({ dir }).get('r1')).toEqual(last);
    failWrites = false;
    expect((await store.heartbeat('r1', { step: 3 })).heartbeatDetails).toEqual({ step: 3 });
  });

  it('deletes an expired run’s event log before its record', async () => {
    const events = new FakeEventLog();
    const { clock, dir, store } = open({ events });
    await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
    await store.complete('r1');
    const order: string[] = [];
    const deleteLog = events.delete.bind(events);
    events.delete = async (runId) => {
      order.push(
        fs.existsSync(path.join(dir, 'done', `${runId}.json`)) ? 'log, record still there' : 'log, record gone',
      );
      return deleteLog(runId);
    };
    clock.advance(2 * DAY);
    expect((await store.cleanup({ retentionMs: DAY })).deleted).toEqual(['r1']);
    expect(order).toEqual(['log, record still there']);
    expect(fs.readdirSync(path.join(dir, 'done'))).toEqual([]);
  });

  it('reads run files written by hand in the documented format', async () => {
    const { dir } = open();
    fs.mkdirSync(path.join(dir, 'done'), { recursive: true });
    const run = {
      runId: 'hand',
      sessionId: 's',
      question: 'q',
      status: 'completed' as const,
      createdAt: 1,
      completedAt: 2,
      updatedAt: 2,
    };
    fs.writeFileSync(path.join(dir, 'done', 'hand.json'), encodeRunFile(run));
    expect(await new AnalysisRunStore({ dir }).get('hand')).toEqual(run);
  });
});
