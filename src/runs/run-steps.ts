// The steps a run store takes on one run while it holds that run (its file lock, or its row lock
// in a transaction): ending it, finishing it from its sealed log, and judging it in a cleanup pass.
// Both stores run these very steps; each says only how to read, write and remove the run.
import { LockError, NotFoundError, StoreError } from '../storage/errors.js';
import type { RunEventSink } from './run-event-sink.js';
import {
  abandonedRun,
  checkEnd,
  contradictsLog,
  type Ending,
  endedRun,
  finishedFromLog,
  isCode,
  isExpired,
  isStaleAt,
  staleError,
  TERMINAL_EVENT,
  terminalEvent,
} from './run-rules.js';
import { type AnalysisRun, isTerminalStatus } from './schemas.js';

/** What a store gives the steps: its event log, its clock and its `updatedAt` stamps. */
export interface RunStepContext {
  events: RunEventSink | undefined;
  /** One checked clock reading. */
  now(): number;
  /** The next `updatedAt` of a run whose record holds `floor`, at `now`. */
  stamp(floor: number, now: number): number;
}

/** A run the store holds: its record as it is now, and how to change it. */
export interface HeldRun {
  current: AnalysisRun;
  /** Writes the record `next` builds from the latest one (with any heartbeat since), and returns it. */
  write(next: (latest: AnalysisRun) => AnalysisRun): Promise<AnalysisRun>;
  /** Removes the run's record. */
  remove(): Promise<void>;
}

/**
 * Ends a held live run: its terminal event first (when a log is attached), then the record. When
 * the log already ended (an earlier attempt appended its event, then failed before the record),
 * the record follows the log; the ending asked for is refused if the log says otherwise. The
 * refusal is returned, not thrown, so that a store can keep the repaired record and then throw.
 * @throws IllegalTransitionError when the run already finished; whatever the append throws.
 */
export async function endHeldRun(
  context: RunStepContext,
  run: HeldRun,
  ending: Ending,
): Promise<{ run: AnalysisRun } | { refused: StoreError }> {
  const { to, payload } = ending;
  checkEnd(run.current, to);
  // Read (and check) the clock before the terminal event: a bad reading must change nothing.
  const completedAt = context.now();
  if (context.events) {
    try {
      await context.events.append(run.current.runId, { type: TERMINAL_EVENT[to], payload });
    } catch (error) {
      if (!isCode(error, 'SEALED')) throw error;
      // The log is what clients saw, so the record follows it.
      const repaired = await finishHeldRunFromLog(context, run);
      return repaired.status === to ? { run: repaired } : { refused: contradictsLog(repaired, to) };
    }
  }
  return {
    run: await run.write((latest) =>
      endedRun(latest, ending, completedAt, context.stamp(latest.updatedAt, completedAt)),
    ),
  };
}

/** Finishes a held live run as its sealed event log says it ended. */
export async function finishHeldRunFromLog(context: RunStepContext, run: HeldRun): Promise<AnalysisRun> {
  const runId = run.current.runId;
  if (!context.events) throw new StoreError('CORRUPT', `run '${runId}' has no event log to finish it from`);
  const now = context.now();
  const terminal = await terminalEvent(context.events, runId);
  return run.write((latest) => finishedFromLog(latest, terminal, now, context.stamp(latest.updatedAt, now)));
}

/**
 * Cleanup's judgement of a live run, taken again once it is held (`undefined`: it is gone):
 * finished meanwhile, or sealed by its log (then finished from it) → `finished`; fresh → `kept`;
 * stale → `abandoned`: failed with `heartbeat_stale`, its terminal `error` event appended first.
 * A log another live process holds means that process is alive: `kept`.
 */
export async function sweepHeldLiveRun(
  context: RunStepContext,
  run: HeldRun | undefined,
  now: number,
  staleAfterMs: number,
): Promise<'kept' | 'abandoned' | 'finished' | 'gone'> {
  if (!run) return 'gone';
  const { current } = run;
  if (isTerminalStatus(current.status)) return 'finished';
  if (context.events && (await context.events.isSealed(current.runId))) {
    await finishHeldRunFromLog(context, run);
    return 'finished';
  }
  if (!isStaleAt(current, now, staleAfterMs)) return 'kept';
  const stampNow = context.now();
  const error = staleError(current, now, staleAfterMs);
  if (context.events) {
    try {
      await context.events.append(current.runId, { type: 'error', payload: error });
    } catch (appendError) {
      // A live process still writes this run's log (it holds the log's writer lock): it is
      // not dead, only slow to beat. Leave it; a dead writer's lock is taken over at once.
      if (appendError instanceof LockError) return 'kept';
      if (!isCode(appendError, 'SEALED')) throw appendError;
      await finishHeldRunFromLog(context, run);
      return 'finished';
    }
  }
  await run.write((latest) => abandonedRun(latest, error, now, context.stamp(latest.updatedAt, stampNow)));
  return 'abandoned';
}

/**
 * Cleanup's judgement of a finished run, taken again once it is held (`undefined`: it is gone):
 * past retention → its event log, then its record, are removed (`deleted`); otherwise `kept`.
 * A log another process still holds is left for the next pass (`kept`).
 */
export async function sweepHeldFinishedRun(
  context: RunStepContext,
  run: HeldRun | undefined,
  now: number,
  retentionMs: number,
): Promise<'kept' | 'deleted' | 'gone'> {
  if (!run) return 'gone';
  if (!isExpired(run.current, now, retentionMs)) return 'kept';
  // The log first: a crash in between leaves a record whose log is gone, deleted next time;
  // the other order could leave a log nothing points to.
  try {
    await context.events?.delete(run.current.runId);
  } catch (error) {
    if (error instanceof LockError) return 'kept';
    throw error;
  }
  await run.remove();
  return 'deleted';
}

/** `run`, or NotFoundError when there is none. */
export function requireHeld(runId: string, run: HeldRun | undefined): HeldRun {
  if (!run) throw new NotFoundError('run', runId);
  return run;
}
