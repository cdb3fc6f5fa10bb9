/**
 * The part of an event log the run store uses: `AgentEventLog` satisfies it. Kept narrow so the
 * run store can be tested against a fake and never depends on how the log is stored.
 */
export interface RunEventSink {
  /** Appends one event; rejects with a `SEALED` error once the run's log ended with a terminal event. */
  append(runId: string, event: { type: string; payload?: unknown }): Promise<unknown>;
  /** True once the run's log ends with a terminal event. */
  isSealed(runId: string): Promise<boolean> | boolean;
  /** Cursor of the run's last event, 0 when it has none. */
  lastCursor(runId: string): Promise<number> | number;
  /** Events with a cursor greater than `after`, oldest first. */
  read(
    runId: string,
    options?: { after?: number; limit?: number },
  ): AsyncIterable<{ type: string; payload: unknown; at: number; cursor: number }>;
  /** Removes the run's log; no error when there is none. */
  delete(runId: string): Promise<unknown>;
}
