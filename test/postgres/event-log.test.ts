import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../src/events/index.js';
import { PostgresEventLog, type PostgresEventLogOptions } from '../../src/events/postgres-event-log.js';
import { PostgresDatabase } from '../../src/postgres/database.js';
import { SealedLogError, StoreIOError, ValidationError } from '../../src/storage/errors.js';
import { collect, cursors, range } from '../events/helpers.js';
import { usePostgres } from '../helpers/postgres.js';

const db = usePostgres();
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A log on `schema` (a fresh one by default) over `pool` (the file's by default). */
function openLog(options: PostgresEventLogOptions & { schema?: string; pool?: pg.Pool } = {}): {
  log: PostgresEventLog;
  database: PostgresDatabase;
  schema: string;
} {
  const { schema = db.freshSchema(), pool = db.pool, ...logOptions } = options;
  const database = new PostgresDatabase({ pool, schema });
  const log = new PostgresEventLog(database, logOptions);
  cleanup.push(async () => {
    await log.close();
    await database.close();
  });
  return { log, database, schema };
}

/** A pool of the test's own whose connections carry `name`, so that they can be found and killed. */
function namedPool(name: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: db.url, application_name: name, max: 4 });
  pool.on('error', () => {});
  cleanup.push(() => pool.end());
  return pool;
}

/** Takes events from a follow one at a time. */
function taker(iterable: AsyncIterable<AgentEvent>) {
  const iterator = iterable[Symbol.asyncIterator]();
  return async (count: number): Promise<AgentEvent[]> => {
    const out: AgentEvent[] = [];
    while (out.length < count) {
      const next = await iterator.next();
      if (next.done) break;
      out.push(next.value);
    }
    return out;
  };
}

