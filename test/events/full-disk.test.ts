import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentEvent, AgentEventLog } from '../../src/events/index.js';
import { StoreIOError } from '../../src/storage/errors.js';
import { collect, cursors } from './helpers.js';

// A real full disk: a 1 MiB tmpfs, mounted by the test. Mounting needs root (CI runs as root).
const isRoot = process.getuid?.() === 0 && process.platform === 'linux';
if (!isRoot) console.log('full-disk.test.ts: skipped, mounting a size-limited tmpfs needs root on Linux');

describe.skipIf(!isRoot)('AgentEventLog on a real disk that fills (1 MiB tmpfs)', () => {
  let mount = '';

  beforeAll(() => {
    mount = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-stores-tmpfs-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mount]);
  });

  afterAll(() => {
    if (!mount) return;
    execFileSync('umount', [mount]);
    fs.rmdirSync(mount);
  });

  it('an append that does not fit fails with StoreIOError (ENOSPC), the log keeps only whole acknowledged events, and goes on once there is room', async () => {
    const dir = path.join(mount, 'agent_events');
    const filler = path.join(mount, 'filler');
    fs.writeFileSync(filler, Buffer.alloc(200_000, 1));
    const log = new AgentEventLog({ dir });
    const acknowledged: AgentEvent[] = [];
    let failure: unknown;
    // 60 KiB events of odd sizes, so that the one that does not fit is written in part first.
    for (let i = 1; i < 100 && failure === undefined; i++) {
      try {
        acknowledged.push(await log.append('run-1', { type: 'n', payload: 'x'.repeat(60_000 + i * 97) }));
      } catch (error) {
        failure = error;
      }
    }
    expect(failure).toBeInstanceOf(StoreIOError);
    expect((failure as StoreIOError).code).toBe('IO');
    expect(((failure as StoreIOError).cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect(acknowledged.length).toBeGreaterThan(3);
    // On disk: exactly the acknowledged events, each whole, and nothing after them.
    const file = path.join(dir, 'run-1.ndjson');
    const text = fs.readFileSync(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(
      text
        .split('\n')
        .slice(0, -1)
        .map((line) => JSON.parse(line).cursor),
    ).toEqual(cursors(acknowledged));

    const reader = new AgentEventLog({ dir });
    expect(await collect(reader.read('run-1'))).toEqual(acknowledged);
    expect(cursors(await collect(reader.read('run-1', { after: 2 })))).toEqual(cursors(acknowledged).slice(2));
    await reader.close();

    // Room again: the same instance goes on at the next cursor.
    fs.rmSync(filler);
    const next = await log.append('run-1', { type: 'n', payload: 'small' });
    expect(next.cursor).toBe(acknowledged.length + 1);
    expect(cursors(await collect(log.read('run-1')))).toEqual([...cursors(acknowledged), next.cursor]);
    expect((await log.verify('run-1')).ok).toBe(true);
    await log.close();
  });
});
