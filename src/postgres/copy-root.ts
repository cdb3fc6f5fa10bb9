import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PoolClient } from 'pg';
import { STORE_FILE_NAMES, type Stores } from '../create-stores.js';
import type { AgentEvent } from '../events/agent-event.js';
import { DEFAULT_TERMINAL_TYPES } from '../events/agent-event-log.js';
import type { AnalysisRun } from '../runs/schemas.js';
import { ConflictError } from '../storage/errors.js';
import type { PostgresDatabase } from './database.js';

/** Events copied per transaction: a copy killed half-way keeps every whole chunk it committed. */
const EVENT_CHUNK = 2_000;

/** Run records copied per statement. */
const RUN_CHUNK = 500;

/** Counts of one kind of record after a copy. */
export interface CopyCount {
  /** Records in the file root. */
  files: number;
  /** Of those, how many PostgreSQL holds now (equal to `files` when the copy is complete). */
  postgres: number;
  /** How many this call wrote (0 for all on a re-run that found nothing missing). */
  copied: number;
}

/** What {@link copyRootToPostgres} did. */
export interface CopyReport {
  runs: CopyCount;
  events: CopyCount;
  memoryEntries: CopyCount;
  promotionAudit: CopyCount;
  pipelineEntries: CopyCount;
  /** Runs that were pending or running in the file root (copied only with `includeLive`). */
  live: string[];
  /** True when every count matches on both sides. */
  complete: boolean;
}