describe('PostgresEventLog on PostgreSQL', () => {
  it('refuses an append after a terminal event committed by another instance', async () => {
    const { log: first, schema } = openLog();
    const { log: second } = openLog({ schema });
    await second.append('run-1', { type: 'step' });
    await first.append('run-1', { type: 'end' });
    await expect(second.append('run-1', { type: 'step' })).rejects.toBeInstanceOf(SealedLogError);
    expect(cursors(await collect(second.read('run-1')))).toEqual([1, 2]);
  });

  it('commits the appends of one tick in one transaction, and those issued during a commit in the next one', async () => {
    const { log, schema } = openLog();
    const first = Promise.all(range(20).map((i) => log.append(`run-${i % 2}`, { type: 'n' })));
    await Promise.resolve(); // the first batch is committing now
    const second = Promise.all(range(30).map(() => log.append('run-0', { type: 'n' })));
    await Promise.all([first, second]);
    const transactions = await db.pool.query(
      `SELECT xmin::text AS tx, count(*)::int AS events FROM "${schema}".events GROUP BY xmin ORDER BY min(cursor)`,
    );
    expect(transactions.rows.map((row) => row.events)).toEqual([20, 30]);
  });

  it('gives the listener connection back on close(), and ends its follows', async () => {
    const { log, schema } = openLog();
    await log.append('run-1', { type: 'step' });
    const take = taker(log.follow('run-1'));
    expect(cursors(await take(1))).toEqual([1]);
    const listening = () =>
      db.pool.query(`SELECT pid FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND query LIKE $1`, [
        `%${schema}.events%`,
      ]);
    expect((await listening()).rowCount).toBe(1);
    await log.close();
    expect(await take(1)).toEqual([]);
    expect((await listening()).rowCount).toBe(0);
  });

  it('settles the appends issued before close(): every one is committed', async () => {
    const { log, schema } = openLog();
    const appended = Promise.all(range(40).map(() => log.append('run-1', { type: 'n' })));
    await log.close();
    expect(cursors(await appended)).toEqual(range(40));
    const { log: reader } = openLog({ schema });
    expect(await reader.lastCursor('run-1')).toBe(40);
  });

  it('reads a run longer than one page whole, in order, and from any cursor', async () => {
    const { log } = openLog();
    await Promise.all(range(2_500).map((i) => log.append('long', { type: 'n', payload: i })));
    const events = await collect(log.read('long'));
    expect(cursors(events)).toEqual(range(2_500));
    expect(events.map((event) => event.payload)).toEqual(range(2_500));
    expect(cursors(await collect(log.read('long', { after: 999, limit: 1_002 })))).toEqual(range(1_002, 1_000));
  });

  it('follows a run longer than one page from the start, then live', async () => {
    const { log, schema } = openLog();
    const { log: writer } = openLog({ schema });
    await Promise.all(range(2_100).map(() => writer.append('long', { type: 'n' })));
    const followed = collect(log.follow('long'));
    await writer.append('long', { type: 'end' });
    expect(cursors(await followed)).toEqual(range(2_101));
  });

  it.each([
    ['a NUL character', 'a\u0000b'],
    ['a lone surrogate', 'a\ud800b'],
  ])('refuses a payload string with %s (jsonb cannot hold it) with ValidationError', async (_what, text) => {
    const { log } = openLog();
    await expect(log.append('run-1', { type: 'step', payload: { text } })).rejects.toBeInstanceOf(ValidationError);
    expect(await log.exists('run-1')).toBe(false);
    // Escaped backslashes followed by the same letters are fine.
    const event = await log.append('run-1', { type: 'step', payload: { text: '\\u0000 \\ud800' } });
    expect((await collect(log.read('run-1')))[0]?.payload).toEqual(event.payload);
  });

  it('delivers events another instance appends while the listener connection is killed: no gap, no duplicate', async () => {
    // Polling slowed down: only the listener, listening again, can deliver in time.
    const { log, schema } = openLog({ pollMs: 60_000 });
    const { log: writer } = openLog({ schema });
    for (const _ of range(3)) await writer.append('run-1', { type: 'step' });
    const take = taker(log.follow('run-1'));
    expect(cursors(await take(3))).toEqual([1, 2, 3]);

    const killed = await db.pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND query LIKE $1`,
      [`%${schema}.events%`],
    );
    expect(killed.rowCount).toBe(1);
    for (const _ of range(5)) await writer.append('run-1', { type: 'step' });
    expect(cursors(await take(5))).toEqual([4, 5, 6, 7, 8]);
    await writer.append('run-1', { type: 'step' });
    await writer.append('run-1', { type: 'end' });
    expect(cursors(await take(10))).toEqual([9, 10]);
  });

  it('delivers events whose notification was lost, by polling', async () => {
    const { log, schema } = openLog({ pollMs: 50 });
    const { log: writer } = openLog({ schema });
    await writer.append('run-1', { type: 'step' });
    const take = taker(log.follow('run-1'));
    expect(cursors(await take(1))).toEqual([1]);
    // Another writer's commit whose notification never came.
    await db.pool.query(`
      WITH l AS (UPDATE "${schema}".event_logs SET last_cursor = 3 WHERE run_id = 'run-1')
      INSERT INTO "${schema}".events (run_id, cursor, type, at, payload)
      VALUES ('run-1', 2, 'step', 0, '{"silent":2}'), ('run-1', 3, 'step', 0, '{"silent":3}')`);
    const events = await take(2);
    expect(cursors(events)).toEqual([2, 3]);
    expect(events.map((event) => event.payload)).toEqual([{ silent: 2 }, { silent: 3 }]);
  });

  it('rejects an append whose connection is lost with StoreIOError, and writes nothing', async () => {
    const pool = namedPool(`victim_${process.pid}`);
    const { log, schema } = openLog({ pool });
    await log.append('run-1', { type: 'step' });
    // Hold the run's row lock, so the append waits inside its transaction; then kill its connection.
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM "${schema}".event_logs WHERE run_id = 'run-1' FOR UPDATE`);
      const appended = log.append('run-1', { type: 'step' });
      let killed = 0;
      while (killed === 0) {
        const result = await db.pool.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
          [`victim_${process.pid}`],
        );
        killed = result.rowCount ?? 0;
      }
      const error = await appended.catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(StoreIOError);
      expect((error as StoreIOError).inDoubt).toBe(false);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    expect(await log.lastCursor('run-1')).toBe(1);
    expect((await log.append('run-1', { type: 'step' })).cursor).toBe(2);
  });

  describe('verify', () => {
    it('reports a gap in the cursors as corruption, and leaves it when repairing', async () => {
      const { log, schema } = openLog();
      for (const _ of range(4)) await log.append('run-1', { type: 'step' });
      await db.pool.query(`DELETE FROM "${schema}".events WHERE run_id = 'run-1' AND cursor = 2`);
      const report = await log.verify('run-1', { repair: true });
      expect(report).toMatchObject({ events: 3, lastCursor: 4, ok: false, repaired: false });
      expect(report.corruption).toMatch(/event 3 follows event 1/);
    });

    it('reports an event_logs row that disagrees with the events, and sets it from them when repairing', async () => {
      const { log, schema } = openLog();
      for (const _ of range(3)) await log.append('run-1', { type: 'step' });
      await db.pool.query(`UPDATE "${schema}".event_logs SET last_cursor = 7, sealed = true`);
      const found = await log.verify('run-1');
      expect(found).toMatchObject({ ok: false, repaired: false, lastCursor: 3, sealed: false });
      expect(found.indexProblems).toEqual([
        'event_logs.last_cursor is 7, the last event is 3',
        'event_logs.sealed is true, the last event (step) is not terminal',
      ]);
      expect(await log.verify('run-1', { repair: true })).toMatchObject({ repaired: true });
      expect(await log.verify('run-1')).toMatchObject({ ok: true, indexProblems: [] });
      expect((await log.append('run-1', { type: 'step' })).cursor).toBe(4);
    });
  });
});
