/** What one appended event looks like in the event-log benchmarks: the same for our log and for SQLite. */
export interface EventInput {
  type: string;
  payload: unknown;
}

const TYPES = ['step_started', 'tool_call', 'tool_result', 'step_progress', 'message_delta'] as const;

/**
 * The `i`-th event of a benchmark run: a typical progress event of an analysis agent whose NDJSON
 * line (`{ cursor, type, at, payload }`) is about 200 bytes. Generated on demand so that building a
 * million-event log does not hold a million payloads in the bench process. Never a terminal type.
 */
export function eventInput(i: number): EventInput {
  return {
    type: TYPES[i % TYPES.length]!,
    payload: {
      step: i % 97,
      tool: 'warehouse.sql.query',
      text: `scanned partition ${i % 64} of 64 in orders_2024; ${(i * 7919) % 100_000} rows matched so far`,
      progress: (i % 1000) / 1000,
      tokens: i % 4096,
    },
  };
}
