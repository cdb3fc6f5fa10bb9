import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentEventLog } from '../../src/events/index.js';

const run = promisify(execFile);
const CHILD = path.join(import.meta.dirname, 'fixtures', 'many-runs.ts');
// 10,000 new runs cost 10,000 directory fsyncs: minutes on a disk, seconds on a tmpfs the test
// mounts, which needs root (CI runs as root).
const isRoot = process.getuid?.() === 0 && process.platform === 'linux';
if (!isRoot) console.log('fd-limit.test.ts: skipped, it mounts a tmpfs (root on Linux) and sets ulimit -n 1024');

describe('AgentEventLog under a descriptor limit, on the ordinary disk', () => {
  it('600 live runs (more than 1,024 descriptors would hold, two per run) all take appends under ulimit -n 1024 and all read back', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-stores-fds-disk-'));
    try {
      const { stdout } = await run(
        'bash',
        ['-c', `ulimit -n 1024 && exec "${process.execPath}" --import tsx "${CHILD}" "${dir}" 600 3`],
        { maxBuffer: 1 << 20, timeout: 60_000 },
      ).catch((error: { stdout?: string; stderr?: string }) => ({ stdout: `${error.stdout}${error.stderr}` }));
      expect(stdout.trim()).toBe('ok 1800');
      // Read back by a fresh instance once the writer has closed: every run whole.
      const reader = new AgentEventLog({ dir });
      for (let runId = 0; runId < 600; runId++) {
        const read: number[] = [];
        for await (const event of reader.read(`run-${runId}`)) read.push(event.cursor);
        expect(read).toEqual([1, 2, 3]);
      }
      await reader.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});

describe.skipIf(!isRoot)('AgentEventLog under a descriptor limit', () => {
  let mount = '';

  beforeAll(() => {
    mount = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-stores-fds-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256m', 'tmpfs', mount]);
  });

  afterAll(() => {
    if (!mount) return;
    execFileSync('umount', [mount]);
    fs.rmdirSync(mount);
  });

  it('10,000 live runs appending in turn work under ulimit -n 1024 (handles capped and reopened, locks kept)', async () => {
    const { stdout } = await run(
      'bash',
      ['-c', `ulimit -n 1024 && exec "${process.execPath}" --import tsx "${CHILD}" "${mount}" 10000 2`],
      { maxBuffer: 1 << 20, timeout: 120_000 },
    ).catch((error: { stdout?: string; stderr?: string }) => ({ stdout: `${error.stdout}${error.stderr}` }));
    expect(stdout.trim()).toBe('ok 20000');
  }, 150_000);
});
