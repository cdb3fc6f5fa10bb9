import type { AgentEvent } from '../../events/index.js';
import { assertValidId } from '../../storage/ids.js';
import type { CliCommand } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { formatClock } from '../format-time.js';
import { countOption } from '../option-values.js';
import { UsageError } from '../usage-error.js';

function eventLine(event: AgentEvent): string {
  const payload = event.payload === null || event.payload === undefined ? '' : JSON.stringify(event.payload);
  return `#${String(event.cursor).padEnd(5)} ${formatClock(event.at)}  ${event.type.padEnd(20)} ${payload}`.trimEnd();
}

/** `agent-stores events tail`: a run's events, as lines or NDJSON, optionally following live. */
export const eventsTail: CliCommand = {
  name: 'events tail',
  summary: "print a run's events; --follow waits for new ones",
  synopsis: 'events tail <runId> [--after N | --last N] [--follow] [--json]',
  description: [
    "Prints the events of a run's log (agent_events/<runId>.ndjson), one per line:",
    '  #cursor  time (UTC)  type  payload',
    'With --follow it keeps printing events as they are appended (by any process) and exits 0',
    "after the run's terminal event, or 130 on Ctrl-C.",
  ].join('\n'),
  options: {
    after: { type: 'string' },
    last: { type: 'string' },
    follow: { type: 'boolean', short: 'f', default: false },
    json: { type: 'boolean', default: false },
  },
  optionHelp: [
    ['--after N', 'only events with a cursor greater than N (as an SSE Last-Event-ID)'],
    ['--last N', 'only the last N events'],
    ['-f, --follow', 'keep printing new events until the run ends'],
    ['--json', 'one JSON event per line (NDJSON), for jq and scripts'],
  ],
  positionals: ['runId'],
  async run(ctx, values, [runId]) {
    assertValidId(runId, 'run id');
    const afterOption = countOption(values, 'after');
    const last = countOption(values, 'last');
    if (afterOption !== undefined && last !== undefined) throw new UsageError('give --after or --last, not both');
    const { events } = await ctx.stores();
    if (!(await events.exists(runId))) {
      ctx.err(`agent-stores events tail: run '${runId}' has no event log under ${ctx.root}/agent_events`);
      return EXIT.failed;
    }
    const after = last !== undefined ? Math.max(0, (await events.lastCursor(runId)) - last) : (afterOption ?? 0);
    const print = (event: AgentEvent) => ctx.out(values.json ? JSON.stringify(event) : eventLine(event));
    if (!values.follow) {
      for await (const event of events.read(runId, { after })) print(event);
      return EXIT.ok;
    }
    const signal = ctx.output.interrupt;
    for await (const event of events.follow(runId, { after, signal })) print(event);
    return signal.aborted ? EXIT.interrupted : EXIT.ok;
  },
};
