import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { StoreError } from '../storage/errors.js';
import { CliContext, type CliOutput } from './cli-context.js';
import type { CliCommand } from './command.js';
import { COMMANDS } from './command-list.js';
import { EXIT } from './exit-codes.js';
import { commandHelp, groupHelp, toolHelp } from './help-text.js';
import { MissingRootError } from './missing-root-error.js';
import { UsageError } from './usage-error.js';

/** Store errors that mean the input was wrong rather than the data. */
const USAGE_CODES = new Set(['VALIDATION', 'INVALID_ID']);

function toolVersion(): string {
  try {
    // The same relative path works from src/cli and from the built dist/cli.
    const text = fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    return (JSON.parse(text) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The words of the command line, with their indexes, skipping options and `--root`'s value. */
function commandWords(args: readonly string[]): { word: string; index: number }[] {
  const words: { word: string; index: number }[] = [];
  for (let index = 0; index < args.length && words.length < 2; index += 1) {
    const arg = args[index]!;
    if (arg === '--') break;
    if (arg === '--root') index += 1;
    else if (!arg.startsWith('-')) words.push({ word: arg, index });
  }
  return words;
}

function findCommand(args: readonly string[]): { command?: CliCommand; group?: string; rest: string[] } {
  const words = commandWords(args);
  for (const take of [2, 1]) {
    const name = words
      .slice(0, take)
      .map((w) => w.word)
      .join(' ');
    const command = COMMANDS.find((c) => c.name === name);
    if (command) {
      const used = new Set(words.slice(0, take).map((w) => w.index));
      return { command, rest: args.filter((_, index) => !used.has(index)) };
    }
  }
  const group = words[0]?.word;
  if (group && COMMANDS.some((c) => c.name.startsWith(`${group} `))) {
    return { group, rest: args.filter((_, index) => index !== words[0]!.index) };
  }
  return { rest: [...args] };
}

function parseCommandLine(command: CliCommand, args: string[]) {
  try {
    return parseArgs({
      args,
      options: {
        ...command.options,
        root: { type: 'string', default: 'logs' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    // parseArgs explains itself well ("Unknown option '--stat'"); keep its words, drop the advice
    // that follows about '--' which does not apply here.
    const message = error instanceof Error ? error.message.split('. To specify')[0]!.replace(/\.$/, '') : String(error);
    throw new UsageError(message);
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * Runs the tool on `args` (the words after `agent-stores`) and resolves with the exit code.
 * Never throws: every failure becomes one line on stderr and a documented exit code.
 */
export async function runCli(args: readonly string[], output: CliOutput): Promise<number> {
  const print = (stream: NodeJS.WritableStream, text: string) => stream.write(`${text}\n`);
  const printed = (stream: NodeJS.WritableStream, text: string, code: number) => {
    print(stream, text);
    return code;
  };
  const { command, group, rest } = findCommand(args);
  let label = 'agent-stores';

  try {
    if (!command) {
      const wantsHelp = rest.includes('--help') || rest.includes('-h') || rest[0] === 'help';
      if (group) {
        const members = COMMANDS.filter((c) => c.name.startsWith(`${group} `));
        if (wantsHelp) return printed(output.stdout, groupHelp(group, members), EXIT.ok);
        const next = commandWords(rest)[0]?.word;
        throw new UsageError(
          next
            ? `unknown command '${group} ${next}' (see agent-stores ${group} --help)`
            : `'${group}' needs a command: ${members.map((c) => c.name).join(', ')} (see agent-stores ${group} --help)`,
        );
      }
      if (rest.includes('--version')) return printed(output.stdout, toolVersion(), EXIT.ok);
      if (wantsHelp) return printed(output.stdout, toolHelp(COMMANDS, toolVersion()), EXIT.ok);
      const first = commandWords(rest)[0]?.word;
      if (first) throw new UsageError(`unknown command '${first}' (see agent-stores --help)`);
      print(output.stderr, toolHelp(COMMANDS, toolVersion()));
      return EXIT.usage;
    }

    label = `agent-stores ${command.name}`;
    const { values, positionals } = parseCommandLine(command, rest);
    if (values.help) return printed(output.stdout, commandHelp(command), EXIT.ok);
    if (positionals.length < command.positionals.length) {
      const missing = command.positionals.slice(positionals.length).map((name) => `<${name}>`);
      throw new UsageError(`missing ${missing.join(' ')} (usage: agent-stores ${command.synopsis})`);
    }
    if (positionals.length > command.positionals.length) {
      throw new UsageError(`unexpected argument '${positionals[command.positionals.length]}'`);
    }
    const ctx = new CliContext(String(values.root), output);
    try {
      return await command.run(ctx, values, positionals);
    } finally {
      await ctx.close();
    }
  } catch (error) {
    const hint = command ? `agent-stores ${command.name} --help` : 'agent-stores --help';
    if (error instanceof UsageError) {
      const message = oneLine(error.message);
      print(output.stderr, `${label}: ${message}${/--help|usage:/.test(message) ? '' : ` (see ${hint})`}`);
      return EXIT.usage;
    }
    if (error instanceof StoreError && USAGE_CODES.has(error.code)) {
      print(output.stderr, `${label}: ${oneLine(error.message)}`);
      return EXIT.usage;
    }
    if (error instanceof StoreError || error instanceof MissingRootError) {
      print(output.stderr, `${label}: ${oneLine(error.message)}`);
      return EXIT.failed;
    }
    // Not a mistake of the user's: say so, and keep the stack one variable away.
    const message = error instanceof Error ? error.message : String(error);
    print(output.stderr, `${label}: unexpected error: ${oneLine(message)} (set AGENT_STORES_DEBUG=1 for details)`);
    if (process.env.AGENT_STORES_DEBUG && error instanceof Error && error.stack) print(output.stderr, error.stack);
    return EXIT.failed;
  }
}
