// `npm run demo` is what a new user runs first: it must work, say what it shows, and end cleanly.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';

function runDemo(root: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const demo = path.join(import.meta.dirname, '../../examples/demo.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', demo, '--root', root], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the demo', () => {
  it('runs every step on a fresh root and exits 0', async () => {
    const { code, stdout, stderr } = await runDemo(path.join(tempDir(), 'logs'));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    // The SSE client was cut off, came back with Last-Event-ID and got everything exactly once.
    expect(stdout).toMatch(/server stopped after cursor 3/);
    expect(stdout).toMatch(/server: GET \/runs\/demo-\S+-1\/events {2}Last-Event-ID: 3/);
    expect(stdout).toMatch(/client: #\d+ analysis_completed report: \/reports\/demo-\S+-1\.html/);
    expect(stdout).toMatch(/client: \d+ events, cursors 1\.\.\d+, in order, none twice, none missing/);
    // The killed run was failed by cleanup, with a terminal error event.
    expect(stdout).toMatch(/abandoned demo-\S+-2/);
    expect(stdout).toMatch(/is failed: heartbeat_stale/);
    expect(stdout).toMatch(/its event log ends with #\d+ error/);
    // Memory and the feedback pipeline.
    expect(stdout).toMatch(/recall \[checkout, latency\]: 1\.00/);
    expect(stdout).toMatch(/audit row: demo-mem-1 project→world by dana/);
    expect(stdout).toMatch(/feedback → case_draft → skill_draft → reviewed → merged/);
    expect(stdout).toMatch(/Done in \d+\.\d s/);
  });
});
