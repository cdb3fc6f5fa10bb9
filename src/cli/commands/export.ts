import { NotFoundError } from '../../storage/errors.js';
import { assertValidId } from '../../storage/ids.js';
import type { CliCommand } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { stringOption } from '../option-values.js';

/** `agent-stores export`: records as NDJSON, for backups, other tools or a move to another store. */
export const exportRecords: CliCommand = {
  name: 'export',
  summary: "print a run's events, or every record, as NDJSON",
  synopsis: 'export [--run ID] [--events]',
  description: [
    'Prints records on stdout, one JSON object per line (NDJSON), changing nothing:',
    '  --run ID   the events of one run, oldest first, each as the event log holds it;',
    '  (default)  every record of every store, as {"store": "...", "record": {...}}: memory',
    "             entries, pipeline entries and runs (oldest first); with --events, every run's",
    '             events too ({"store": "events", "record": {...}}).',
  ].join('\n'),
  options: {
    run: { type: 'string' },
    events: { type: 'boolean', default: false },
  },
  optionHelp: [
    ['--run ID', "only this run's events"],
    ['--events', 'with every record, also every event of every run'],
  ],
  positionals: [],
  async run(ctx, values) {
    const runId = stringOption(values, 'run');
    const stores = await ctx.stores();
    if (runId !== undefined) {
      assertValidId(runId, 'run id');
      if ((await stores.events.lastCursor(runId)) === 0 && !(await stores.runs.get(runId))) {
        throw new NotFoundError('run', runId);
      }
      for await (const event of stores.events.read(runId)) ctx.out(JSON.stringify(event));
      return EXIT.ok;
    }
    const line = (store: string, record: unknown) => ctx.out(JSON.stringify({ store, record }));
    for (const entry of await stores.memory.list()) line('memory', entry);
    for (const entry of await stores.pipeline.list()) line('pipeline', entry);
    for (const run of await stores.runs.list({ order: 'oldest' })) line('runs', run);
    if (values.events === true) {
      for (const id of [...(await stores.events.runIds())].sort()) {
        for await (const event of stores.events.read(id)) line('events', event);
      }
    }
    return EXIT.ok;
  },
};
