import type { CliCommand } from './command.js';
import { cleanup } from './commands/cleanup.js';
import { eventsTail } from './commands/events-tail.js';
import { exportRecords } from './commands/export.js';
import { memoryList } from './commands/memory-list.js';
import { memoryRecall } from './commands/memory-recall.js';
import { migrate } from './commands/migrate.js';
import { pipelineList } from './commands/pipeline-list.js';
import { runsDelete } from './commands/runs-delete.js';
import { runsList } from './commands/runs-list.js';
import { runsShow } from './commands/runs-show.js';
import { verify } from './commands/verify.js';

/** Every command, in the order `--help` lists them. */
export const COMMANDS: readonly CliCommand[] = [
  runsList,
  runsShow,
  runsDelete,
  eventsTail,
  memoryList,
  memoryRecall,
  pipelineList,
  cleanup,
  verify,
  exportRecords,
  migrate,
];
