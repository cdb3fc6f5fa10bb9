import type { EventInput } from './events-data.js';
import {
  createEventsTable,
  eventStatements,
  reopenSqlite,
  type SqliteDatabase,
  type SqliteStatement,
  type Synchronous,
} from './peers/sqlite.js';

/** An event as the SQLite peer returns it: the same shape `AgentEventLog.read` yields. */
export interface PeerEvent {
  runId: string;
  cursor: number;
  type: string;
  at: number;
  payload: unknown;
}

/**
 * The peer the event log is measured against: SQLite through better-sqlite3 in WAL mode, one table
 * `agent_events(run_id, cursor, event_type, payload_json, created_at, PRIMARY KEY(run_id, cursor))`,
 * written and read the way a straightforward SQLite-backed event log would: one autocommit insert
 * per append (the cursor kept in memory by the single writer, the payload serialised per event),
 * reads by primary key with `JSON.parse` of the payload.
 */
export class SqliteEventPeer {
  readonly #db: SqliteDatabase;
  readonly #insert: SqliteStatement;
  readonly #after: SqliteStatement;
  readonly #scan: SqliteStatement;
  readonly #last = new Map<string, number>();

  constructor(file: string, synchronous: Synchronous = 'FULL') {
    this.#db = reopenSqlite(file, synchronous);
    createEventsTable(this.#db);
    const statements = eventStatements(this.#db);
    this.#insert = statements.insert;
    this.#after = statements.firstAfter;
    this.#scan = statements.scanAfter.raw(true);
  }

  /** Sets the synchronous level of the connection (`FULL` fsyncs the WAL at every commit, `NORMAL` does not). */
  synchronous(level: Synchronous): void {
    this.#db.pragma(`synchronous = ${level}`);
  }

  /** One autocommit insert: the peer's `append`. */
  append(runId: string, event: EventInput): number {
    const cursor = (this.#last.get(runId) ?? 0) + 1;
    this.#insert.run(runId, cursor, event.type, JSON.stringify(event.payload), Date.now());
    this.#last.set(runId, cursor);
    return cursor;
  }

  /** Writes `count` events to `runId` in one transaction: only for building the large read fixtures fast. */
  bulkAppend(runId: string, count: number, eventAt: (i: number) => EventInput): void {
    this.#db.transaction(() => {
      for (let i = 0; i < count; i++) this.append(runId, eventAt(i));
    })();
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** The first event after `after`, parsed, or `undefined`: the peer's reconnect. */
  firstAfter(runId: string, after: number): PeerEvent | undefined {
    const row = this.#after.get(runId, after) as
      | { cursor: number; event_type: string; payload_json: string; created_at: number }
      | undefined;
    if (row === undefined) return undefined;
    return {
      runId,
      cursor: row.cursor,
      type: row.event_type,
      at: row.created_at,
      payload: JSON.parse(row.payload_json),
    };
  }

  /** Every event after `after` in cursor order, parsed: the peer's replay. */
  *read(runId: string, after = 0): Generator<PeerEvent> {
    for (const raw of this.#scan.iterate(runId, after)) {
      const [cursor, type, payloadJson, at] = raw as [number, string, string, number];
      yield { runId, cursor, type, at, payload: JSON.parse(payloadJson) };
    }
  }

  close(): void {
    this.#db.close();
  }
}
