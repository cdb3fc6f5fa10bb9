import { assertValidId } from '../storage/ids.js';
import { parseOptions } from '../storage/validate.js';
import { PeriodicTask } from './periodic-task.js';
import { type StartHeartbeatOptions, StartHeartbeatOptionsSchema } from './schemas.js';

/** What {@link AnalysisRunStore.startHeartbeat} returns. */
export interface HeartbeatHandle {
  /** Stops the timer and resolves once a beat that was in flight has settled. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Beats every `intervalMs`, the first beat at once (the run is marked alive from the moment its
 * timer starts), as a {@link PeriodicTask}. When the run is finished or gone
 * (`ILLEGAL_TRANSITION`, `NOT_FOUND`) there is nothing left to keep alive, so the timer stops
 * itself after reporting it; a finished run is not worth a process warning, so without `onError`
 * that stop is silent.
 */
export function startHeartbeatTimer(options: {
  beat: () => Promise<unknown>;
  intervalMs: number;
  onError?: ((error: unknown) => void) | undefined;
  onStop: () => void;
}): PeriodicTask<unknown> {
  return new PeriodicTask({
    task: options.beat,
    everyMs: options.intervalMs,
    onError: options.onError,
    onStop: options.onStop,
    onFailure: (code) => (code === 'ILLEGAL_TRANSITION' ? 'stop quietly' : code === 'NOT_FOUND' ? 'stop' : 'report'),
    warning: { what: 'heartbeat', type: 'AgentStoresHeartbeatWarning' },
  });
}

/**
 * What a run store's `startHeartbeat(runId, options)` does once the store is open: checks its
 * arguments, starts a heartbeat timer that calls `beat`, and keeps it in `timers` until it stops
 * (so that `close()` can stop it).
 * @throws InvalidIdError, ValidationError (intervalMs not a positive integer)
 */
export function startRunHeartbeat(
  timers: Set<HeartbeatHandle>,
  runId: string,
  options: StartHeartbeatOptions,
  beat: () => Promise<unknown>,
): HeartbeatHandle {
  assertValidId(runId, 'runId');
  const { intervalMs, onError } = parseOptions(StartHeartbeatOptionsSchema, options, 'heartbeat options');
  const timer: HeartbeatHandle = startHeartbeatTimer({ beat, intervalMs, onError, onStop: () => timers.delete(timer) });
  timers.add(timer);
  return timer;
}