/** Options of {@link copyRootToPostgres}. */
export interface CopyRootOptions {
  /** The stores on the file root to copy (read only: nothing in the root changes). */
  from: Stores;
  /** The root's directory, for the pipeline's high-water mark. */
  root: string;
  /** The database to copy into (migrated on first use). */
  to: PostgresDatabase;
  /** Copy runs that are still pending or running. @defaultValue false: refuse them */
  includeLive?: boolean;
  /** Told how far the copy got: records and events done, out of the total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Copies a file-backed root into PostgreSQL: every run record, every run's events (cursors and
 * times as they are), memory entries with their promotion audit, and pipeline entries, plus the
 * pipeline's stamp, so that its `updatedAt` keeps increasing above every value the file handed out
 * (a run's `updatedAt` is kept above its own record's by the run store).
 *
 * Idempotent and resumable: what PostgreSQL already has is not written again, and events are
 * copied in chunks of {@link EVENT_CHUNK}, each committed with the log's row, so a copy killed
 * half-way and started again copies only what is missing. A run record already in PostgreSQL is
 * replaced only by a newer one (`updatedAt`); memory and pipeline entries already there are kept.
 *
 * @throws ConflictError when the root has pending or running runs and `includeLive` is not set
 *   (nothing is copied): an instance may still be writing them.
 */
export async function copyRootToPostgres(options: CopyRootOptions): Promise<CopyReport> {
  const { from, to } = options;
  const runs = await from.runs.list({ order: 'oldest' });
  const live = runs.filter((run) => run.status === 'pending' || run.status === 'running').map((run) => run.runId);
  if (live.length > 0 && !options.includeLive) {
    const shown = live.slice(0, 5).join(', ') + (live.length > 5 ? `, … (${live.length} in all)` : '');
    throw new ConflictError(
      `the root has runs that are still pending or running (${shown}): an instance may still be appending to them, and events written after the copy would be missing from PostgreSQL. Stop the instances and run cleanup first, or pass --include-live to copy them as they are now (run the copy again later to bring their new events over)`,
    );
  }
  const runIds = [...new Set([...runs.map((run) => run.runId), ...(await from.events.runIds())])].sort();
  const memoryEntries = await from.memory.list();
  const audit = await from.memory.promotionAudit();
  const pipelineEntries = await from.pipeline.list();

  // What PostgreSQL already has of each log, to copy only the events after it.
  const have = new Map<string, number>();
  for (const row of await to.query<{ run_id: string; last_cursor: number }>(
    'reading the copied logs',
    `SELECT run_id, last_cursor::float8 AS last_cursor FROM ${to.table('event_logs')} WHERE run_id = ANY($1)`,
    [runIds],
  )) {
    have.set(row.run_id, row.last_cursor);
  }
  const fileLast = new Map<string, number>();
  let missingEvents = 0;
  for (const runId of runIds) {
    const last = await from.events.lastCursor(runId);
    fileLast.set(runId, last);
    missingEvents += Math.max(0, last - (have.get(runId) ?? 0));
  }

  const total = runs.length + memoryEntries.length + audit.length + pipelineEntries.length + missingEvents;
  let done = 0;
  const progress = (count: number) => {
    done += count;
    options.onProgress?.(done, total);
  };
  options.onProgress?.(0, total);

  const copied = { runs: 0, events: 0, memoryEntries: 0, promotionAudit: 0, pipelineEntries: 0 };

  for (let start = 0; start < runs.length; start += RUN_CHUNK) {
    const chunk = runs.slice(start, start + RUN_CHUNK);
    copied.runs += await to.transaction('copying run records', (client) => copyRuns(to, client, chunk));
    progress(chunk.length);
  }

  const terminal = new Set<string>(DEFAULT_TERMINAL_TYPES);
  for (const runId of runIds) {
    let after = have.get(runId) ?? 0;
    const last = fileLast.get(runId) ?? 0;
    while (after < last) {
      const chunk: AgentEvent[] = [];
      for await (const event of from.events.read(runId, { after, limit: EVENT_CHUNK })) chunk.push(event);
      if (chunk.length === 0) break;
      await to.transaction(`copying the events of run '${runId}'`, (client) =>
        copyEvents(to, client, runId, chunk, terminal),
      );
      after = chunk[chunk.length - 1]!.cursor;
      copied.events += chunk.length;
      progress(chunk.length);
    }
  }

  await to.transaction('copying memory entries and their promotion audit', async (client) => {
    copied.memoryEntries = await insertJsonRows(
      client,
      `INSERT INTO ${to.table('memory_entries')} (entry_id, scope, project_key, entry)
       SELECT e->>'entryId', e->>'scope', e->>'projectKey', e FROM jsonb_array_elements($1::jsonb) AS e
       ON CONFLICT (entry_id) DO NOTHING`,
      memoryEntries,
    );
    // Audit rows have no key of their own: a row is there when an identical one is.
    for (const row of audit) {
      const result = await client.query(
        `INSERT INTO ${to.table('memory_promotion_audit')} (entry_id, audit)
         SELECT $1, $2::jsonb WHERE NOT EXISTS (
           SELECT 1 FROM ${to.table('memory_promotion_audit')} WHERE entry_id = $1 AND audit = $2::jsonb)`,
        [row.entryId, JSON.stringify(row)],
      );
      copied.promotionAudit += result.rowCount ?? 0;
    }
  });
  progress(memoryEntries.length + audit.length);

  await to.transaction('copying pipeline entries', async (client) => {
    copied.pipelineEntries = await insertJsonRows(
      client,
      `INSERT INTO ${to.table('pipeline_entries')} (entry_id, stage, updated_at, entry)
       SELECT e->>'entryId', e->>'stage', (e->>'updatedAt')::bigint, e FROM jsonb_array_elements($1::jsonb) AS e
       ON CONFLICT (entry_id) DO NOTHING`,
      pipelineEntries,
    );
    const highWater = Math.max(pipelineHighWater(options.root), ...pipelineEntries.map((entry) => entry.updatedAt));
    if (highWater > 0) await raiseStamp(to, client, 'pipeline', highWater);
  });
  progress(pipelineEntries.length);

  const counts = await countInPostgres(to, {
    runIds: runs.map((run) => run.runId),
    logIds: runIds,
    memoryIds: memoryEntries.map((entry) => entry.entryId),
    pipelineIds: pipelineEntries.map((entry) => entry.entryId),
    audit,
  });
  const fileEvents = [...fileLast.values()].reduce((sum, last) => sum + last, 0);
  const report: CopyReport = {
    runs: { files: runs.length, postgres: counts.runs, copied: copied.runs },
    events: { files: fileEvents, postgres: counts.events, copied: copied.events },
    memoryEntries: { files: memoryEntries.length, postgres: counts.memoryEntries, copied: copied.memoryEntries },
    promotionAudit: { files: audit.length, postgres: counts.promotionAudit, copied: copied.promotionAudit },
    pipelineEntries: {
      files: pipelineEntries.length,
      postgres: counts.pipelineEntries,
      copied: copied.pipelineEntries,
    },
    live,
    complete: false,
  };
  report.complete = [
    report.runs,
    report.events,
    report.memoryEntries,
    report.promotionAudit,
    report.pipelineEntries,
  ].every((count) => count.files === count.postgres);
  return report;
}

/** Inserts `rows` (as one jsonb array) with `sql`, whose `$1` is that array. Returns the rows written. */
async function insertJsonRows(client: PoolClient, sql: string, rows: readonly unknown[]): Promise<number> {
  if (rows.length === 0) return 0;
  return (await client.query(sql, [JSON.stringify(rows)])).rowCount ?? 0;
}

/** Copies run records; one already there is replaced only by a newer one. Returns the rows written. */
async function copyRuns(to: PostgresDatabase, client: PoolClient, runs: readonly AnalysisRun[]): Promise<number> {
  const table = to.table('runs');
  return await insertJsonRows(
    client,
    `INSERT INTO ${table} (run_id, status, session_id, tenant_id, workspace_id, created_at, heartbeat_at, updated_at, record)
     SELECT r->>'runId', r->>'status', r->>'sessionId', r->>'tenantId', r->>'workspaceId',
            (r->>'createdAt')::bigint, (r->>'heartbeatAt')::bigint, (r->>'updatedAt')::bigint, r
     FROM jsonb_array_elements($1::jsonb) AS r
     ON CONFLICT (run_id) DO UPDATE SET
       status = EXCLUDED.status, session_id = EXCLUDED.session_id, tenant_id = EXCLUDED.tenant_id,
       workspace_id = EXCLUDED.workspace_id, created_at = EXCLUDED.created_at,
       heartbeat_at = EXCLUDED.heartbeat_at, updated_at = EXCLUDED.updated_at, record = EXCLUDED.record
     WHERE ${table}.updated_at < EXCLUDED.updated_at`,
    runs,
  );
}

/** Appends a chunk of one run's events (cursors continuing what PostgreSQL has) and moves its log row. */
async function copyEvents(
  to: PostgresDatabase,
  client: PoolClient,
  runId: string,
  events: readonly AgentEvent[],
  terminal: ReadonlySet<string>,
): Promise<void> {
  const last = events[events.length - 1]!;
  await client.query(
    `INSERT INTO ${to.table('event_logs')} AS l (run_id, last_cursor, sealed) VALUES ($1, $2, $3)
     ON CONFLICT (run_id) DO UPDATE SET last_cursor = EXCLUDED.last_cursor, sealed = EXCLUDED.sealed
     WHERE l.last_cursor < EXCLUDED.last_cursor`,
    [runId, last.cursor, terminal.has(last.type)],
  );
  await client.query(
    `INSERT INTO ${to.table('events')} (run_id, cursor, type, at, payload)
     SELECT $1, c, t, a, p::jsonb FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::text[]) AS e(c, t, a, p)
     ON CONFLICT (run_id, cursor) DO NOTHING`,
    [
      runId,
      events.map((event) => event.cursor),
      events.map((event) => event.type),
      events.map((event) => event.at),
      events.map((event) => JSON.stringify(event.payload)),
    ],
  );
}

/** Raises the stamp of `store` to at least `value`. */
async function raiseStamp(to: PostgresDatabase, client: PoolClient, store: string, value: number): Promise<void> {
  await client.query(
    `INSERT INTO ${to.table('stamps')} AS s (store, last_ms) VALUES ($1, $2)
     ON CONFLICT (store) DO UPDATE SET last_ms = GREATEST(s.last_ms, EXCLUDED.last_ms)`,
    [store, value],
  );
}

/**
 * The highest `updatedAt` the pipeline's file ever handed out (its `meta.highWater`, which also
 * covers removed entries), or 0 when the file has none.
 */
function pipelineHighWater(root: string): number {
  try {
    const doc = JSON.parse(fs.readFileSync(path.join(root, STORE_FILE_NAMES.pipeline), 'utf8')) as {
      meta?: { highWater?: unknown };
    };
    const value = doc.meta?.highWater;
    return typeof value === 'number' && Number.isSafeInteger(value) ? value : 0;
  } catch {
    return 0; // no file, or one the store already read and judged (list() above)
  }
}

/** How many of the file root's records PostgreSQL holds. */
async function countInPostgres(
  to: PostgresDatabase,
  ids: {
    runIds: string[];
    logIds: string[];
    memoryIds: string[];
    pipelineIds: string[];
    audit: readonly { entryId: string }[];
  },
): Promise<{ runs: number; events: number; memoryEntries: number; promotionAudit: number; pipelineEntries: number }> {
  const count = async (what: string, sql: string, params: unknown[]) =>
    Number((await to.query<{ n: string }>(what, sql, params))[0]?.n ?? 0);
  let promotionAudit = 0;
  for (const row of ids.audit) {
    promotionAudit += await count(
      'counting promotion audit rows',
      `SELECT count(*) AS n FROM (SELECT 1 FROM ${to.table('memory_promotion_audit')} WHERE entry_id = $1 AND audit = $2::jsonb LIMIT 1) AS found`,
      [row.entryId, JSON.stringify(row)],
    );
  }
  return {
    runs: await count('counting runs', `SELECT count(*) AS n FROM ${to.table('runs')} WHERE run_id = ANY($1)`, [
      ids.runIds,
    ]),
    events: await count('counting events', `SELECT count(*) AS n FROM ${to.table('events')} WHERE run_id = ANY($1)`, [
      ids.logIds,
    ]),
    memoryEntries: await count(
      'counting memory entries',
      `SELECT count(*) AS n FROM ${to.table('memory_entries')} WHERE entry_id = ANY($1)`,
      [ids.memoryIds],
    ),
    promotionAudit,
    pipelineEntries: await count(
      'counting pipeline entries',
      `SELECT count(*) AS n FROM ${to.table('pipeline_entries')} WHERE entry_id = ANY($1)`,
      [ids.pipelineIds],
    ),
  };
}
