import type { CliCommand } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { formatTime } from '../format-time.js';
import { choiceOption, listOption, positiveOption, stringOption } from '../option-values.js';
import { countShown, printRecords } from '../print-records.js';

/** `agent-stores memory list`: the project memory entries. */
export const memoryList: CliCommand = {
  name: 'memory list',
  summary: 'list project memory entries',
  synopsis: 'memory list [--scope project|world] [--project KEY] [--tags a,b] [--limit N] [--json]',
  description: 'Lists the entries of analysis_project_memory.json, sorted by entryId.',
  options: {
    scope: { type: 'string' },
    project: { type: 'string' },
    tags: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
  optionHelp: [
    ['--scope S', 'only entries of this scope: project or world'],
    ['--project KEY', 'only entries of this projectKey'],
    ['--tags a,b', 'only entries with at least one of these tags'],
    ['--limit N', 'only the first N entries'],
    ['--json', 'one JSON entry per line (NDJSON)'],
  ],
  positionals: [],
  async run(ctx, values) {
    const scope = choiceOption(values, 'scope', ['project', 'world'] as const);
    const projectKey = stringOption(values, 'project');
    const anyOfTags = listOption(values, 'tags');
    const limit = positiveOption(values, 'limit');
    const { memory } = await ctx.stores();
    const entries = (await memory.list({ scope, projectKey, anyOfTags })).slice(0, limit);
    printRecords((line) => ctx.out(line), entries, {
      json: values.json === true,
      none: 'no memory entries found',
      header: ['ENTRY', 'SCOPE', 'STATUS', 'CONF', 'TAGS', 'CREATED', 'INSIGHT'],
      row: (entry) => [
        entry.entryId,
        entry.scope,
        entry.status,
        entry.confidence.toFixed(2),
        entry.tags.join(','),
        formatTime(entry.createdAt),
        entry.insight,
      ],
      footer: countShown(entries.length, limit, 'entry', 'entries'),
    });
    return EXIT.ok;
  },
};
