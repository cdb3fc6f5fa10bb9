import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited with ${code}`))));
  });
}

describe('AgentEventLog memory', () => {
  it('replays a 60 MB run holding RSS growth under 48 MB (holding it all would take several times that)', async () => {
    const dir = tempDir();
    const count = 300_000;
    const fixture = path.join(import.meta.dirname, 'fixtures/replay-rss.ts');
    await run([fixture, dir, 'build', String(count)]);
    const out = await run([fixture, dir, 'replay']);
    const { growthMb, read } = JSON.parse(out) as { growthMb: number; read: number };
    expect(read).toBe(count);
    expect(fs.statSync(path.join(dir, 'big.ndjson')).size).toBeGreaterThan(55 * 2 ** 20);
    expect(growthMb).toBeLessThan(48);
  });
});
