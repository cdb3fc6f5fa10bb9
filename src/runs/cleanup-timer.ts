import { parseOptions } from '../storage/validate.js';
import { PeriodicTask } from './periodic-task.js';
import {
  type CleanupOptions,
  type CleanupReport,
  type StartCleanupOptions,
  StartCleanupOptionsSchema,
} from './schemas.js';

/** What {@link AnalysisRunStore.startCleanup} returns. */
export interface CleanupHandle {
  /** Stops the timer and resolves once a pass that was in flight has settled. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Runs a cleanup pass at once and then every `everyMs`, as a {@link PeriodicTask}: each report
 * goes to `onResult`; a failed pass goes to `onError` (or becomes a process warning) and the
 * timer goes on.
 */
export function startCleanupTimer(options: {
  pass: () => Promise<CleanupReport>;
  everyMs: number;
  onResult?: ((report: CleanupReport) => void) | undefined;
  onError?: ((error: unknown) => void) | undefined;
  onStop: () => void;
}): PeriodicTask<CleanupReport> {
  return new PeriodicTask({
    task: options.pass,
    everyMs: options.everyMs,
    onResult: options.onResult,
    onError: options.onError,
    onStop: options.onStop,
    warning: { what: 'cleanup', type: 'AgentStoresCleanupWarning' },
  });
}

/**
 * What a run store's `startCleanup(options)` does once the store is open: checks the options,
 * starts a cleanup timer whose passes call `cleanup`, and keeps it in `timers` until it stops.
 * @throws ValidationError for bad options.
 */
export function startRunCleanup(
  timers: Set<CleanupHandle>,
  options: StartCleanupOptions,
  cleanup: (options: CleanupOptions) => Promise<CleanupReport>,
): CleanupHandle {
  const { everyMs, retentionMs, staleAfterMs, onResult, onError } = parseOptions(
    StartCleanupOptionsSchema,
    options,
    'cleanup timer options',
  );
  const timer: CleanupHandle = startCleanupTimer({
    pass: () => cleanup(staleAfterMs === undefined ? { retentionMs } : { retentionMs, staleAfterMs }),
    everyMs,
    onResult,
    onError,
    onStop: () => timers.delete(timer),
  });
  timers.add(timer);
  return timer;
}
