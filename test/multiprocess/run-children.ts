import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { afterEach } from 'vitest';

const running: ChildProcess[] = [];
afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

interface Child {
  process: ChildProcess;
  ready: Promise<void>;
  /** The last line the child printed, parsed as JSON, once it exited with code 0. */
  result: Promise<unknown>;
}

function start(fixture: string, args: string[]): Child {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.resolve(import.meta.dirname, 'fixtures', fixture), ...args],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  running.push(child);
  let out = '';
  let err = '';
  let onReady: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (out.startsWith('ready\n')) onReady();
  });
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const result = new Promise<unknown>((resolve, reject) => {
    child.on('exit', (code, signal) => {
      if (code !== 0) return reject(new Error(`${fixture} ${args.join(' ')} exited with ${code ?? signal}: ${err}`));
      const lines = out.trim().split('\n');
      resolve(JSON.parse(lines[lines.length - 1]!));
    });
  });
  // A child that dies before saying ready must not leave the test waiting on `ready`.
  result.catch(() => onReady());
  return { process: child, ready, result };
}

/**
 * Runs one child per argument list with `fixture` (a file in fixtures/ beside this one, or an
 * absolute path), starts them all at the same moment (once every
 * one has loaded), and resolves with what each printed last.
 */
export async function runTogether(fixture: string, argLists: string[][]): Promise<unknown[]> {
  const children = argLists.map((args) => start(fixture, args));
  await Promise.all(children.map((child) => child.ready));
  for (const child of children) child.process.stdin!.end('go\n');
  return Promise.all(children.map((child) => child.result));
}
