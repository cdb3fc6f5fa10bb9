import { defineConfig } from 'tsup';

// The published build. No source maps: they tripled the tarball and point at sources it does not
// ship.
const entries = {
  index: 'src/index.ts',
  'sse/index': 'src/sse/index.ts',
  testing: 'src/testing.ts',
  'postgres/index': 'src/postgres/public.ts',
};

export default defineConfig([
  {
    // ESM, with the command-line tool as one more entry: the entries share their code through
    // chunks, so the CLI is not a second copy of the library. tsup keeps the shebang of
    // src/cli/main.ts on dist/cli/main.js and makes that file executable.
    entry: { ...entries, 'cli/main': 'src/cli/main.ts' },
    format: ['esm'],
    splitting: true,
    dts: { entry: entries },
    target: 'node20',
    platform: 'node',
  },
  {
    entry: entries,
    format: ['cjs'],
    // Shared chunks in CommonJS too: each entry bundling its own copy would give
    // `agent-stores/postgres` error classes that are not `instanceof` the root's.
    splitting: true,
    dts: { entry: entries },
    target: 'node20',
    platform: 'node',
    // The library loads some dependencies on first use with `import()` (better-sse, proper-lockfile).
    // In the CommonJS build that stays `require()`: the same copy a CommonJS app gets, and no
    // `import()` in runtimes that cannot load ES modules from CommonJS (Jest without VM modules).
    esbuildOptions(options) {
      options.supported = { ...options.supported, 'dynamic-import': false };
    },
  },
]);
