import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');

/**
 * In a fresh Node process: imports `module` (then runs `then`, an expression to await), and prints
 * whether any file of the pg package is among the modules Node loaded.
 */
async function loadsPg(module: string, then = 'undefined'): Promise<boolean> {
  const code = `
    import { createRequire } from 'node:module';
    const loaded = await import(${JSON.stringify(pathToFileURL(path.join(root, module)).href)});
    await (${then});
    const cache = Object.keys(createRequire(import.meta.url).cache);
    console.log(JSON.stringify(cache.some((file) => /[\\\\/]node_modules[\\\\/]pg[\\\\/]/.test(file))));
  `;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: root });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as boolean;
}

describe('the pg driver is loaded lazily', () => {
  it('is not loaded by importing agent-stores', async () => {
    expect(await loadsPg('src/index.ts')).toBe(false);
  });

  it('is loaded once the PostgreSQL code asks for it (so the check above can see it)', async () => {
    expect(await loadsPg('src/postgres/index.ts')).toBe(false);
    expect(await loadsPg('src/postgres/index.ts', 'loaded.loadPg()')).toBe(true);
  });
});
