// The SQL of PostgresEventLog, and how a batch of appends is numbered against the runs' rows.
import type { PostgresDatabase } from '../postgres/database.js';

/** What one transaction writes: the events with their cursors, the runs' new rows, and what is refused. */
export interface Plan<P> {
  events: { pending: P; cursor: number }[];
  runs: { runId: string; lastCursor: number; sealed: boolean }[];
  refused: P[];
}

/** Numbers each run's appends after its last cursor, refusing those after a terminal event (as the file log does). */
export function planBatch<P extends { terminal: boolean }>(
  byRun: ReadonlyMap<string, P[]>,
  rows: readonly { run_id: string; last_cursor: number; sealed: boolean }[],
): Plan<P> {
  const plan: Plan<P> = { events: [], runs: [], refused: [] };
  for (const row of rows) {
    let cursor = row.last_cursor;
    let sealed = row.sealed;
    for (const pending of byRun.get(row.run_id) ?? []) {
      if (sealed) {
        plan.refused.push(pending);
        continue;
      }
      plan.events.push({ pending, cursor: ++cursor });
      if (pending.terminal) sealed = true;
    }
    if (cursor !== row.last_cursor) plan.runs.push({ runId: row.run_id, lastCursor: cursor, sealed });
  }
  return plan;
}

/** The SQL of a log on `db`'s schema. `bigint` columns come back as `float8`, so as JS numbers. */
export function eventLogStatements(db: PostgresDatabase) {
  const logs = db.table('event_logs');
  const events = db.table('events');
  return {
    // Creates the runs' rows when missing and locks them, in one order in every instance (no deadlock).
    lockRuns: `INSERT INTO ${logs} AS l (run_id) SELECT r FROM unnest($1::text[]) AS r ORDER BY r
      ON CONFLICT (run_id) DO UPDATE SET last_cursor = l.last_cursor
      RETURNING run_id, last_cursor::float8 AS last_cursor, sealed`,
    write: `WITH logs AS (
        UPDATE ${logs} AS l SET last_cursor = v.last_cursor, sealed = v.sealed
        FROM unnest($1::text[], $2::bigint[], $3::boolean[]) AS v(run_id, last_cursor, sealed)
        WHERE l.run_id = v.run_id
      ), inserted AS (
        INSERT INTO ${events} (run_id, cursor, type, at, payload)
        SELECT r, c, t, a, p::jsonb FROM unnest($4::text[], $5::bigint[], $6::text[], $7::bigint[], $8::text[]) AS e(r, c, t, a, p)
      )
      SELECT pg_notify($9, n) FROM unnest($10::text[]) AS n`,
    // Cursors are 1…n with no gap, so the next `limit` events are exactly the range (after, after + limit]:
    // bounding it keeps the cost at `limit` rows whatever plan the planner picks (a bitmap scan and
    // a sort, with stale statistics, would otherwise read every event after `after`).
    read: `SELECT cursor::float8 AS cursor, type, at::float8 AS at, payload FROM ${events}
      WHERE run_id = $1 AND cursor > $2::bigint AND cursor <= $2::bigint + $3::bigint ORDER BY cursor LIMIT $3::bigint`,
    page: `SELECT l.last_cursor::float8 AS last_cursor, l.sealed, e.cursor::float8 AS cursor, e.type, e.at::float8 AS at, e.payload
      FROM ${logs} AS l LEFT JOIN LATERAL (
        SELECT cursor, type, at, payload FROM ${events}
        WHERE run_id = l.run_id AND cursor > $2::bigint AND cursor <= $2::bigint + $3::bigint ORDER BY cursor LIMIT $3::bigint
      ) AS e ON true
      WHERE l.run_id = $1 ORDER BY e.cursor`,
    logRow: `SELECT last_cursor::float8 AS last_cursor, sealed FROM ${logs} WHERE run_id = $1`,
    poll: `SELECT run_id, last_cursor::float8 AS last_cursor FROM ${logs} WHERE run_id = ANY($1::text[])`,
    runIds: `SELECT run_id FROM ${logs} ORDER BY run_id COLLATE "C"`,
    delete: `WITH d AS (DELETE FROM ${logs} WHERE run_id = $1 RETURNING run_id) SELECT pg_notify($2, $3) FROM d`,
    verifyStats: `SELECT count(*)::float8 AS events, coalesce(max(cursor), 0)::float8 AS last,
        coalesce(sum(pg_column_size(e.*)), 0)::float8 AS bytes,
        (SELECT type FROM ${events} WHERE run_id = $1 ORDER BY cursor DESC LIMIT 1) AS last_type
      FROM ${events} AS e WHERE run_id = $1`,
    verifyGap: `SELECT cursor::float8 AS cursor, prev::float8 AS prev FROM (
        SELECT cursor, lag(cursor, 1, 0::bigint) OVER (ORDER BY cursor) AS prev FROM ${events} WHERE run_id = $1
      ) AS s WHERE cursor <> prev + 1 ORDER BY cursor LIMIT 1`,
    verifyEarlyTerminal: `SELECT cursor::float8 AS cursor, type FROM ${events}
      WHERE run_id = $1 AND type = ANY($2::text[]) AND cursor < $3 ORDER BY cursor LIMIT 1`,
    repairLog: `UPDATE ${logs} SET last_cursor = $2, sealed = $3 WHERE run_id = $1`,
  };
}
