import type { CliCommand } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { stringOption } from '../option-values.js';
import { formatDuration, parseDuration } from '../parse-duration.js';
import { ProgressBar } from '../progress-bar.js';
import { UsageError } from '../usage-error.js';

/** Above this many runs a progress bar is drawn (on a terminal). */
const MANY = 20;

/** `agent-stores cleanup`: fail abandoned runs and delete old finished ones. */
export const cleanup: CliCommand = {
  name: 'cleanup',
  summary: 'fail runs whose heartbeat stopped; delete old finished runs',
  synopsis: 'cleanup [--retention 7d] [--stale 90s] [--dry-run] [--json]',
  description: [
    'Runs AnalysisRunStore.cleanup on the logs directory:',
    '  - a pending or running run whose last heartbeat is older than --stale becomes failed',
    "    (error.code 'heartbeat_stale') and its event log gets a terminal 'error' event;",
    '  - a finished run that ended more than --retention ago is deleted with its event log;',
    '  - everything else is kept, however old, while its heartbeat is fresh;',
    '  - a run file that cannot be read is left as it is and named on stderr (exit 1);',
    '    every other run is still cleaned up.',
    'On a terminal, a progress bar shows on stderr when there are many runs.',
    'Durations take a unit: 500ms, 90s, 15m, 12h, 7d.',
  ].join('\n'),
  options: {
    retention: { type: 'string', default: '7d' },
    stale: { type: 'string', default: '90s' },
    'dry-run': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
  optionHelp: [
    ['--retention D', 'keep finished runs this long (default: 7d)'],
    ['--stale D', 'a live run with no heartbeat for this long is abandoned (default: 90s)'],
    ['--dry-run', 'print what would happen; change nothing'],
    ['--json', 'print the result as one JSON object {kept, abandoned, deleted, unreadable}'],
  ],
  positionals: [],
  async run(ctx, values) {
    const retentionMs = parseDuration(stringOption(values, 'retention')!, '--retention');
    const staleAfterMs = parseDuration(stringOption(values, 'stale')!, '--stale');
    if (staleAfterMs === 0) throw new UsageError('--stale must be more than 0');
    const { runs } = await ctx.stores();
    const dryRun = values['dry-run'] === true;
    // A bar on a terminal once the pass has more than a screenful of runs to judge.
    const bar = new ProgressBar(ctx.output.stderr, 0, 'cleaning up', ctx.output.stderrIsTTY);
    const onProgress = (judged: number, total: number) => {
      if (total > MANY) bar.set(judged, total);
    };
    const report = await runs.cleanup({ retentionMs, staleAfterMs, dryRun, onProgress });
    bar.clear();

    const exit = report.unreadable.length > 0 ? EXIT.failed : EXIT.ok;
    if (values.json) {
      ctx.out(JSON.stringify({ dryRun, ...report }));
      return exit;
    }
    const verb = dryRun
      ? { abandoned: 'would fail', deleted: 'would delete' }
      : { abandoned: 'failed', deleted: 'deleted' };
    for (const runId of report.abandoned)
      ctx.out(`${verb.abandoned} ${runId}: no heartbeat for over ${formatDuration(staleAfterMs)}`);
    for (const runId of report.deleted)
      ctx.out(`${verb.deleted} ${runId}: finished over ${formatDuration(retentionMs)} ago`);
    ctx.out(
      `${dryRun ? 'dry run, nothing changed: ' : ''}${report.abandoned.length} abandoned, ${report.deleted.length} deleted, ${report.kept.length} kept${report.unreadable.length ? `, ${report.unreadable.length} unreadable` : ''}`,
    );
    return exit;
  },
};
