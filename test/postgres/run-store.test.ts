// PostgresRunStore behaviour that only a shared database has: several processes cleaning up,
// beating and finishing the same runs at once (real child processes, each with its own pool), and
// the row's columns kept in agreement with its record.
import * as path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { CorruptStoreError, type RunStore } from '../../src/index.js';
import { PostgresDatabase } from '../../src/postgres/database.js';
import { PostgresRunStore } from '../../src/runs/postgres-run-store.js';
import type { CleanupReport } from '../../src/runs/schemas.js';
import { usePostgres } from '../helpers/postgres.js';
import { runTogether } from '../multiprocess/run-children.js';
import { FakeEventLog } from '../runs/fake-event-log.js';
import { ManualClock } from '../runs/run-store.conformance.js';

const db = usePostgres();
const CHILD = path.join(import.meta.dirname, 'fixtures', 'run-store-child.ts');
const MINUTE = 60_000;

function open(clock?: ManualClock): { store: RunStore; schema: string; database: PostgresDatabase } {
  const schema = db.freshSchema();
  const database = new PostgresDatabase({ pool: db.pool, schema });
  return { store: new PostgresRunStore(database, clock ? { clock: clock.read } : {}), schema, database };
}

const ids = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);

describe('PostgresRunStore across processes', () => {
  it('abandons each stale run and deletes each expired run exactly once when three processes clean up at once', async () => {
    const clock = new ManualClock();
    const { store, schema } = open(clock);
    const stale = ids('stale', 100);
    const expired = ids('done', 100);
    const fresh = ids('fresh', 10);
    const recent = ids('recent', 10);
    for (const runId of stale) await store.create({ runId, sessionId: 's', question: 'q' });
    for (const runId of expired) {
      await store.create({ runId, sessionId: 's', question: 'q' });
      await store.complete(runId, { n: 1 });
    }
    clock.advance(10 * MINUTE);
    for (const runId of fresh) {
      await store.create({ runId, sessionId: 's', question: 'q' });
      await store.start(runId);
    }
    for (const runId of recent) {
      await store.create({ runId, sessionId: 's', question: 'q' });
      await store.fail(runId, 'recent');
    }
    const now = clock.now + 1_000;

    const results = (await runTogether(
      CHILD,
      Array.from({ length: 3 }, () => ['cleanup', db.url, schema, String(now), ...stale]),
    )) as { report: CleanupReport; appended: Record<string, string[]> }[];

    const abandoned = results.flatMap((result) => result.report.abandoned);
    const deleted = results.flatMap((result) => result.report.deleted);
    // Pairwise disjoint (no id twice) and together every stale / expired run.
    expect(abandoned.sort()).toEqual(stale);
    expect(deleted.sort()).toEqual(expired);
    for (const result of results) {
      expect(result.report.unreadable).toEqual([]);
      // Each process appended one heartbeat_stale error to exactly the runs it reports abandoned.
      expect(Object.keys(result.appended).sort()).toEqual([...result.report.abandoned].sort());
      for (const types of Object.values(result.appended)) expect(types).toEqual(['error:heartbeat_stale']);
      // Fresh and recently finished runs are kept by every process.
      for (const runId of [...fresh, ...recent]) expect(result.report.kept).toContain(runId);
    }
    for (const runId of stale) {
      expect(await store.get(runId)).toMatchObject({ status: 'failed', error: { code: 'heartbeat_stale' } });
    }
    for (const runId of expired) expect(await store.get(runId)).toBeUndefined();
    expect((await store.list({ status: 'running' })).map((run) => run.runId).sort()).toEqual(fresh);
    await store.close();
  });

  it('keeps updatedAt strictly increasing while three processes beat one run with clocks standing still', async () => {
    const clock = new ManualClock();
    const { store, schema } = open(clock);
    const created = await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
    const perChild = 100;

    const results = (await runTogether(
      CHILD,
      Array.from({ length: 3 }, () => ['beat', db.url, schema, 'r1', String(perChild), String(clock.now)]),
    )) as number[][];

    for (const stamps of results) {
      for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThan(stamps[i - 1]!);
    }
    // Every beat of every process has a stamp of its own, above the one before it on the run.
    const all = results.flat().sort((a, b) => a - b);
    expect(new Set(all).size).toBe(3 * perChild);
    expect(all[0]).toBeGreaterThan(created.updatedAt);
    const final = await store.get('r1');
    expect(final?.updatedAt).toBe(all.at(-1));
    await store.close();
  });

  it('never lets a heartbeat racing complete() bring a finished run back or change its record', async () => {
    const { store, schema } = open();
    const runIds = ids('race', 20);
    for (const runId of runIds) {
      await store.create({ runId, sessionId: 's', question: 'q' });
      await store.start(runId);
    }
    const beating = runTogether(CHILD, [['race', db.url, schema, ...runIds]]);
    // Complete each run while the other process beats it.
    const completed = new Map<string, number>();
    for (const runId of runIds) {
      await expect.poll(async () => (await store.get(runId))?.heartbeatAt, { timeout: 10_000 }).toBeDefined();
      completed.set(runId, (await store.complete(runId, { runId })).updatedAt);
    }
    const [outcome] = (await beating) as { runId: string; lastAcked: number; beats: number; refusal: string }[][];

    for (const { runId, lastAcked, beats, refusal } of outcome!) {
      expect(beats).toBeGreaterThan(0);
      expect(refusal).toBe('ILLEGAL_TRANSITION');
      // The last beat acknowledged came before the completion; nothing after it touched the record.
      expect(lastAcked).toBeLessThan(completed.get(runId)!);
      const final = await store.get(runId);
      expect(final).toMatchObject({ status: 'completed', result: { runId }, updatedAt: completed.get(runId) });
    }
    await store.close();
  });
});

