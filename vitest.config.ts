import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// Two projects over one suite.
// - `fast` (`npm test`): everything but the long multi-process and soak runs, with the
//   model-based tests drawing fewer random sequences (FC_RUNS / FC_FILE_RUNS, below).
// - `slow` (`npm run test:slow`): the multi-process and soak runs, and the model-based tests at
//   their full 1,000 sequences each. CI runs both; nothing is checked only by hand.
// `npx vitest run <file>` runs a file in whichever project holds it (a model test in both; add
// `--project fast` or `--project slow` for one).

/** Real child processes racing, killed and restarted: seconds each. */
const multiProcess = [
  'test/multiprocess/**/*.test.ts',
  'test/soak/**/*.test.ts',
  'test/**/processes.test.ts',
  'test/postgres/*-processes.test.ts',
  'test/reliability/cross-process-read.test.ts',
  // Each case starts the CLI or a README snippet (a server, for the SSE ones) as a child process.
  'test/cli/cli.test.ts',
  'test/demo/readme-snippets.test.ts',
];
/** Model-based tests: random operation sequences against a store and a model of DESIGN.md. */
const models = ['test/reliability/*-model.test.ts'];

/** A count from the environment when one is set (to replay or to go further), else `fallback`. */
const runs = (name: string, fallback: number) => process.env[name] ?? String(fallback);

export default defineConfig({
  test: {
    // Crash and multi-process tests spawn real children; give them room on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most tests wait on fsync, sockets and child processes rather than on the CPU: two workers
    // finish the suites about a third sooner on a 2-core machine (vitest's default there is one).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // Finds (or starts) the PostgreSQL server the PostgreSQL tests use; see the file.
    globalSetup: ['test/helpers/postgres-server.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'fast',
          include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
          exclude: multiProcess,
          env: { FC_RUNS: runs('FC_RUNS', 100), FC_FILE_RUNS: runs('FC_FILE_RUNS', 60) },
        },
      },
      {
        extends: true,
        test: {
          name: 'slow',
          include: [...multiProcess, ...models],
          env: { FC_RUNS: runs('FC_RUNS', 1_000), FC_FILE_RUNS: runs('FC_FILE_RUNS', 1_000) },
        },
      },
    ],
  },
});
