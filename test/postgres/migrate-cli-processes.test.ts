// `agent-stores migrate --from <root> --to <url>`: a file root with every kind of record, copied
// into PostgreSQL by the real command-line tool (a child process) and compared record by record;
// a copy killed half-way and run again; live runs refused.
import { describe, expect, it } from 'vitest';
import { createStores, type Stores } from '../../src/index.js';
import { cli, startCli } from '../cli/run-cli-process.js';
import { usePostgres } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp.js';

const db = usePostgres();

/** A root with runs in every status, their events, memory entries with promotions, pipeline entries. */
async function buildRoot(
  options: { bigRuns?: number; eventsPerBigRun?: number; live?: boolean } = {},
): Promise<string> {
  const root = tempDir();
  let now = 1_700_000_000_000;
  const stores = createStores({ root, clock: () => (now += 7), events: { durability: 'flush' } });
  const { runs, events, memory, pipeline } = stores;
  for (const [runId, end] of [
    ['done-1', 'complete'],
    ['failed-1', 'fail'],
    ['cancelled-1', 'cancel'],
  ] as const) {
    await runs.create({ runId, sessionId: 's1', question: `why is ${runId} slow?`, tenantId: 't1' });
    await runs.start(runId);
    await events.append(runId, { type: 'step', payload: { n: 1, nested: { list: [1, 'two', null], ok: true } } });
    await runs.heartbeat(runId, { step: 1, of: 2, message: 'halfway' });
    if (end === 'complete') await runs.complete(runId, { reportUrl: '/r/1' });
    if (end === 'fail') await runs.fail(runId, { code: 'boom', message: 'it broke' });
    if (end === 'cancel') await runs.cancel(runId, 'user left');
  }
  if (options.live) {
    await runs.create({ runId: 'live-1', sessionId: 's2', question: 'still going?' });
    await runs.start('live-1');
    await events.append('live-1', { type: 'step', payload: 'unicode ✓ and "quotes"' });
    await runs.create({ runId: 'pending-1', sessionId: 's2', question: 'queued' });
  }
  // A log without a run record.
  await events.append('orphan-log', { type: 'note', payload: [1, 2, 3] });
  for (let r = 0; r < (options.bigRuns ?? 0); r++) {
    const runId = `big-${String(r).padStart(3, '0')}`;
    const n = options.eventsPerBigRun ?? 1;
    await Promise.all(
      Array.from({ length: n }, (_, i) => events.append(runId, { type: 'step', payload: { i, text: 'x'.repeat(40) } })),
    );
    await events.append(runId, { type: 'end' });
  }
  await memory.save({
    entryId: 'm1',
    scope: 'project',
    projectKey: 'p1',
    tags: ['cpu'],
    insight: 'a',
    confidence: 0.4,
  });
  await memory.save({ entryId: 'm2', scope: 'project', projectKey: 'p1', tags: ['io'], insight: 'b', confidence: 0.9 });
  await memory.promote('m2', { fromScope: 'project', toScope: 'world', trigger: 'reviewer_approval', reviewer: 'ana' });
  await memory.applyFeedback('m1', 'positive');
  await pipeline.create({ entryId: 'f1', feedbackId: 'fb1' });
  await pipeline.create({ entryId: 'f2', feedbackId: 'fb2' });
  await pipeline.advance('f1', { stage: 'case_draft', case: { caseId: 'c1', status: 'draft' } });
  await pipeline.advance('f2', { stage: 'rejected', reviewer: 'bo' });
  await pipeline.create({ entryId: 'f3', feedbackId: 'fb3' });
  await pipeline.remove('f3'); // its stamp is the file's high-water mark, above every entry left
  await stores.close();
  return root;
}

/** Every record of the root, read through the file stores, next to what PostgreSQL holds. */
async function compare(root: string, schema: string): Promise<void> {
  const stores: Stores = createStores({ root });
  const q = async <T>(sql: string, params: unknown[] = []) =>
    (await db.pool.query(sql.replaceAll('S.', `"${schema}".`), params)).rows as T[];
  try {
    const runs = await stores.runs.list({ order: 'oldest' });
    const rows = await q<{ run_id: string; status: string; updated_at: string; record: unknown }>(
      'SELECT run_id, status, updated_at, record FROM S.runs ORDER BY run_id',
    );
    expect(rows.map((row) => row.record)).toEqual([...runs].sort((a, b) => a.runId.localeCompare(b.runId)));
    for (const row of rows) {
      const run = runs.find((r) => r.runId === row.run_id)!;
      expect([row.status, Number(row.updated_at)]).toEqual([run.status, run.updatedAt]);
    }
    const runIds = (await stores.events.runIds()).sort();
    const logs = await q<{ run_id: string; last_cursor: string; sealed: boolean }>(
      'SELECT run_id, last_cursor, sealed FROM S.event_logs ORDER BY run_id',
    );
    expect(logs.map((log) => log.run_id)).toEqual(runIds);
    for (const runId of runIds) {
      const fileEvents = [];
      for await (const event of stores.events.read(runId)) fileEvents.push(event);
      const pgEvents = await q<{ cursor: number; type: string; at: number; payload: unknown }>(
        'SELECT cursor::float8 AS cursor, type, at::float8 AS at, payload FROM S.events WHERE run_id = $1 ORDER BY cursor',
        [runId],
      );
      expect(pgEvents.map((event) => ({ runId, ...event }))).toEqual(fileEvents);
      const log = logs.find((l) => l.run_id === runId)!;
      expect([Number(log.last_cursor), log.sealed]).toEqual([
        await stores.events.lastCursor(runId),
        await stores.events.isSealed(runId),
      ]);
    }
    const memory = await q<{ entry: unknown }>('SELECT entry FROM S.memory_entries ORDER BY entry_id');
    expect(memory.map((row) => row.entry)).toEqual(await stores.memory.list());
    const audit = await q<{ audit: unknown }>('SELECT audit FROM S.memory_promotion_audit ORDER BY seq');
    expect(audit.map((row) => row.audit)).toEqual(await stores.memory.promotionAudit());
    const pipeline = await q<{ entry: { entryId: string } }>('SELECT entry FROM S.pipeline_entries ORDER BY entry_id');
    const fileEntries = (await stores.pipeline.list()).sort((a, b) => a.entryId.localeCompare(b.entryId));
    expect(pipeline.map((row) => row.entry)).toEqual(fileEntries);
  } finally {
    await stores.close();
  }
}

