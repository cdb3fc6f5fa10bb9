// The README's quick-start snippets are programs a new user will paste and run: each one marked
// `<!-- snippet: name -->` is run here, against this repository's source, in a fresh directory.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';

const README = path.join(import.meta.dirname, '../../README.md');
const ENTRY = pathToFileURL(path.join(import.meta.dirname, '../../src/index.ts')).href;

function snippets(): [string, string][] {
  const text = fs.readFileSync(README, 'utf8');
  return [...text.matchAll(/<!-- snippet: ([\w-]+) -->\n```ts\n([\s\S]*?)```/g)].map((m) => [m[1]!, m[2]!]);
}

function run(code: string, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // .mts: the snippets use top-level await, which needs an ES module.
  const file = path.join(cwd, 'snippet.mts');
  fs.writeFileSync(file, code.replaceAll("from 'agent-stores'", `from '${ENTRY}'`));
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), file], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exit) => resolve({ code: exit, stdout, stderr }));
  });
}

describe('the README quick start', () => {
  it('has a runnable snippet for every store', () => {
    expect(snippets().map(([name]) => name)).toEqual([
      'create-stores',
      'event-log',
      'runs',
      'memory',
      'pipeline',
      'in-memory',
    ]);
  });

  it.each(snippets())('snippet %s runs and exits 0', async (_name, code) => {
    const result = await run(code, tempDir());
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).not.toBe('');
  });
});
