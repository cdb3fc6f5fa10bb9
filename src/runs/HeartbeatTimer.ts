import type { StoreError } from '../storage/errors.js';

/** What {@link AnalysisRunStore.startHeartbeat} returns. */
export interface HeartbeatHandle {
  /** Stops the timer and resolves once a beat that was in flight has settled. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Beats every `intervalMs` on an unref'd timer (it never keeps the process alive), one beat at a
 * time: a tick that finds the previous beat still in flight is skipped rather than queued.
 *
 * A failed beat is reported to `onError`, or as a process warning when there is none — never as
 * an unhandled rejection. When the run is finished or gone (`ILLEGAL_TRANSITION`, `NOT_FOUND`)
 * there is nothing left to keep alive, so the timer stops itself after reporting it; a finished
 * run is not worth a process warning, so without `onError` that stop is silent.
 */
export class HeartbeatTimer implements HeartbeatHandle {
  readonly #beat: () => Promise<unknown>;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #onStop: () => void;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #stopped = false;

  constructor(options: {
    beat: () => Promise<unknown>;
    intervalMs: number;
    onError?: ((error: unknown) => void) | undefined;
    onStop: () => void;
  }) {
    this.#beat = options.beat;
    this.#onError = options.onError;
    this.#onStop = options.onStop;
    this.#timer = setInterval(() => this.#tick(), options.intervalMs);
    this.#timer.unref();
    // Beat at once: the run is marked alive from the moment its timer starts.
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
    this.#inFlight = this.#beat()
      .then(
        () => {},
        (error: unknown) => this.#report(error),
      )
      .finally(() => {
        this.#inFlight = undefined;
      });
  }

  #report(error: unknown): void {
    const code = (error as StoreError | undefined)?.code;
    // The store was closed under a beat in flight: the timer is being stopped anyway.
    if (code === 'CLOSED') {
      this.#halt();
      return;
    }
    if (code === 'ILLEGAL_TRANSITION' || code === 'NOT_FOUND') this.#halt();
    // A run that finished while its timer ran is the normal end of the timer's job, not news:
    // only a caller who asked for errors hears of it.
    if (code === 'ILLEGAL_TRANSITION' && !this.#onError) return;
    if (this.#onError) {
      try {
        this.#onError(error);
        return;
      } catch (callbackError) {
        error = callbackError;
      }
    }
    process.emitWarning(`heartbeat failed: ${(error as Error)?.message ?? String(error)}`, {
      type: 'AgentStoresHeartbeatWarning',
    });
  }
}
