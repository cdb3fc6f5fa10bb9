import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentEventLog } from '../../src/events/index.js';
import { LockError } from '../../src/storage/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { collect, cursors, range } from './helpers.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** Starts the writer fixture; `lines` receives its stdout line by line. */
function writer(args: string[], lines: (line: string) => void = () => {}): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures/writer.ts'), ...args],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.push(child);
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const parts = pending.split('\n');
    pending = parts.pop()!;
    for (const line of parts) lines(line);
  });
  return child;
}

/** Resolves with the first stdout line that starts with `prefix`. */
function waitFor(child: ChildProcess, prefix: string, lines: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const found = lines.find((line) => line.startsWith(prefix));
      if (found !== undefined) resolve(found);
    };
    child.stdout!.on('data', () => setImmediate(check));
    child.on('exit', (code) => {
      check();
      reject(new Error(`writer exited (${code}) before printing '${prefix}'`));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.on('exit', () => resolve()),
  );
}

describe('AgentEventLog across processes', () => {
  it('follows a run that another process creates, appends to and seals, without gaps or duplicates', async () => {
    const dir = tempDir();
    const reader = new AgentEventLog({ dir, pollMs: 50 });
    const followed = collect(reader.follow('run-x'));
    const child = writer([dir, 'run-x', 'script', '40']);
    const events = await followed;
    expect(cursors(events)).toEqual(range(41));
    expect(events.slice(0, 40).map((event) => event.payload)).toEqual(range(40, 0));
    expect(events.at(-1)).toMatchObject({ type: 'analysis_completed', payload: { report: '/reports/run-x' } });
    await exited(child);
    await reader.close();
  });

  it('refuses a second writer process with LockError, and takes over at once from a killed one', async () => {
    const dir = tempDir();
    const lines: string[] = [];
    const child = writer([dir, 'run-1', 'hold'], (line) => lines.push(line));
    await waitFor(child, 'ready', lines);
    const log = new AgentEventLog({ dir, lock: { waitMs: 200, staleMs: 60_000 } });
    await expect(log.append('run-1', { type: 'step' })).rejects.toBeInstanceOf(LockError);
    child.kill('SIGKILL');
    await exited(child);
    // No waiting for the stale timeout: the owner's pid is gone from this host.
    const taker = new AgentEventLog({ dir, lock: { waitMs: 0, staleMs: 60_000 } });
    expect((await taker.append('run-1', { type: 'step' })).cursor).toBe(2);
    await taker.close();
    await log.close();
  });

  it('loses no acknowledged event when the writer is killed with SIGKILL at random moments', async () => {
    const dir = tempDir();
    const acknowledged = new Set<number>();
    let expectedStart = 0;
    for (let round = 0; round < 15; round++) {
      const lines: string[] = [];
      const child = writer([dir, 'run-c', 'append', String(1 + (round % 8))], (line) => {
        lines.push(line);
        if (line.startsWith('ack ')) acknowledged.add(Number(line.slice(4)));
      });
      const ready = await waitFor(child, 'ready', lines);
      // Appending continues right after the last event the previous writer left.
      expect(Number(ready.slice(6))).toBe(expectedStart);
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 150));
      child.kill('SIGKILL');
      await exited(child);
      const reader = new AgentEventLog({ dir });
      const found = cursors(await collect(reader.read('run-c')));
      expect(found).toEqual(range(found.length));
      for (const cursor of acknowledged) expect(cursor).toBeLessThanOrEqual(found.length);
      expectedStart = found.length;
    }
    expect(acknowledged.size).toBeGreaterThan(0);
    // staleMs as in the fixture: the last child may have died while taking the lock.
    const log = new AgentEventLog({ dir, lock: { waitMs: 5_000, staleMs: 2_000 } });
    expect((await log.append('run-c', { type: 'end' })).cursor).toBe(expectedStart + 1);
    const report = await log.verify('run-c');
    expect(report).toMatchObject({ ok: true, events: expectedStart + 1, sealed: true });
    const events = await collect(log.read('run-c'));
    expect(events.slice(0, -1).every((event) => (event.payload as { pid: number }).pid > 0)).toBe(true);
    await log.close();
  });

  it('recovers a writer killed between appending an event and indexing it', async () => {
    const dir = tempDir();
    const lines: string[] = [];
    const child = writer([dir, 'run-i', 'crash-before-index', '5'], (line) => lines.push(line));
    await exited(child);
    expect(lines).toEqual(['ack 1', 'ack 2', 'ack 3', 'ack 4']);
    const log = new AgentEventLog({ dir });
    // Event 5 reached the log (fsynced) but not the index; it was never acknowledged, yet it is complete.
    expect((await log.verify('run-i')).indexProblems).toEqual(['short by 1 entry']);
    expect((await log.append('run-i', { type: 'step' })).cursor).toBe(6);
    expect(cursors(await collect(log.read('run-i', { after: 4 })))).toEqual([5, 6]);
    expect((await log.verify('run-i')).ok).toBe(true);
    await log.close();
  });
});
