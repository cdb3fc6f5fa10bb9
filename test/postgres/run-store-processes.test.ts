// PostgresRunStore with several processes on one database (real child processes, each with its
// own pool; test/postgres/fixtures/run-store-child.ts): concurrent cleanups, heartbeats and a
// heartbeat racing complete().
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunStore } from '../../src/index.js';
import { PostgresDatabase } from '../../src/postgres/database.js';
import { PostgresRunStore } from '../../src/runs/postgres-run-store.js';
import type { CleanupReport } from '../../src/runs/schemas.js';
import { usePostgres } from '../helpers/postgres.js';
import { runTogether } from '../multiprocess/run-children.js';
import { ManualClock } from '../runs/run-store.conformance.js';

const db = usePostgres();
const CHILD = path.join(import.meta.dirname, 'fixtures', 'run-store-child.ts');
const MINUTE = 60_000;

function open(clock?: ManualClock): { store: RunStore; schema: string } {
  const schema = db.freshSchema();
  const database = new PostgresDatabase({ pool: db.pool, schema });
  return { store: new PostgresRunStore(database, clock ? { clock: clock.read } : {}), schema };
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
