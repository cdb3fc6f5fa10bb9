// PostgresRunStore behaviour that only the database has: the row's columns kept in agreement with
// its record, rows whose record fails the schema, and an event log drawing on the same pool. The
// behaviour it shares with the file store is in run-store.conformance.test.ts; several processes
// at once in run-store-processes.test.ts.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { CorruptStoreError, type RunStore } from '../../src/index.js';
import { PostgresDatabase } from '../../src/postgres/database.js';
import { PostgresRunStore } from '../../src/runs/postgres-run-store.js';
import { usePostgres } from '../helpers/postgres.js';
import { FakeEventLog } from '../runs/fake-event-log.js';
import { ManualClock } from '../runs/run-store.conformance.js';

const db = usePostgres();
const MINUTE = 60_000;

function open(clock?: ManualClock): { store: RunStore; database: PostgresDatabase } {
  const database = new PostgresDatabase({ pool: db.pool, schema: db.freshSchema() });
  return { store: new PostgresRunStore(database, clock ? { clock: clock.read } : {}), database };
}

const ids = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);

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
