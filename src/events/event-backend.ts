import type { AgentEvent, EventLogVerifyReport } from './agent-event.js';

/** Where a run's log ends: its last complete event. */
export interface RunTail {
  /** 0 when the run has no event. */
  lastCursor: number;
  lastType: string | undefined;
}

/**
 * An event ready to be written: its line is `{"cursor":<cursor>` followed by `tail`
 * (`,"type":…,"at":…,"payload":…}\n`), built once by the log while validating.
 */
export interface PreparedEvent {
  cursor: number;
  tail: string;
}

/**
 * Storage of an {@link AgentEventLog}: NDJSON files with an offset index, or memory. The log
 * above it owns validation, cursors, sealing, group commit and followers; a backend stores lines.
 */
export interface EventBackend {
  /**
   * Prepares a run for appending: takes its writer lock, repairs what a crash left, and returns
   * where it ends. Called once per run (again after a failed write, to re-read the state from disk).
   */
  openForAppend(runId: string): Promise<RunTail>;
  /**
   * Appends `events` (whose cursors continue the run) with one write, and with `sync` one fsync.
   * On failure nothing of the batch counts: the run must be opened again before the next write.
   */
  write(runId: string, events: readonly PreparedEvent[], sync: boolean): void;
  /**
   * Like `write(runId, events, true)`, but the fsync runs off the event loop, so that the runs of
   * one batch are made durable together. Throws when the write fails; the promise rejects when the
   * fsync does (the batch is then cut back). The log starts nothing else on the run meanwhile.
   * Optional: backends without it are written with `write`.
   */
  writeAsync?(runId: string, events: readonly PreparedEvent[]): Promise<void>;
  /** Stops writing the run: releases its lock and handles. No-op when it is not open. */
  closeRun(runId: string): Promise<void>;
  /** Events with cursor > `after`, at most `limit`; reads lazily, in chunks. */
  read(runId: string, after: number, limit: number): Iterable<AgentEvent>;
  /** The run's last complete event as stored (never repairs); `undefined` when the run does not exist. */
  tail(runId: string): RunTail | undefined;
  exists(runId: string): boolean;
  /** Calls `onChange` when another process may have appended to (or deleted) the run. Returns the stop function. */
  watch(runId: string, onChange: () => void): () => void;
  runIds(): string[];
  /** Removes the run's files (under its lock). Returns false when there was nothing to remove. */
  delete(runId: string): Promise<boolean>;
  verify(runId: string, repair: boolean): Promise<EventLogVerifyReport>;
  /** Releases every lock and handle. */
  close(): Promise<void>;
}
