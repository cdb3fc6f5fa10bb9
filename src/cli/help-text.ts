import type { CliCommand } from './command.js';

const COMMON_OPTIONS: [string, string][] = [
  ['--root DIR', 'the logs directory to read (default: ./logs)'],
  ['-h, --help', 'show this help'],
];

const EXIT_CODES = [
  'Exit codes:',
  '  0  done, nothing wrong found',
  '  1  a problem was found, or the command failed (unknown run, unreadable file, missing root)',
  '  2  usage error: unknown command or option, missing argument, bad value',
];

function columns(rows: [string, string][], indent = '  '): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `${indent}${left.padEnd(width)}  ${right}`);
}

/** `agent-stores --help`: every command, one line each. */
export function toolHelp(commands: readonly CliCommand[], version: string): string {
  return [
    `agent-stores ${version}: look into the logs directory of an agent-stores app.`,
    '',
    'Usage: agent-stores <command> [options]',
    '',
    'Commands:',
    ...columns(commands.map((command) => [command.name, command.summary])),
    '',
    'Options for every command:',
    ...columns(COMMON_OPTIONS),
    '',
    ...EXIT_CODES,
    '',
    "Run 'agent-stores <command> --help' for a command's options.",
  ].join('\n');
}

/** `agent-stores runs --help`: the commands of one group. */
export function groupHelp(group: string, commands: readonly CliCommand[]): string {
  return [
    `Usage: agent-stores ${group} <command> [options]`,
    '',
    'Commands:',
    ...columns(commands.map((command) => [command.name, command.summary])),
    '',
    `Run 'agent-stores ${group} <command> --help' for a command's options.`,
  ].join('\n');
}

/** `agent-stores runs list --help`. */
export function commandHelp(command: CliCommand): string {
  return [
    `Usage: agent-stores ${command.synopsis}`,
    '',
    command.description,
    '',
    'Options:',
    ...columns([...command.optionHelp, ...COMMON_OPTIONS]),
    '',
    ...EXIT_CODES,
  ].join('\n');
}
