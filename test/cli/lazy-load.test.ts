// The tool loads the stores (and with them zod and the lock library) only when a command uses
// them, so `--help` starts fast. These check that the help still says everything it said, and that
// a command still finds its stores when it needs them.

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run-cli.js';
import { createStores } from '../../src/create-stores.js';
import { PipelineStageSchema } from '../../src/feedback/index.js';
import { tempDir } from '../helpers/tmp.js';

async function cli(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const out = new PassThrough().setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const err = new PassThrough().setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await runCli(args, {
    stdout: out,
    stderr: err,
    stderrIsTTY: false,
    interrupt: new AbortController().signal,
  });
  return { code, stdout, stderr };
}

describe('agent-stores loads the stores on first use', () => {
  it('prints the tool help with every command', async () => {
    const { code, stdout } = await cli('--help');
    expect(code).toBe(0);
    for (const name of ['runs list', 'runs show', 'events tail', 'pipeline list', 'verify', 'export']) {
      expect(stdout).toContain(name);
    }
  });

  it('names every pipeline stage in the order of PipelineStageSchema in pipeline list --help', async () => {
    const { code, stdout } = await cli('pipeline', 'list', '--help');
    expect(code).toBe(0);
    expect(stdout).toContain(`--stage ${PipelineStageSchema.options.join('|')}`);
    expect(stdout).toContain(PipelineStageSchema.options.join(', '));
  });

  it('lists the runs of a root once a command asks for its stores', async () => {
    const root = tempDir();
    const stores = createStores({ root });
    await stores.runs.create({ runId: 'run-1', sessionId: 's', question: 'Why?' });
    await stores.close();
    const { code, stdout, stderr } = await cli('runs', 'list', '--root', root);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('run-1');
  });
});
