// Runs the command-line tool as a real child process, as a user or a script would.
import { spawn } from 'node:child_process';
import * as path from 'node:path';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const MAIN = path.join(import.meta.dirname, '../../src/cli/main.ts');

/** Starts `agent-stores <args>`; `done` resolves with its exit code and output. */
export function startCli(args: string[]): {
  done: Promise<CliResult>;
  stdout(): string;
  kill(signal: NodeJS.Signals): void;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AGENT_STORES_DEBUG: '' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { done, stdout: () => stdout, kill: (signal) => child.kill(signal) };
}

/** Runs `agent-stores <args>` to the end. */
export function cli(...args: string[]): Promise<CliResult> {
  return startCli(args).done;
}
