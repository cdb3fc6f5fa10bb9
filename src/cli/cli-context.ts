import * as fs from 'node:fs';
import type { Stores } from '../create-stores.js';
import { MissingRootError } from './missing-root-error.js';

/** Where a command writes; a seam so tests and the entry point can wire real streams. */
export interface CliOutput {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** True when stderr is a terminal (progress bars are drawn only then). */
  stderrIsTTY: boolean;
  /** Aborted when the user presses Ctrl-C, so `--follow` can stop cleanly. */
  interrupt: AbortSignal;
}

/** A run of one command: the root it works on, its output, and the stores, opened on first use. */
export class CliContext {
  #stores: Stores | undefined;

  constructor(
    readonly root: string,
    readonly output: CliOutput,
    /** The option that named `root`, for the error when it is missing. */
    readonly rootOption = '--root',
  ) {}

  /** Writes a line (or several, joined by newlines) to stdout. */
  out(line = ''): void {
    this.output.stdout.write(`${line}\n`);
  }

  /** Writes one line to stderr. */
  err(line: string): void {
    this.output.stderr.write(`${line}\n`);
  }

  /**
   * The stores under `--root`. The root must exist: the tool inspects logs, it never creates an
   * empty `logs/` directory because of a mistyped path.
   */
  async stores(): Promise<Stores> {
    if (this.#stores) return this.#stores;
    let isDir = false;
    try {
      isDir = fs.statSync(this.root).isDirectory();
    } catch {
      // Reported below.
    }
    if (!isDir) throw new MissingRootError(this.root, this.rootOption);
    // Loaded here, not at the top: the stores bring zod and the lock library, which `--help`,
    // usage errors and a missing root never need, and which cost more start-up than all the rest.
    const { createStores } = await import('../create-stores.js');
    // A run file the store skips (damaged) is named on stderr, not as a Node process warning.
    this.#stores = createStores({
      root: this.root,
      runs: { onWarning: (warning) => this.err(`warning: ${warning.message}`) },
    });
    return this.#stores;
  }

  /** Closes the stores if they were opened. */
  async close(): Promise<void> {
    const stores = this.#stores;
    this.#stores = undefined;
    await stores?.close();
  }
}
