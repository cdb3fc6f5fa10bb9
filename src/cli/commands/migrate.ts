import { CliContext } from '../cli-context.js';
import type { CliCommand } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { stringOption } from '../option-values.js';
import { ProgressBar } from '../progress-bar.js';
import { UsageError } from '../usage-error.js';

/** `agent-stores migrate`: copy a file-backed root into PostgreSQL. */
export const migrate: CliCommand = {
  name: 'migrate',
  summary: 'copy a logs directory into PostgreSQL (for agent-stores/postgres)',
  synopsis: 'migrate --from DIR --to URL [--schema NAME] [--include-live] [--json]',
  description: [
    'Copies everything under a logs directory into a PostgreSQL database, for createPostgresStores():',
    'run records, every event of every run (same cursors and times), memory entries with their',
    'promotion audit, and pipeline entries. The tables are created (migrated) first when missing.',
    'Nothing under --from changes.',
    '  - Idempotent and resumable: what the database already has is skipped, and events go over in',
    '    chunks, each committed whole, so a copy that was stopped is finished by running it again.',
    '  - Runs still pending or running are refused (an instance may still be writing them) unless',
    '    --include-live; run the copy again later to bring their newer events over.',
    '  - Ends with the count of each kind of record on both sides; exit 1 when they differ.',
    'On a terminal, a progress bar shows on stderr. Needs the pg package: npm install pg',
  ].join('\n'),
  options: {
    from: { type: 'string' },
    to: { type: 'string' },
    schema: { type: 'string', default: 'agent_stores' },
    'include-live': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
  optionHelp: [
    ['--from DIR', 'the logs directory to copy (the root your app gives createStores)'],
    ['--to URL', 'the database, as a postgres:// connection string'],
    ['--schema NAME', 'the schema that holds the tables (default: agent_stores)'],
    ['--include-live', 'also copy runs that are still pending or running'],
    ['--json', 'print the counts as one JSON object'],
  ],
  positionals: [],
  async run(ctx, values) {
    const from = stringOption(values, 'from');
    const to = stringOption(values, 'to');
    if (from === undefined) throw new UsageError('--from DIR is required: the logs directory to copy');
    if (to === undefined) throw new UsageError('--to URL is required: the database to copy into (postgres://…)');
    // The stores of --from, opened (and checked to exist) as every command opens --root's.
    const source = new CliContext(from, ctx.output, '--from');
    const stores = await source.stores();
    // Loaded here: the copier and pg are only needed once a copy starts.
    const [{ PostgresDatabase }, { copyRootToPostgres }] = await Promise.all([
      import('../../postgres/database.js'),
      import('../../postgres/copy-root.js'),
    ]);
    const database = new PostgresDatabase({ connectionString: to, schema: stringOption(values, 'schema')! });
    const bar = new ProgressBar(ctx.output.stderr, 0, 'copying', ctx.output.stderrIsTTY && !values.json);
    try {
      const report = await copyRootToPostgres({
        from: stores,
        root: from,
        to: database,
        includeLive: values['include-live'] === true,
        onProgress: (done, total) => bar.set(done, total),
      });
      bar.clear();
      if (values.json) {
        ctx.out(JSON.stringify(report));
      } else {
        const rows: [string, typeof report.runs][] = [
          ['runs', report.runs],
          ['events', report.events],
          ['memory entries', report.memoryEntries],
          ['promotion audit rows', report.promotionAudit],
          ['pipeline entries', report.pipelineEntries],
        ];
        const width = Math.max(...rows.map(([label]) => label.length));
        ctx.out(
          `${'records'.padEnd(width)}  ${'in files'.padStart(10)}  ${'in PostgreSQL'.padStart(13)}  ${'copied now'.padStart(10)}`,
        );
        for (const [label, count] of rows) {
          const mark = count.files === count.postgres ? '' : '  MISSING';
          ctx.out(
            `${label.padEnd(width)}  ${String(count.files).padStart(10)}  ${String(count.postgres).padStart(13)}  ${String(count.copied).padStart(10)}${mark}`,
          );
        }
        if (report.live.length > 0)
          ctx.out(`copied ${report.live.length} live runs as they are now: run the copy again once they end`);
        ctx.out(
          report.complete
            ? `done: PostgreSQL (schema ${database.schema}) holds every record of ${from}`
            : 'incomplete: some records are missing in PostgreSQL; run the same command again',
        );
      }
      return report.complete ? EXIT.ok : EXIT.failed;
    } finally {
      bar.clear();
      await source.close();
      await database.close();
    }
  },
};
