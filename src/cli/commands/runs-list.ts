import type { CliCommand } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { formatAgo, formatTime } from '../format-time.js';
import { choiceOption, positiveOption, stringOption } from '../option-values.js';
import { countShown, printRecords } from '../print-records.js';

const STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;

/** `agent-stores runs list`: the analysis runs, newest first. */
export const runsList: CliCommand = {
  name: 'runs list',
  summary: 'list analysis runs, newest first',
  synopsis: `runs list [--status ${STATUSES.join('|')}] [--session ID] [--limit N] [--json]`,
  description: [
    'Lists the run records under analysis_runs/, newest first. A pending or running run whose',
    "heartbeat is older than the store's stale timeout is marked STALE: 'cleanup' would fail it.",
  ].join('\n'),
  options: {
    status: { type: 'string' },
    session: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
  optionHelp: [
    ['--status S', `only runs with this status: ${STATUSES.join(', ')}`],
    ['--session ID', 'only runs of this sessionId'],
    ['--limit N', 'only the newest N runs'],
    ['--json', 'one JSON run per line (NDJSON)'],
  ],
  positionals: [],
  async run(ctx, values) {
    const status = choiceOption(values, 'status', STATUSES);
    const sessionId = stringOption(values, 'session');
    const limit = positiveOption(values, 'limit');
    const { runs } = await ctx.stores();
    const list = await runs.list({ status, sessionId, limit });
    const now = Date.now();
    printRecords((line) => ctx.out(line), list, {
      json: values.json === true,
      none: 'no runs found',
      header: ['RUN', 'STATUS', 'CREATED', 'HEARTBEAT', 'QUESTION'],
      row: (run) => [
        run.runId,
        runs.isStale(run, now) ? `${run.status} STALE` : run.status,
        formatTime(run.createdAt),
        formatAgo(run.heartbeatAt, now),
        run.question,
      ],
      footer: countShown(list.length, limit, 'run', 'runs', 'newest'),
    });
    return EXIT.ok;
  },
};
