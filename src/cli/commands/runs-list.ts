import type { CliCommand } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { formatAgo, formatTime } from '../format-time.js';
import { choiceOption, stringOption } from '../option-values.js';
import { textTable } from '../text-table.js';

const STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;

/** `agent-stores runs list`: the analysis runs, newest first. */
export const runsList: CliCommand = {
  name: 'runs list',
  summary: 'list analysis runs, newest first',
  synopsis: `runs list [--status ${STATUSES.join('|')}] [--session ID] [--json]`,
  description: [
    'Lists the run records under analysis_runs/, newest first. A pending or running run whose',
    "heartbeat is older than the store's stale timeout is marked STALE: 'cleanup' would fail it.",
  ].join('\n'),
  options: {
    status: { type: 'string' },
    session: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
  optionHelp: [
    ['--status S', `only runs with this status: ${STATUSES.join(', ')}`],
    ['--session ID', 'only runs of this sessionId'],
    ['--json', 'one JSON run per line (NDJSON)'],
  ],
  positionals: [],
  async run(ctx, values) {
    const status = choiceOption(values, 'status', STATUSES);
    const sessionId = stringOption(values, 'session');
    const { runs } = await ctx.stores();
    const list = (await runs.list({ status, sessionId })).sort((a, b) => b.createdAt - a.createdAt);
    if (!values.json && list.length === 0) {
      ctx.out('no runs found');
      return EXIT.ok;
    }
    if (values.json) {
      for (const run of list) ctx.out(JSON.stringify(run));
      return EXIT.ok;
    }
    const now = Date.now();
    const rows = list.map((run) => [
      run.runId,
      runs.isStale(run, now) ? `${run.status} STALE` : run.status,
      formatTime(run.createdAt),
      formatAgo(run.heartbeatAt, now),
      run.question,
    ]);
    for (const line of textTable(['RUN', 'STATUS', 'CREATED', 'HEARTBEAT', 'QUESTION'], rows)) ctx.out(line);
    ctx.out(`${list.length} ${list.length === 1 ? 'run' : 'runs'}`);
    return EXIT.ok;
  },
};
