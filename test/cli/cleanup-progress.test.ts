// The progress bar needs a terminal, which a child process with pipes does not have: this test
// calls the tool in-process with an output that says stderr is a TTY.
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run-cli.js';
import { AnalysisRunStore } from '../../src/runs/index.js';
import { tempDir } from '../helpers/tmp.js';

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  return { stream, text: () => text };
}

async function rootWithRuns(count: number): Promise<string> {
  const root = tempDir();
  const runs = new AnalysisRunStore({ dir: path.join(root, 'analysis_runs') });
  for (let i = 0; i < count; i += 1) {
    await runs.create({ runId: `run-${i}`, sessionId: 's', question: 'q' });
    if (i % 2 === 0) await runs.complete(`run-${i}`);
  }
  await runs.close();
  return root;
}

async function cleanup(root: string, stderrIsTTY: boolean) {
  const stdout = capture();
  const stderr = capture();
  const code = await runCli(['cleanup', '--dry-run', '--root', root], {
    stdout: stdout.stream,
    stderr: stderr.stream,
    stderrIsTTY,
    interrupt: new AbortController().signal,
  });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

describe('agent-stores cleanup on many runs', () => {
  it('draws a progress bar on a terminal, up to every run judged', async () => {
    const { code, stdout, stderr } = await cleanup(await rootWithRuns(25), true);
    expect(code).toBe(0);
    expect(stderr).toContain('cleaning up [');
    expect(stderr).toContain('25/25');
    expect(stdout.trim()).toBe('dry run, nothing changed: 0 abandoned, 0 deleted, 25 kept');
  });

  it('draws no bar when stderr is not a terminal', async () => {
    const { stderr } = await cleanup(await rootWithRuns(25), false);
    expect(stderr).toBe('');
  });
});
