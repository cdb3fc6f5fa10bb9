import type { PipelineStage } from '../../feedback/index.js';
import type { CliCommand } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { formatTime } from '../format-time.js';
import { choiceOption, positiveOption } from '../option-values.js';
import { countShown, printRecords } from '../print-records.js';

/**
 * The stages, in pipeline order: PipelineStageSchema's options, spelled out so that `--help` does
 * not load zod (a test checks that the two agree).
 */
const STAGES: readonly PipelineStage[] = ['feedback', 'case_draft', 'skill_draft', 'reviewed', 'merged', 'rejected'];

/** `agent-stores pipeline list`: the feedback pipeline entries, newest first. */
export const pipelineList: CliCommand = {
  name: 'pipeline list',
  summary: 'list feedback pipeline entries, newest first',
  synopsis: `pipeline list [--stage ${STAGES.join('|')}] [--limit N] [--json]`,
  description: 'Lists the entries of feedback_pipeline.json, most recently updated first, with a count per stage.',
  options: {
    stage: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
  optionHelp: [
    ['--stage S', `only entries at this stage: ${STAGES.join(', ')}`],
    ['--limit N', 'only the N most recently updated entries'],
    ['--json', 'one JSON entry per line (NDJSON)'],
  ],
  positionals: [],
  async run(ctx, values) {
    const stage = choiceOption(values, 'stage', STAGES);
    const limit = positiveOption(values, 'limit');
    const { pipeline } = await ctx.stores();
    const entries = (await pipeline.list({ stage })).slice(0, limit);
    const stats = await pipeline.stats();
    const counts = STAGES.filter((s) => stats[s] > 0).map((s) => `${s} ${stats[s]}`);
    printRecords((line) => ctx.out(line), entries, {
      json: values.json === true,
      none: 'no pipeline entries found',
      header: ['ENTRY', 'STAGE', 'FEEDBACK', 'CASE', 'SKILL DRAFT', 'REVIEWER', 'UPDATED'],
      row: (entry) => [
        entry.entryId,
        entry.stage,
        entry.feedbackId,
        entry.case?.caseId ?? '-',
        entry.skillDraftId ?? '-',
        entry.reviewer ?? '-',
        formatTime(entry.updatedAt),
      ],
      footer: `${countShown(entries.length, limit, 'entry', 'entries', 'newest')}${counts.length ? ` (all: ${counts.join(', ')})` : ''}`,
    });
    return EXIT.ok;
  },
};
