import { ConflictError, NotFoundError } from '../../storage/errors.js';
import { assertValidId } from '../../storage/ids.js';
import type { CliCommand } from '../command.js';
import { EXIT } from '../exit-codes.js';

/** `agent-stores runs delete`: one run's record, heartbeat and event log. */
export const runsDelete: CliCommand = {
  name: 'runs delete',
  summary: 'delete one run with its event log',
  synopsis: 'runs delete <runId> [--force]',
  description: [
    'Deletes a run record, its heartbeat file and its event log (AnalysisRunStore.delete).',
    'A pending or running run whose heartbeat is fresh is refused (exit 1): a process is still',
    'working on it. Cancel it first, or pass --force.',
  ].join('\n'),
  options: {
    force: { type: 'boolean', default: false },
  },
  optionHelp: [['--force', 'delete a live run even while its heartbeat is fresh']],
  positionals: ['runId'],
  async run(ctx, values, [runId]) {
    assertValidId(runId, 'run id');
    const { runs } = await ctx.stores();
    let deleted: boolean;
    try {
      deleted = await runs.delete(runId, { force: values.force === true });
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      throw new ConflictError(
        `run '${runId}' is live and its heartbeat is fresh: a process is still working on it. Cancel it first, or delete it anyway with --force`,
      );
    }
    if (!deleted) throw new NotFoundError('run', runId);
    ctx.out(`deleted run ${runId} and its event log`);
    return EXIT.ok;
  },
};
