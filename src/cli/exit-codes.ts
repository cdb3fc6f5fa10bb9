/** Exit codes scripts can rely on. */
export const EXIT = {
  /** The command did what was asked and found nothing wrong. */
  ok: 0,
  /** A problem was found (`verify`), or the command failed (unknown run, unreadable file, missing root). */
  failed: 1,
  /** The command line was wrong: unknown command or option, missing argument, bad value. */
  usage: 2,
  /** `--follow` was stopped with Ctrl-C before the run ended. */
  interrupted: 130,
} as const;