describe('PostgresRunStore rows', () => {
  it('keeps the columns of a run row in agreement with its record through every change', async () => {
    const clock = new ManualClock();
    const { store, database } = open(clock);
    const columns = async (runId: string) => {
      const [row] = await database.query(
        'test',
        `SELECT status, session_id, tenant_id, workspace_id, created_at::float8 AS created_at,
                heartbeat_at::float8 AS heartbeat_at, updated_at::float8 AS updated_at, record
         FROM ${database.table('runs')} WHERE run_id = $1`,
        [runId],
      );
      const record = row!.record;
      expect(row).toEqual({
        status: record.status,
        session_id: record.sessionId,
        tenant_id: record.tenantId ?? null,
        workspace_id: record.workspaceId ?? null,
        created_at: record.createdAt,
        heartbeat_at: record.heartbeatAt ?? null,
        updated_at: record.updatedAt,
        record,
      });
      return record;
    };
    await store.create({ runId: 'r1', sessionId: 's', question: 'q', tenantId: 't', workspaceId: 'w' });
    expect(await columns('r1')).toMatchObject({ status: 'pending' });
    clock.advance(10);
    await store.heartbeat('r1', { step: 1 });
    expect(await columns('r1')).toMatchObject({ heartbeatAt: clock.now, heartbeatDetails: { step: 1 } });
    await store.start('r1');
    clock.advance(10);
    await store.heartbeat('r1', null);
    expect(await columns('r1')).toMatchObject({ status: 'running', heartbeatDetails: null });
    await store.complete('r1', [1, 2]);
    expect(await columns('r1')).toMatchObject({ status: 'completed', result: [1, 2] });
    await store.close();
  });

  it('skips a row whose record fails the run schema in list and cleanup, reports it, and refuses it in get', async () => {
    const { store, database } = open();
    await store.create({ runId: 'good', sessionId: 's', question: 'q' });
    await database.query(
      'test',
      `INSERT INTO ${database.table('runs')} (run_id, status, session_id, created_at, updated_at, record)
       VALUES ('bad', 'pending', 's', 1, 1, '{"runId": "bad", "status": "sideways"}')`,
    );
    const warnings: string[] = [];
    const watched = new PostgresRunStore(database, { onWarning: (warning) => warnings.push(warning.runId) });
    expect((await watched.list()).map((run) => run.runId)).toEqual(['good']);
    expect(warnings).toEqual(['bad']);
    await expect(watched.get('bad')).rejects.toBeInstanceOf(CorruptStoreError);
    const report = await watched.cleanup({ retentionMs: MINUTE });
    expect(report.kept).toEqual(['good']);
    expect(report.unreadable.map((entry) => entry.runId)).toEqual(['bad']);
    await watched.close();
    await store.close();
  });

  it('finishes many runs at once when its event log draws on the same small pool', async () => {
    // Each status change holds a connection (the row lock) while it appends the terminal event;
    // an event log on the same pool needs another one. Ten changes on a pool of two must not
    // take every connection and wait for each other forever.
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    const database = new PostgresDatabase({ pool, schema: db.freshSchema() });
    const log = new FakeEventLog();
    log.onAppend = async () => {
      await database.query('appending', 'SELECT pg_sleep(0.01)');
    };
    const store = new PostgresRunStore(database, { events: log });
    const runIds = ids('busy', 10);
    for (const runId of runIds) await store.create({ runId, sessionId: 's', question: 'q' });
    const done = await Promise.all(runIds.map((runId) => store.complete(runId, 1)));
    expect(done.map((run) => run.status)).toEqual(runIds.map(() => 'completed'));
    for (const runId of runIds) expect(log.types(runId)).toEqual(['analysis_completed']);
    await store.close();
    await pool.end();
  }, 20_000);
});
