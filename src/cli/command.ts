import type { ParseArgsConfig } from 'node:util';
import type { CliContext } from './cli-context.js';

/** The option values `parseArgs` gives a command. */
export type OptionValues = Record<string, string | boolean | undefined>;

/** One command of the tool, such as `runs list`. One file per command under `commands/`. */
export interface CliCommand {
  /** The words that select it, such as `runs list`. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The synopsis after `agent-stores`, such as `runs show <runId> [--json]`. */
  synopsis: string;
  /** A few lines on what it does, for `--help`. */
  description: string;
  /** Its options, in `parseArgs` form (`--root` and `--help` are added for every command). */
  options: NonNullable<ParseArgsConfig['options']>;
  /** `[flag, explanation]` pairs for `--help`, in the order shown. */
  optionHelp: [string, string][];
  /** Names of the positional arguments it requires, in order. */
  positionals: string[];
  /** Runs the command and resolves with its exit code. */
  run(ctx: CliContext, values: OptionValues, positionals: string[]): Promise<number>;
}
