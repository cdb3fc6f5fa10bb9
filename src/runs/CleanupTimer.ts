import type { CleanupReport } from './schemas.js';

/** What {@link AnalysisRunStore.startCleanup} returns. */
export interface CleanupHandle {
  /** Stops the timer and resolves once a pass that was in flight has settled. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Runs a cleanup pass at once and then every `everyMs` on an unref'd timer (it never keeps the
 * process alive), one pass at a time: a tick that finds the previous pass still running is
 * skipped rather than queued. Each report goes to `onResult`; a failed pass goes to `onError`, or
 * becomes a process warning when there is none — never an unhandled rejection — and the timer
 * goes on. A pass refused because the store was closed stops the timer quietly.
 */
export class CleanupTimer implements CleanupHandle {
  readonly #pass: () => Promise<CleanupReport>;
  readonly #onResult: ((report: CleanupReport) => void) | undefined;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #onStop: () => void;
  readonly #timer: NodeJS.Timeout;
  #inFlight: Promise<void> | undefined;
  #stopped = false;

  constructor(options: {
    pass: () => Promise<CleanupReport>;
    everyMs: number;
    onResult?: ((report: CleanupReport) => void) | undefined;
    onError?: ((error: unknown) => void) | undefined;
    onStop: () => void;
  }) {
    this.#pass = options.pass;
    this.#onResult = options.onResult;
    this.#onError = options.onError;
    this.#onStop = options.onStop;
    this.#timer = setInterval(() => this.#tick(), options.everyMs);
    this.#timer.unref();
    this.#tick();
  }

  async stop(): Promise<void> {
    this.#halt();
    await this.#inFlight;
  }

  #halt(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#onStop();
  }

  #tick(): void {
    if (this.#stopped || this.#inFlight) return;
    this.#inFlight = this.#pass()
      .then(
        (report) => this.#onResult?.(report),
        (error: unknown) => this.#report(error),
      )
      .catch((error: unknown) => this.#report(error)) // onResult threw
      .finally(() => {
        this.#inFlight = undefined;
      });
  }

  #report(error: unknown): void {
    if ((error as { code?: unknown } | undefined)?.code === 'CLOSED') {
      this.#halt();
      return;
    }
    if (this.#onError) {
      try {
        this.#onError(error);
        return;
      } catch (callbackError) {
        error = callbackError;
      }
    }
    process.emitWarning(`cleanup failed: ${(error as Error)?.message ?? String(error)}`, {
      type: 'AgentStoresCleanupWarning',
    });
  }
}
