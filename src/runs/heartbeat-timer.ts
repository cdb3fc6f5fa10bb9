import { PeriodicTask } from './periodic-task.js';

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
