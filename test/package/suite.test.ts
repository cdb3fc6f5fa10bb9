// `npm test` is the fast suite and `npm run test:slow` the long runs (vitest.config.ts). Nothing
// is dropped by the split: every test file runs in one of them, the model tests in both.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

const ROOT = path.join(import.meta.dirname, '../..');

interface Listed {
  file: string;
  projectName: string;
}

function listed(): Listed[] {
  const vitest = path.join(ROOT, 'node_modules/vitest/vitest.mjs');
  const out = execFileSync(process.execPath, [vitest, 'list', '--filesOnly', '--json'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return (JSON.parse(out) as Listed[]).map(({ file, projectName }) => ({
    file: path.relative(ROOT, file).split(path.sep).join('/'),
    projectName,
  }));
}

function testFiles(dir: string): string[] {
  return fs
    .readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.test.ts'))
    .map((file) => `${dir}/${file.split(path.sep).join('/')}`);
}

interface Project {
  test: { name: string; env: Record<string, string> };
}

/** The `env` vitest.config.ts gives a project, as the current environment makes it. */
async function projectEnv(name: string): Promise<Record<string, string>> {
  vi.resetModules();
  const { default: config } = await import('../../vitest.config.js');
  const projects = config.test?.projects as Project[];
  return projects.find((p) => p.test.name === name)!.test.env;
}

const LONG =
  /multiprocess\/|soak\/|\/processes\.test\.ts$|postgres\/[\w-]+-processes\.test\.ts$|cross-process-read\.test\.ts$|cli\/cli\.test\.ts$|readme-snippets\.test\.ts$/;
const MODEL = /reliability\/[\w-]+-model\.test\.ts$/;

describe('the two test runs', () => {
  const files = listed();
  const inProject = (name: string) => files.filter((f) => f.projectName === name).map((f) => f.file);

  it('runs every test file in npm test or npm run test:slow', () => {
    const runs = new Set(files.map((f) => f.file));
    expect([...testFiles('test'), ...testFiles('src')].filter((file) => !runs.has(file))).toEqual([]);
  });

  it('leaves the multi-process and soak runs to test:slow', () => {
    expect(inProject('fast').filter((file) => LONG.test(file))).toEqual([]);
    const slow = inProject('slow');
    expect(slow.filter((file) => LONG.test(file)).length).toBeGreaterThanOrEqual(5);
    expect(slow.filter((file) => !LONG.test(file) && !MODEL.test(file))).toEqual([]);
  });

  it('runs the model tests in both, with fewer sequences in npm test', () => {
    const models = files.filter((f) => MODEL.test(f.file));
    expect(models.filter((f) => f.projectName === 'fast').map((f) => f.file)).toEqual(
      models.filter((f) => f.projectName === 'slow').map((f) => f.file),
    );
    expect(models.length).toBeGreaterThanOrEqual(10);
  });
});

describe('sequence counts', () => {
  const saved = { FC_RUNS: process.env.FC_RUNS, FC_FILE_RUNS: process.env.FC_FILE_RUNS };
  afterEach(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('gives test:slow the full 1,000 sequences and npm test a tenth or less, unless FC_RUNS says otherwise', async () => {
    delete process.env.FC_RUNS;
    delete process.env.FC_FILE_RUNS;
    expect(await projectEnv('slow')).toEqual({ FC_RUNS: '1000', FC_FILE_RUNS: '1000' });
    const fast = await projectEnv('fast');
    expect(Number(fast.FC_RUNS)).toBeLessThanOrEqual(100);
    expect(Number(fast.FC_FILE_RUNS)).toBeLessThanOrEqual(100);

    process.env.FC_RUNS = '7';
    expect((await projectEnv('fast')).FC_RUNS).toBe('7');
  });
});
