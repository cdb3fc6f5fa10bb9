import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The SQLite peer (better-sqlite3, WAL mode), the database an agent backend would otherwise use.
 *
 * better-sqlite3 lives in `bench/node_modules` (installed by `npm --prefix bench ci`), not in the
 * library's own install, so it is loaded at run time and typed here by the few calls the bench
 * makes: the root typecheck then passes on a clone where the bench peers are not installed.
 */

/** SQLite's `PRAGMA synchronous` level: `FULL` syncs every commit, `NORMAL` (in WAL) only at checkpoints. */
export type Synchronous = 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';

export interface SqliteRunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

export interface SqliteStatement {
  run(...params: unknown[]): SqliteRunResult;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
  /** Rows as arrays instead of objects (cheaper), for the statements that return rows. */
  raw(toggle?: boolean): SqliteStatement;
}

export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): SqliteDatabase;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  /** Wraps `fn` in BEGIN/COMMIT (one sync per call under `FULL`). */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  close(): void;
}

type DatabaseConstructor = new (file: string, options?: { readonly?: boolean }) => SqliteDatabase;

let Database: DatabaseConstructor | undefined;

function loadDriver(): DatabaseConstructor {
  Database ??= createRequire(import.meta.url)('better-sqlite3') as DatabaseConstructor;
  return Database;
}

/** An open peer database in a directory of its own; `close()` closes it and removes the directory. */
export interface SqlitePeer {
  readonly db: SqliteDatabase;
  readonly dir: string;
  readonly file: string;
  /** Closes the database and, if the peer created its directory, removes it. */
  close(): void;
}

export interface OpenSqliteOptions {
  synchronous: Synchronous;
  /** Directory for the database file. @defaultValue a new temporary directory, removed by `close()` */
  dir?: string;
  /** @defaultValue 'peer.db' */
  name?: string;
}

/** Opens (creating) a WAL-mode database with the given `synchronous` level. */
export function openSqlite(options: OpenSqliteOptions): SqlitePeer {
  const Driver = loadDriver();
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'agent-stores-bench-sqlite-'));
  const file = path.join(dir, options.name ?? 'peer.db');
  const db = new Driver(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous}`);
  return {
    db,
    dir,
    file,
    close() {
      db.close();
      if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Reopens an existing database file (e.g. for a cold read after building it), WAL, given `synchronous`. */
export function reopenSqlite(file: string, synchronous: Synchronous): SqliteDatabase {
  const db = new (loadDriver())(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  return db;
}

/** The event-log peer table of issue 3. */
export function createEventsTable(db: SqliteDatabase): void {
  db.exec(`CREATE TABLE IF NOT EXISTS agent_events (
    run_id TEXT NOT NULL,
    cursor INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, cursor)
  )`);
}

/** Prepared statements over `agent_events`, the way an application would use the table. */
export interface EventStatements {
  /** `(run_id, cursor, event_type, payload_json, created_at)` */
  insert: SqliteStatement;
  /** First event after a cursor: `(run_id, after)` → row or `undefined`. */
  firstAfter: SqliteStatement;
  /** Every event after a cursor, in order: `(run_id, after)`. */
  scanAfter: SqliteStatement;
}

export function eventStatements(db: SqliteDatabase): EventStatements {
  return {
    insert: db.prepare(
      'INSERT INTO agent_events (run_id, cursor, event_type, payload_json, created_at) VALUES (?, ?, ?, ?, ?)',
    ),
    firstAfter: db.prepare(
      'SELECT cursor, event_type, payload_json, created_at FROM agent_events WHERE run_id = ? AND cursor > ? ORDER BY cursor LIMIT 1',
    ),
    scanAfter: db.prepare(
      'SELECT cursor, event_type, payload_json, created_at FROM agent_events WHERE run_id = ? AND cursor > ? ORDER BY cursor',
    ),
  };
}

/** The run-record peer table of issue 4: one row per run, the record's fields as columns. */
export function createRunsTable(db: SqliteDatabase): void {
  db.exec(`CREATE TABLE IF NOT EXISTS analysis_runs (
    run_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    question TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    completed_at INTEGER,
    heartbeat_at INTEGER,
    heartbeat_details TEXT,
    updated_at INTEGER NOT NULL,
    result_json TEXT,
    error_json TEXT
  )`);
  db.exec('CREATE INDEX IF NOT EXISTS analysis_runs_status ON analysis_runs (status)');
}

/** Prepared statements over `analysis_runs`. */
export interface RunStatements {
  /** `(run_id, session_id, question, status, created_at, updated_at)` */
  insert: SqliteStatement;
  /** `UPDATE analysis_runs SET heartbeat_at=?, updated_at=? WHERE run_id=?` */
  heartbeat: SqliteStatement;
  /** `UPDATE analysis_runs SET heartbeat_at=?, updated_at=?, heartbeat_details=? WHERE run_id=?` */
  heartbeatWithDetails: SqliteStatement;
  /** Runs with a status: `(status)`. */
  byStatus: SqliteStatement;
}

export function runStatements(db: SqliteDatabase): RunStatements {
  return {
    insert: db.prepare(
      'INSERT INTO analysis_runs (run_id, session_id, question, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    heartbeat: db.prepare('UPDATE analysis_runs SET heartbeat_at = ?, updated_at = ? WHERE run_id = ?'),
    heartbeatWithDetails: db.prepare(
      'UPDATE analysis_runs SET heartbeat_at = ?, updated_at = ?, heartbeat_details = ? WHERE run_id = ?',
    ),
    byStatus: db.prepare('SELECT * FROM analysis_runs WHERE status = ?'),
  };
}
