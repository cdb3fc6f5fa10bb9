// The tool loads the stores (and with them zod and the lock library) only when a command uses
// them, so `--help` starts fast. These check that the help still says everything it said, and that
// a command still finds its stores when it needs them. The library itself loads better-sse (with
// node:http and node:http2) and proper-lockfile on first use too: a process that only reads its
// stores never pays for them.

import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
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

const repo = path.resolve(import.meta.dirname, '..', '..');

/** What a fresh Node process has loaded after importing `module` (then awaiting `then`, an expression). */
async function loadedBy(
  module: string,
  then = 'undefined',
): Promise<{ http: boolean; http2: boolean; lockfile: boolean }> {
  const code = `
    import { createRequire } from 'node:module';
    const loaded = await import(${JSON.stringify(pathToFileURL(path.join(repo, module)).href)});
    await (${then});
    const natives = new Set(process.moduleLoadList);
    const cache = Object.keys(createRequire(import.meta.url).cache);
    console.log(JSON.stringify({
      http: natives.has('NativeModule http'),
      http2: natives.has('NativeModule http2'),
      lockfile: cache.some((file) => /[\\\\/]node_modules[\\\\/]proper-lockfile[\\\\/]/.test(file)),
    }));
  `;
  const args = ['--import', 'tsx', '--input-type=module', '-e', code];
  const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: repo });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

// better-sse is seen by node:http2, which it loads and nothing else in the library uses.
describe('importing agent-stores loads none of the modules only a stream or a lock needs', () => {
  it('loads neither better-sse, node:http nor proper-lockfile', async () => {
    expect(await loadedBy('src/index.ts')).toEqual({ http: false, http2: false, lockfile: false });
  });

  it('loads better-sse (with node:http and node:http2) once a stream asks for it', async () => {
    const loaded = await loadedBy('src/sse/load-better-sse.ts', 'loaded.loadBetterSse()');
    expect(loaded).toMatchObject({ http: true, http2: true });
  });

  it('loads proper-lockfile once a store takes a lock', async () => {
    const root = tempDir();
    const stores = `loaded.createStores({ root: ${JSON.stringify(root)} })`;
    const create = `${stores}.runs.create({ sessionId: 's', question: 'q' })`;
    expect(await loadedBy('src/index.ts', create)).toMatchObject({ lockfile: true });
  });
});
