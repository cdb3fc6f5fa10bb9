// The progress bar needs a terminal, which a child process with pipes does not have: this test
// calls the tool in-process with an output that says stderr is a TTY.

import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run-cli.js';
import { AgentEventLog } from '../../src/events/index.js';
import { tempDir } from '../helpers/tmp.js';

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  return { stream, text: () => text };
}

async function rootWithLogs(count: number): Promise<string> {
  const root = tempDir();
  const events = new AgentEventLog({ dir: path.join(root, 'agent_events'), durability: 'flush' });
  for (let i = 0; i < count; i += 1) await events.append(`run-${i}`, { type: 'progress', payload: { i } });
  await events.close();
  return root;
}

async function verify(root: string, stderrIsTTY: boolean) {
  const stdout = capture();
  const stderr = capture();
  const code = await runCli(['verify', '--root', root], {
    stdout: stdout.stream,
    stderr: stderr.stream,
    stderrIsTTY,
    interrupt: new AbortController().signal,
  });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

describe('agent-stores verify on many files', () => {
  it('draws a progress bar on a terminal and lists only the summary for sound files', async () => {
    const { code, stdout, stderr } = await verify(await rootWithLogs(25), true);
    expect(code).toBe(0);
    expect(stderr).toContain('verifying [');
    expect(stderr).toContain('28/28');
    expect(stdout.trim()).toBe('verified 28 files: 28 ok, 0 repaired, 0 with problems');
  });

  it('draws no bar when stderr is not a terminal', async () => {
    const { stderr } = await verify(await rootWithLogs(25), false);
    expect(stderr).toBe('');
  });
});
