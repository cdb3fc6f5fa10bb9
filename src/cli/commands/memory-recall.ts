import type { CliCommand } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { choiceOption, countOption, listOption, stringOption } from '../option-values.js';
import { textTable } from '../text-table.js';
import { UsageError } from '../usage-error.js';

/** `agent-stores memory recall`: what the agent would recall for some tags. Never writes. */
export const memoryRecall: CliCommand = {
  name: 'memory recall',
  summary: 'show the entries the agent would recall for some tags',
  synopsis: 'memory recall --tags a,b [--top K] [--scope project|world] [--project KEY] [--json]',
  description:
    'Scores entries by tag overlap, best first, exactly as ProjectMemoryStore.recall does.\nReads only: nothing is written, not even a timestamp.',
  options: {
    tags: { type: 'string' },
    top: { type: 'string' },
    scope: { type: 'string' },
    project: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
  optionHelp: [
    ['--tags a,b', 'the query tags (required)'],
    ['--top K', 'how many entries to show (default: 5)'],
    ['--scope S', 'only entries of this scope: project or world'],
    ['--project KEY', 'only entries of this projectKey'],
    ['--json', 'one JSON line per hit: {"score":…,"entry":{…}}'],
  ],
  positionals: [],
  async run(ctx, values) {
    const tags = listOption(values, 'tags');
    if (!tags) throw new UsageError('--tags is required, like --tags latency,checkout');
    const topK = countOption(values, 'top') ?? 5;
    if (topK === 0) throw new UsageError('--top must be 1 or more');
    const scope = choiceOption(values, 'scope', ['project', 'world'] as const);
    const projectKey = stringOption(values, 'project');
    const { memory } = await ctx.stores();
    const hits = await memory.recall({ tags, topK, scope, projectKey });
    if (!values.json && hits.length === 0) {
      ctx.out(`nothing recalled for tags ${tags.join(', ')}`);
      return EXIT.ok;
    }
    if (values.json) {
      for (const hit of hits) ctx.out(JSON.stringify({ score: hit.score, entry: hit.entry }));
      return EXIT.ok;
    }
    const rows = hits.map((hit) => [
      hit.score.toFixed(2),
      hit.entry.entryId,
      hit.entry.scope,
      hit.entry.tags.join(','),
      hit.entry.insight,
    ]);
    for (const line of textTable(['SCORE', 'ENTRY', 'SCOPE', 'TAGS', 'INSIGHT'], rows)) ctx.out(line);
    ctx.out(`${hits.length} recalled for tags ${tags.join(', ')}`);
    return EXIT.ok;
  },
};