async function stamp(schema: string, store: string): Promise<number> {
  const rows = await db.pool.query(`SELECT last_ms FROM "${schema}".stamps WHERE store = $1`, [store]);
  return Number(rows.rows[0]?.last_ms ?? 0);
}

describe('agent-stores migrate --from <root> --to <url>', () => {
  it('copies every kind of record, each one equal to the file’s, and says the counts match', async () => {
    const root = await buildRoot();
    const schema = db.freshSchema();
    const result = await cli('migrate', '--from', root, '--to', db.url, '--schema', schema);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^runs\s+3\s+3\s+3$/m);
    expect(result.stdout).toMatch(/^events\s+7\s+7\s+7$/m);
    expect(result.stdout).toMatch(/^promotion audit rows\s+1\s+1\s+1$/m);
    expect(result.stdout).toContain(`done: PostgreSQL (schema ${schema}) holds every record`);
    await compare(root, schema);
  });

  it('keeps updatedAt stamps above every stamp the files handed out, including removed entries', async () => {
    const root = await buildRoot();
    const schema = db.freshSchema();
    expect((await cli('migrate', '--from', root, '--to', db.url, '--schema', schema)).code).toBe(0);
    const stores = createStores({ root });
    const pipelineMax = Math.max(...(await stores.pipeline.list()).map((entry) => entry.updatedAt));
    await stores.close();
    expect(await stamp(schema, 'pipeline')).toBeGreaterThan(pipelineMax); // f3's stamp, after the others
  });

  it('copies nothing a second time: a re-run reports 0 copied and the same counts', async () => {
    const root = await buildRoot();
    const schema = db.freshSchema();
    await cli('migrate', '--from', root, '--to', db.url, '--schema', schema);
    const again = await cli('migrate', '--from', root, '--to', db.url, '--schema', schema, '--json');
    expect(again.code).toBe(0);
    const report = JSON.parse(again.stdout);
    for (const kind of ['runs', 'events', 'memoryEntries', 'promotionAudit', 'pipelineEntries']) {
      expect(report[kind].copied, kind).toBe(0);
      expect(report[kind].postgres, kind).toBe(report[kind].files);
    }
    await compare(root, schema);
  });

  it('refuses a root with pending or running runs, naming them, and writes nothing', async () => {
    const root = await buildRoot({ live: true });
    const schema = db.freshSchema();
    const result = await cli('migrate', '--from', root, '--to', db.url, '--schema', schema);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/still pending or running \(live-1, pending-1\).*--include-live/);
    const tables = await db.pool.query('SELECT 1 FROM information_schema.tables WHERE table_schema = $1', [schema]);
    expect(tables.rowCount).toBe(0);
  });

  it('copies live runs with --include-live, and a later re-run brings their new events over', async () => {
    const root = await buildRoot({ live: true });
    const schema = db.freshSchema();
    const first = await cli('migrate', '--from', root, '--to', db.url, '--schema', schema, '--include-live');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('copied 2 live runs as they are now');
    const stores = createStores({ root });
    await stores.events.append('live-1', { type: 'step', payload: 2 });
    await stores.runs.complete('live-1', { done: true });
    await stores.close();
    const second = await cli('migrate', '--from', root, '--to', db.url, '--schema', schema, '--include-live', '--json');
    const report = JSON.parse(second.stdout);
    expect([report.events.copied, report.runs.copied]).toEqual([2, 1]); // the step and analysis_completed; the newer record
    await compare(root, schema);
  });

  it('finishes a copy that was killed half-way: nothing missing, nothing twice', async () => {
    const root = await buildRoot({ bigRuns: 40, eventsPerBigRun: 2_500 });
    const schema = db.freshSchema();
    const copy = startCli(['migrate', '--from', root, '--to', db.url, '--schema', schema]);
    const total = 40 * 2_501 + 7;
    let copied = 0;
    for (let waited = 0; waited < 60_000 && copied === 0; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      const found = await db.pool
        .query(`SELECT count(*) AS n FROM "${schema}".events`)
        .catch(() => ({ rows: [{ n: 0 }] }));
      copied = Number(found.rows[0]?.n);
    }
    copy.kill('SIGKILL');
    const killed = await copy.done;
    expect(killed.code).toBeNull(); // killed, not finished
    const afterKill = Number((await db.pool.query(`SELECT count(*) AS n FROM "${schema}".events`)).rows[0]?.n);
    expect(afterKill).toBeGreaterThan(0);
    expect(afterKill).toBeLessThan(total);

    const rerun = await cli('migrate', '--from', root, '--to', db.url, '--schema', schema, '--json');
    expect(rerun.code).toBe(0);
    const report = JSON.parse(rerun.stdout);
    expect(report.events.files).toBe(total);
    expect(report.events.copied).toBe(total - afterKill);
    await compare(root, schema);
  }, 120_000);

  it('says which option is missing', async () => {
    const result = await cli('migrate', '--from', tempDir());
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--to URL is required');
  });
});
