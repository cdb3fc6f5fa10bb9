#!/usr/bin/env node
// The `agent-stores` command-line tool. Built by tsup into dist/cli/main.js with a shebang.
import { runCli } from './run-cli.js';

const interrupt = new AbortController();
// Ctrl-C asks the running command to stop cleanly (`--follow` closes its watchers and exits 130);
// a command that does not stop within half a second is ended anyway.
process.once('SIGINT', () => {
  interrupt.abort();
  setTimeout(() => process.exit(130), 500).unref();
});
// `agent-stores events tail x | head` closes stdout early: that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stderrIsTTY: process.stderr.isTTY === true,
  interrupt: interrupt.signal,
});
