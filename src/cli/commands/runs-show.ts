import { NotFoundError } from '../../storage/errors.js';
import { assertValidId } from '../../storage/ids.js';
import type { CliCommand } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { formatAgo, formatTime } from '../format-time.js';

/** `agent-stores runs show`: one run record and the state of its event log. */
export const runsShow: CliCommand = {
  name: 'runs show',
  summary: 'show one run and the state of its event log',
  synopsis: 'runs show <runId> [--json]',
  description: "Prints a run record (status, times, heartbeat, result or error) and its event log's last cursor.",
  options: {
    json: { type: 'boolean', default: false },
  },
  optionHelp: [['--json', 'the run record as one JSON object, with an "events" summary added']],
  positionals: ['runId'],
  async run(ctx, values, [runId]) {
    assertValidId(runId, 'run id');
    const { runs, events } = await ctx.stores();
    const run = await runs.get(runId);
    if (!run) throw new NotFoundError('run', runId);
    const summary = { lastCursor: await events.lastCursor(runId), sealed: await events.isSealed(runId) };
    if (values.json) {
      ctx.out(JSON.stringify({ ...run, events: summary }));
      return EXIT.ok;
    }
    const now = Date.now();
    const stale = runs.isStale(run, now) ? ' (STALE: cleanup would fail it)' : '';
    const fields: [string, string | undefined][] = [
      ['run', run.runId],
      ['status', `${run.status}${stale}`],
      ['question', run.question],
      ['session', run.sessionId],
      ['tenant', run.tenantId],
      ['workspace', run.workspaceId],
      ['mode', run.mode],
      ['created', formatTime(run.createdAt)],
      ['started', run.startedAt === undefined ? undefined : formatTime(run.startedAt)],
      ['completed', run.completedAt === undefined ? undefined : formatTime(run.completedAt)],
      [
        'heartbeat',
        run.heartbeatAt === undefined
          ? undefined
          : `${formatTime(run.heartbeatAt)} (${formatAgo(run.heartbeatAt, now)})`,
      ],
      ['updated', formatTime(run.updatedAt)],
      ['events', `${summary.lastCursor}${summary.sealed ? ' (sealed by a terminal event)' : ''}`],
    ];
    for (const [name, value] of fields) if (value !== undefined) ctx.out(`${`${name}:`.padEnd(11)}${value}`);
    if (run.heartbeatDetails !== undefined) ctx.out(`details:   ${JSON.stringify(run.heartbeatDetails)}`);
    if (run.result !== undefined)
      ctx.out(`result:    ${JSON.stringify(run.result, null, 2).replace(/\n/g, '\n           ')}`);
    if (run.error !== undefined)
      ctx.out(`error:     ${JSON.stringify(run.error, null, 2).replace(/\n/g, '\n           ')}`);
    ctx.out(`\nEvents: agent-stores events tail ${run.runId} --root ${ctx.root}`);
    return EXIT.ok;
  },
};
