/** One step of the library's database schema. Applied once, in `id` order, never edited after release. */
export interface Migration {
  /** 1, 2, 3… in the order they apply. */
  readonly id: number;
  /** What the step does, stored beside its id. */
  readonly name: string;
  /** The DDL, given the quoted schema name to qualify every table with. */
  sql(schema: string): string;
}

/**
 * Every migration, oldest first. Append new ones; never change one that has shipped (databases
 * that applied it would not see the change).
 *
 * Migration 1 lays out the four stores. Times are epoch milliseconds (`bigint`), as in the
 * records; each record is kept whole as `jsonb`, with the columns the stores filter or sort on
 * beside it.
 * - `event_logs`: one row per run with a log: the last cursor handed out and whether a terminal
 *   event sealed it. Appenders take the next cursors by updating this row, so its row lock orders
 *   them across instances and cursors have no gap (a sequence would skip numbers after a rollback).
 * - `events`: one row per event, found by `(run_id, cursor)`.
 * - `runs`: one row per run: status, the times `cleanup` and `list` look at, and the record.
 * - `memory_entries` and `memory_promotion_audit`: memory entries by id, and the audit log in order.
 * - `pipeline_entries`: feedback pipeline entries by id.
 * - `stamps`: the last `updatedAt` handed out per store, so that it increases strictly across every
 *   instance, kept by the database rather than each process's clock.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'event log, runs, memory, pipeline and stamps',
    sql: (s) => `
CREATE TABLE ${s}.event_logs (
  run_id text PRIMARY KEY,
  last_cursor bigint NOT NULL DEFAULT 0 CHECK (last_cursor >= 0),
  sealed boolean NOT NULL DEFAULT false
);

CREATE TABLE ${s}.events (
  run_id text NOT NULL REFERENCES ${s}.event_logs (run_id) ON DELETE CASCADE,
  cursor bigint NOT NULL CHECK (cursor > 0),
  type text NOT NULL,
  at bigint NOT NULL,
  payload jsonb NOT NULL,
  PRIMARY KEY (run_id, cursor)
);

CREATE TABLE ${s}.runs (
  run_id text PRIMARY KEY,
  status text NOT NULL,
  session_id text NOT NULL,
  tenant_id text,
  workspace_id text,
  created_at bigint NOT NULL,
  heartbeat_at bigint,
  updated_at bigint NOT NULL,
  record jsonb NOT NULL
);
CREATE INDEX runs_created_idx ON ${s}.runs (created_at, run_id);
CREATE INDEX runs_status_idx ON ${s}.runs (status, created_at);
CREATE INDEX runs_session_idx ON ${s}.runs (session_id, created_at);

CREATE TABLE ${s}.memory_entries (
  entry_id text PRIMARY KEY,
  scope text NOT NULL,
  project_key text,
  entry jsonb NOT NULL
);

CREATE TABLE ${s}.memory_promotion_audit (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  entry_id text NOT NULL,
  audit jsonb NOT NULL
);

CREATE TABLE ${s}.pipeline_entries (
  entry_id text PRIMARY KEY,
  stage text NOT NULL,
  updated_at bigint NOT NULL,
  entry jsonb NOT NULL
);
CREATE INDEX pipeline_updated_idx ON ${s}.pipeline_entries (updated_at DESC);

CREATE TABLE ${s}.stamps (
  store text PRIMARY KEY,
  last_ms bigint NOT NULL
);
`,
  },
];
