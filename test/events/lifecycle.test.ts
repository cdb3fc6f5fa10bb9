import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { AgentEventLog, type AgentEventLogOptions } from '../../src/events/index.js';
import { StoreClosedError } from '../../src/storage/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { collect, cursors, range, turn } from './helpers.js';

type Options = Omit<AgentEventLogOptions, 'dir'>;

const backends: [string, (options?: Options & { dir?: string }) => AgentEventLog][] = [
  ['file', (options = {}) => new AgentEventLog({ dir: tempDir(), ...options })],
  ['memory', (options = {}) => AgentEventLog.inMemory(options)],
];

describe.each(backends)('AgentEventLog lifecycle (%s)', (_name, open) => {
  const closedCalls: [string, (log: AgentEventLog) => Promise<unknown>][] = [
    ['append', (log) => log.append('run-1', { type: 'step' })],
    ['read', (log) => collect(log.read('run-1'))],
    ['follow', (log) => collect(log.follow('run-1'))],
    ['lastCursor', (log) => log.lastCursor('run-1')],
    ['isSealed', (log) => log.isSealed('run-1')],
    ['exists', (log) => log.exists('run-1')],
    ['runIds', (log) => log.runIds()],
    ['delete', (log) => log.delete('run-1')],
    ['verify', (log) => log.verify('run-1')],
  ];

  it.each(closedCalls)('rejects %s after close() with StoreClosedError (code CLOSED)', async (_method, call) => {
    const log = open();
    await log.append('run-1', { type: 'step' });
    await log.close();
    const error = await call(log).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StoreClosedError);
    expect((error as StoreClosedError).code).toBe('CLOSED');
  });

  it('resolves a second close(), and a follow started after the first one ends', async () => {
    const log = open();
    await log.append('run-1', { type: 'step' });
    await log.close();
    const followed = collect(log.follow('run-1')).catch((error: unknown) => error);
    await expect(log.close()).resolves.toBeUndefined();
    expect(await followed).toBeInstanceOf(StoreClosedError);
  });

  it('refuses a follow started while close() is still running, and both close() calls resolve', async () => {
    const log = open();
    await log.append('run-1', { type: 'step' });
    const first = log.close();
    const followed = collect(log.follow('run-1')).catch((error: unknown) => error);
    await expect(log.close()).resolves.toBeUndefined();
    await expect(first).resolves.toBeUndefined();
    expect(await followed).toBeInstanceOf(StoreClosedError);
  });

  it('ends a follow waiting for live events: its loop finishes with what it had', async () => {
    const log = open();
    await log.append('run-1', { type: 'step' });
    const followed = collect(log.follow('run-1'));
    await turn();
    await log.close();
    expect(cursors(await followed)).toEqual([1]);
  });

  it('ends a follow whose consumer stopped pulling, without waiting for that consumer', async () => {
    const log = open();
    await Promise.all(range(3_000).map((i) => log.append('run-1', { type: 'step', payload: i })));
    const follower = log.follow('run-1')[Symbol.asyncIterator]();
    expect((await follower.next()).value?.cursor).toBe(1); // stalled in the middle of the replay
    await log.close();
    expect(await follower.next()).toEqual({ done: true, value: undefined });
  });

  it('lets appends issued before close() settle: each resolves, and close() resolves after them', async () => {
    const log = open();
    const appends = range(50).map((i) => log.append('run-1', { type: 'step', payload: i }));
    await log.close();
    const settled = await Promise.allSettled(appends);
    expect(settled.map((result) => (result.status === 'fulfilled' ? result.value.cursor : 'rejected'))).toEqual(
      range(50),
    );
  });

  it('makes a read in progress reject with StoreClosedError rather than end as if the run were shorter', async () => {
    const log = open();
    await Promise.all(range(3_000).map((i) => log.append('run-1', { type: 'step', payload: i })));
    const reader = log.read('run-1')[Symbol.asyncIterator]();
    expect((await reader.next()).value?.cursor).toBe(1);
    await log.close();
    await expect(reader.next()).rejects.toBeInstanceOf(StoreClosedError);
  });
});

describe('AgentEventLog close() in a process', () => {
  it('lets a process with live follows and appends in flight exit by itself once closed', async () => {
    const fixture = path.join(import.meta.dirname, 'fixtures/close-exits.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, tempDir()], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // A child that never exits (what this test catches) must not outlive the test.
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(out).toContain('acknowledged 200\n');
    expect(out).toContain('closed\n');
  }, 30_000);
});
