import type { z } from 'zod';
import type { StoreError } from '../storage/errors.js';
import type { AnalysisRun } from './schemas.js';

/** Told about a run file a listing could not read and skipped. */
export type OnUnreadable = (runId: string, file: string, error: StoreError) => void;

/** What a heartbeat writes: the only fields that change without the run's lock. */
export interface Beat {
  heartbeatAt: number;
  updatedAt: number;
  heartbeatDetails?: z.core.util.JSONType;
}

/** Returned by {@link RunBackend.beat} when a completion fenced the beat off while it was written. */
export const FENCED = Symbol('fenced');

/**
 * Returned by {@link RunBackend.beat} when the live run has no beat file right now: a status
 * change holds it, or crashed half-way. Take the run's lock, call {@link RunBackend.restoreBeat}, beat again.
 */
export const BUSY = Symbol('busy');

/**
 * Where an {@link AnalysisRunStore} keeps its records: files (`FileRunBackend`) or memory
 * (`MemoryRunBackend`, behind `inMemory()`). The store owns the rules (transitions, stamps, events);
 * a backend owns only storage. Methods marked "under the lock" are called with `lock(runId)` held.
 */
export interface RunBackend {
  /** The run as stored now (a finished record wins over a leftover live one), or `undefined`. */
  get(runId: string): AnalysisRun | undefined;
  /** Serialises status changes of one run, across processes. Resolves to the release function. */
  lock(runId: string, waitMs?: number): Promise<() => Promise<void>>;
  /** Stores a new pending run. Under the lock, after checking that the id is free. */
  create(run: AnalysisRun): Promise<void>;
  /**
   * Replaces a live run's record durably with `build(latest)` (a status change such as `start`),
   * where `latest` includes every beat that was acknowledged. Under the lock.
   */
  update(runId: string, build: (latest: AnalysisRun) => AnalysisRun): Promise<AnalysisRun>;
  /**
   * Writes a heartbeat without the lock. `next` gets the current record (or `undefined`) and
   * returns the beat, or throws to refuse. Returns the record with the beat applied,
   * {@link FENCED} when a completion took the run while the beat was being written, or
   * {@link BUSY} (see there).
   */
  beat(runId: string, next: (current: AnalysisRun | undefined) => Beat): AnalysisRun | typeof FENCED | typeof BUSY;
  /** Gives a live run without a beat file (a status change crashed half-way) a new, empty one. Under the lock. */
  restoreBeat(runId: string): Promise<void>;
  /**
   * Ends a live run: stops further beats, then durably stores `build(latest)`, where `latest`
   * includes every beat that was acknowledged. Under the lock. On failure the run is as it was.
   */
  finish(runId: string, build: (latest: AnalysisRun) => AnalysisRun): Promise<AnalysisRun>;
  /** Removes a run's record and beat file, live or finished. Under the lock. */
  remove(runId: string): Promise<void>;
  /** Every live (pending or running) run. Never reads finished runs. Files it cannot read go to `skip`. */
  listActive(skip: OnUnreadable): AnalysisRun[];
  /** Every finished run. Files it cannot read go to `skip`. */
  listDone(skip: OnUnreadable): AnalysisRun[];
  /** Ids of runs with leftovers of an interrupted operation that {@link tidy} should remove. */
  leftovers(): string[];
  /** Removes the run's leftovers, if it still has any. Under the lock. */
  tidy(runId: string): Promise<void>;
  /** Releases open handles. */
  close(): Promise<void>;
}
