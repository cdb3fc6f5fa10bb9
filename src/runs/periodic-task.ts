/** What a {@link PeriodicTask} does with a failure, by the failure's `code`. */
export type FailurePolicy = (code: unknown) => 'report' | 'stop' | 'stop quietly';

/**
 * Runs `task` at once and then every `everyMs` on an unref'd timer (it never keeps the process
 * alive), one run at a time: a tick that finds the previous run still in flight is skipped rather
 * than queued. A result goes to `onResult`; a failure goes to `onError`, or becomes a process
 * warning of type `warningType` when there is none — never an unhandled rejection. A failure with
 * code `CLOSED` (the store was closed under it) stops the timer silently; `onFailure` says what
 * other codes do. The heartbeat and cleanup timers of the run store are both this.
 */
export class PeriodicTask<R> {
  readonly #task: () => Promise<R>;
  readonly #onResult: ((result: R) => void) | undefined;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #onStop: () => void;
  readonly #onFailure: FailurePolicy;
  readonly #warning: { what: string; type: string };
  readonly #timer: NodeJS.Timeout;
  #inFlight: Promise<void> | undefined;
  #stopped = false;

  constructor(options: {
    task: () => Promise<R>;
    everyMs: number;
    onResult?: ((result: R) => void) | undefined;
    onError?: ((error: unknown) => void) | undefined;
    /** Called once when the timer stops, however it stops. */
    onStop: () => void;
    /** @defaultValue every failure is reported and the timer goes on */
    onFailure?: FailurePolicy;
    /** The warning's text starts with `<what> failed: `. */
    warning: { what: string; type: string };
  }) {
    this.#task = options.task;
    this.#onResult = options.onResult;
    this.#onError = options.onError;
    this.#onStop = options.onStop;
    this.#onFailure = options.onFailure ?? (() => 'report');
    this.#warning = options.warning;
    this.#timer = setInterval(() => this.#tick(), options.everyMs);
    this.#timer.unref();
    this.#tick();
  }

  /** Stops the timer and resolves once a run that was in flight has settled. Idempotent. */
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
    this.#inFlight = this.#task()
      .then(
        (result) => this.#onResult?.(result),
        (error: unknown) => this.#report(error),
      )
      .catch((error: unknown) => this.#report(error)) // onResult threw
      .finally(() => {
        this.#inFlight = undefined;
      });
  }

  #report(error: unknown): void {
    const code = (error as { code?: unknown } | undefined)?.code;
    const policy = code === 'CLOSED' ? 'stop quietly' : this.#onFailure(code);
    if (policy !== 'report') this.#halt();
    // A quiet stop is the normal end of the timer's job, not news: only a caller who asked for
    // errors hears of it (never of CLOSED: the caller closed the store).
    if (code === 'CLOSED' || (policy === 'stop quietly' && !this.#onError)) return;
    if (this.#onError) {
      try {
        this.#onError(error);
        return;
      } catch (callbackError) {
        error = callbackError;
      }
    }
    process.emitWarning(`${this.#warning.what} failed: ${(error as Error)?.message ?? String(error)}`, {
      type: this.#warning.type,
    });
  }
}
