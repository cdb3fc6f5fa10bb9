import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentEventLog, type AgentEventLogOptions } from '../../src/events/index.js';
import { tempDir } from '../helpers/tmp.js';
import { range } from './helpers.js';

type Options = Omit<AgentEventLogOptions, 'dir'>;

const backends: [string, (options?: Options) => AgentEventLog][] = [
  ['file', (options = {}) => new AgentEventLog({ dir: tempDir(), durability: 'flush', ...options })],
  ['memory', (options = {}) => AgentEventLog.inMemory(options)],
];

function runChild(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited with ${code}`))));
  });
}

describe('a follower whose consumer stalls', () => {
  it('holds a bounded number of live events: heap stays flat over 30,000 appends of 2 KB, and once resumed it gets every event once, in order', async () => {
    const fixture = path.join(import.meta.dirname, 'fixtures/stalled-follower.ts');
    const out = await runChild([fixture, tempDir(), '30000']);
    const { growthMb, received, inOrder } = JSON.parse(out) as { growthMb: number; received: number; inOrder: boolean };
    // Queuing every live event, as followers did, grows the heap by about 60 MB here.
    expect(growthMb).toBeLessThan(12);
    expect(received).toBe(30_001);
    expect(inOrder).toBe(true);
  }, 120_000);

  describe.each(backends)('(%s)', (_name, open) => {
    it('resumes from the log after dropping what it could not hold: every event exactly once, in order', async () => {
      const log = open();
      await log.append('run-1', { type: 'step', payload: 1 });
      const follower = log.follow('run-1')[Symbol.asyncIterator]();
      expect((await follower.next()).value?.cursor).toBe(1);
      // Far past the bound, in batches of every size (one event, a group commit of 3,000).
      for (let i = 2; i <= 2_000; i++) await log.append('run-1', { type: 'step', payload: i });
      await Promise.all(range(3_000, 2_001).map((i) => log.append('run-1', { type: 'step', payload: i })));
      await log.append('run-1', { type: 'end', payload: 5_001 });
      const payloads: unknown[] = [1];
      for (let result = await follower.next(); !result.done; result = await follower.next()) {
        payloads.push(result.value.payload);
      }
      expect(payloads).toEqual(range(5_001));
      await log.close();
    });

    it('keeps following live after catching up from the log', async () => {
      const log = open();
      await log.append('run-1', { type: 'step', payload: 1 });
      const follower = log.follow('run-1')[Symbol.asyncIterator]();
      await follower.next();
      await Promise.all(range(5_000, 2).map((i) => log.append('run-1', { type: 'step', payload: i })));
      for (let i = 2; i <= 5_000; i++) expect((await follower.next()).value?.cursor).toBe(i);
      const waiting = follower.next();
      await log.append('run-1', { type: 'step', payload: 5_001 });
      expect((await waiting).value?.cursor).toBe(5_001);
      await follower.return?.();
      await log.close();
    });
  });
});
