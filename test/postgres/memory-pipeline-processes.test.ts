// What the PostgreSQL memory store and pipeline promise beyond the conformance suites: across
// instances and processes (row locks, the shared stamp), reads that write nothing, clock readings
// checked before anything is written, rows whose columns agree with their record.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PostgresFeedbackPipeline } from '../../src/feedback/postgres-feedback-pipeline.js';
import {
  ConflictError,
  CorruptStoreError,
  IllegalTransitionError,
  type MemoryStore,
  NotFoundError,
  type ProjectMemoryInput,
  ProjectMemoryStore,
  ValidationError,
} from '../../src/index.js';
import { PostgresMemoryStore } from '../../src/memory/postgres-memory-store.js';
import { PostgresDatabase } from '../../src/postgres/database.js';
import { manualClock } from '../helpers/manual-clock.js';
import { usePostgres } from '../helpers/postgres.js';
import { projectEntry, worldEntry } from '../memory/helpers.js';
import { runTogether } from '../multiprocess/run-children.js';
import { tableRows } from './table-rows.js';

const db = usePostgres();
const T0 = 1_700_000_000_000;
const DAY = 86_400_000;
const toWorld = { fromScope: 'project', toScope: 'world', trigger: 'reviewer_approval', reviewer: 'ana' } as const;
const again = { fromScope: 'project', toScope: 'project', trigger: 'user_feedback' } as const;

/** A database on a schema of its own (fresh unless given), on the test file's pool. */
function database(schema = db.freshSchema()): PostgresDatabase {
  return new PostgresDatabase({ pool: db.pool, schema });
}

/** Every row with its version columns: any write, even a row lock, changes it. */
const dump = (schema: string) => tableRows(db.pool, schema, { xmax: true });

/** The rows of a {@link dump} without their version columns (a row lock taken and released changes xmax). */
function contentsOf(tables: Awaited<ReturnType<typeof dump>>) {
  return Object.fromEntries(
    Object.entries(tables).map(([table, rows]) => [
      table,
      rows.map(({ xmin: _xmin, xmax: _xmax, ctid: _ctid, ...row }) => row),
    ]),
  );
}
const contents = async (schema: string) => contentsOf(await dump(schema));

function isStrictlyIncreasing(values: number[]): boolean {
  return values.every((value, i) => i === 0 || value > values[i - 1]!);
}

describe('PostgresFeedbackPipeline across processes', () => {
  const CHILDREN = 3;
  const ENTRIES = 6;
  /** create + three advances per entry. */
  const OPS_PER_CHILD = ENTRIES * 4;

  it.each(['system', 'frozen'] as const)(
    'gives every operation of three processes a distinct updatedAt, increasing within each process (%s clock)',
    async (clockMode) => {
      const schema = db.freshSchema();
      const pipeline = new PostgresFeedbackPipeline(database(schema));
      await pipeline.list(); // migrates the schema before the children start
      const prefixes = Array.from({ length: CHILDREN }, (_, i) => `w${i}`);
      const stamps = (await runTogether(
        path.join(import.meta.dirname, 'fixtures', 'pipeline-stamper.ts'),
        prefixes.map((prefix) => [db.url, schema, prefix, String(ENTRIES), clockMode]),
      )) as number[][];

      expect(stamps.map((s) => s.length)).toEqual(prefixes.map(() => OPS_PER_CHILD));
      expect(stamps.map(isStrictlyIncreasing)).toEqual(prefixes.map(() => true));
      const all = stamps.flat();
      expect(new Set(all).size).toBe(all.length);

      const entries = await pipeline.list();
      expect(entries).toHaveLength(CHILDREN * ENTRIES);
      expect(entries.every((e) => e.stage === 'reviewed' && e.history.length === 4)).toBe(true);
      const last = await db.pool.query(
        `SELECT last_ms::float8 AS last FROM "${schema}".stamps WHERE store = 'pipeline'`,
      );
      expect(last.rows[0].last).toBe(Math.max(...all));
    },
  );
});

describe('PostgresMemoryStore across processes', () => {
  it('keeps every save of three processes and writes exactly one audit row per promotion', async () => {
    const CHILDREN = 3;
    const SAVES = 24;
    const schema = db.freshSchema();
    const store = new PostgresMemoryStore(database(schema));
    await store.save(projectEntry('shared'));
    const prefixes = Array.from({ length: CHILDREN }, (_, i) => `p${i}`);
    const reported = (await runTogether(
      path.join(import.meta.dirname, 'fixtures', 'memory-promoter.ts'),
      prefixes.map((prefix) => [db.url, schema, prefix, String(SAVES)]),
    )) as { saved: string[]; promotions: number }[];

    const expected = prefixes.flatMap((prefix) => Array.from({ length: SAVES }, (_, i) => `${prefix}-${i}`));
    expect(reported.flatMap((r) => r.saved).sort()).toEqual([...expected].sort());
    expect(reported.map((r) => r.promotions)).toEqual(prefixes.map(() => SAVES + 1));

    const stored = await store.list();
    expect(stored.map((e) => e.entryId).sort()).toEqual([...expected, 'shared'].sort());
    const own = stored.filter((e) => e.entryId !== 'shared');
    expect(own.every((e) => e.insight.startsWith(`saved by ${e.projectKey} `) && e.promotionLevel === 1)).toBe(true);
    expect(stored.find((e) => e.entryId === 'shared')?.promotionLevel).toBe(CHILDREN);

    const audit = await store.promotionAudit();
    const perEntry = new Map<string, number>();
    for (const row of audit) perEntry.set(row.entryId, (perEntry.get(row.entryId) ?? 0) + 1);
    expect(audit).toHaveLength(CHILDREN * (SAVES + 1));
    expect([...perEntry].filter(([id]) => id !== 'shared').every(([, n]) => n === 1)).toBe(true);
    expect(perEntry.get('shared')).toBe(CHILDREN);
    expect(new Set(audit.filter((r) => r.entryId === 'shared').map((r) => r.policy.reviewer)).size).toBe(CHILDREN);
  });
});

describe('PostgresMemoryStore reads write nothing', () => {
  it('leaves every row as it was (xmin, xmax, ctid and content) after recall, list, get, stats and promotionAudit', async () => {
    const schema = db.freshSchema();
    const clock = manualClock(T0);
    const store = new PostgresMemoryStore(database(schema), { clock });
    await store.save(projectEntry('a', { tags: ['cpu', 'jank'], confidence: 0.9 }));
    await store.save(projectEntry('b', { tags: ['cpu'], projectKey: 'proj-b' }));
    await store.save(worldEntry('w', { tags: ['jank'] }));
    await store.save(projectEntry('gone', { unsupportedReason: 'the format changed' }));
    await store.promote('a', again);
    await store.applyFeedback('b', 'positive');
    const pipeline = new PostgresFeedbackPipeline(database(schema), { clock });
    await pipeline.create({ entryId: 'e1', feedbackId: 'f1' });
    const before = await dump(schema);

    const hits = [
      await store.recall(),
      await store.recall({ tags: ['cpu', 'jank'] }),
      await store.recall({ projectKey: 'proj-a', topK: 1 }),
      await store.recall({ scope: 'world' }),
    ];
    expect(hits.map((h) => h.map((hit) => hit.entry.entryId))).toEqual([
      ['a', 'b', 'w'],
      ['a', 'b', 'w'],
      ['a'],
      ['w'],
    ]);
    await store.list({ anyOfTags: ['cpu'] });
    await store.get('a');
    await store.stats();
    await store.promotionAudit();
    await pipeline.list();
    await pipeline.stats();

    expect(await dump(schema)).toEqual(before);
  });
});

describe('PostgreSQL stores check every clock reading before they write', () => {
  it.each([
    ['1e20 (past the year 9999)', 1e20],
    ['a fraction', T0 + 0.5],
    ['a negative time', -1],
  ])('memory: refuses a clock that returns %s with ValidationError and changes no row', async (_what, bad) => {
    const schema = db.freshSchema();
    let now = T0;
    const store = new PostgresMemoryStore(database(schema), { clock: () => now });
    await store.save(projectEntry('a', { createdAt: 0 }));
    const before = await dump(schema);
    now = bad;
    await expect(store.save(projectEntry('b'))).rejects.toBeInstanceOf(ValidationError);
    await expect(store.applyFeedback('a', 'positive')).rejects.toBeInstanceOf(ValidationError);
    await expect(store.sweepAutoConfirm()).rejects.toBeInstanceOf(ValidationError);
    await expect(store.promote('a', again)).rejects.toBeInstanceOf(ValidationError);
    expect(await dump(schema)).toEqual(before);
    now = T0 + 1;
    expect((await store.save(projectEntry('b'))).createdAt).toBe(T0 + 1);
  });

  it.each([
    ['1e20 (past the year 9999)', 1e20],
    ['a fraction', T0 + 0.5],
    ['NaN', Number.NaN],
  ])(
    'pipeline: refuses a clock that returns %s once, changes no row, and stamps normally after, on every instance',
    async (_what, bad) => {
      const schema = db.freshSchema();
      const clock = manualClock(T0);
      let next: number | undefined;
      const pipeline = new PostgresFeedbackPipeline(database(schema), { clock: () => next ?? clock() });
      await pipeline.create({ entryId: 'a', feedbackId: 'f' });
      const before = await dump(schema);

      next = bad;
      const error = await pipeline.advance('a', { stage: 'case_draft' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as Error).message).toContain('nothing was written');
      await expect(pipeline.create({ entryId: 'b', feedbackId: 'f' })).rejects.toBeInstanceOf(ValidationError);
      expect(await dump(schema)).toEqual(before);

      next = undefined;
      clock.advance(5);
      expect((await pipeline.advance('a', { stage: 'case_draft' })).updatedAt).toBe(T0 + 5);
      clock.advance(5);
      expect((await pipeline.create({ entryId: 'b', feedbackId: 'f' })).updatedAt).toBe(T0 + 10);
      const other = new PostgresFeedbackPipeline(database(schema), { clock: () => T0 });
      expect((await other.advance('b', { stage: 'case_draft' })).updatedAt).toBe(T0 + 11);
    },
  );
});

describe('PostgreSQL stores shared by several instances', () => {
  it('stamps updatedAt above every value another instance handed out, whatever its clock says', async () => {
    const schema = db.freshSchema();
    const fast = new PostgresFeedbackPipeline(database(schema), { clock: () => T0 + DAY });
    const slow = new PostgresFeedbackPipeline(database(schema), { clock: () => T0 });
    const first = await fast.create({ entryId: 'a', feedbackId: 'f' });
    const second = await slow.create({ entryId: 'b', feedbackId: 'f' });
    const third = await fast.advance('b', { stage: 'case_draft' });
    expect([first.updatedAt, second.updatedAt, third.updatedAt]).toEqual([T0 + DAY, T0 + DAY + 1, T0 + DAY + 2]);
    await slow.remove('a');
    await slow.remove('b');
    expect((await slow.create({ entryId: 'c', feedbackId: 'f' })).updatedAt).toBe(T0 + DAY + 3);
  });

  it('refuses the second of two creates of one id made by two instances at the same moment', async () => {
    const schema = db.freshSchema();
    const [one, two] = [new PostgresFeedbackPipeline(database(schema)), new PostgresFeedbackPipeline(database(schema))];
    await one.list();
    await two.list();
    const results = await Promise.allSettled([
      one.create({ entryId: 'e1', feedbackId: 'fb1' }),
      two.create({ entryId: 'e1', feedbackId: 'fb2' }),
    ]);
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused).toHaveLength(1);
    expect((refused[0] as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
    expect(await one.list()).toHaveLength(1);
  });

  it('loses no promotion when two instances promote one entry at once (row lock)', async () => {
    const schema = db.freshSchema();
    const [one, two] = [new PostgresMemoryStore(database(schema)), new PostgresMemoryStore(database(schema))];
    await one.save(projectEntry('m1'));
    await two.list();
    await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? one : two).promote('m1', again)));
    expect((await one.get('m1'))?.promotionLevel).toBe(10);
    expect(await two.promotionAudit()).toHaveLength(10);
  });

  it('lets only one of two instances saving a new entry at once pick its scope (the other is a replace)', async () => {
    const schema = db.freshSchema();
    const [one, two] = [new PostgresMemoryStore(database(schema)), new PostgresMemoryStore(database(schema))];
    await one.list();
    await two.list();
    const results = await Promise.allSettled([one.save(projectEntry('m1')), two.save(worldEntry('m1'))]);
    const kept = results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<ProjectMemoryInput>;
    const refused = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(refused).toHaveLength(1);
    expect(refused[0]!.reason).toBeInstanceOf(IllegalTransitionError);
    expect((await one.get('m1'))?.scope).toBe(kept.value.scope);
    expect(await one.promotionAudit()).toEqual([]);
  });

  it('applies two instances’ ratings of one entry one after the other, never from the same stale read', async () => {
    const rate = async (store: MemoryStore, first: 'one' | 'two') => {
      const ratings = { one: ['positive', T0], two: ['negative', T0 + 20_000] } as const;
      const order = first === 'one' ? (['one', 'two'] as const) : (['two', 'one'] as const);
      for (const who of order) {
        const [rating, at] = ratings[who];
        await store.applyFeedback('m1', rating, at);
      }
      return store.get('m1');
    };
    // What each serial order gives, by the in-memory twin.
    const serial = [];
    for (const first of ['one', 'two'] as const) {
      const twin = ProjectMemoryStore.inMemory({ clock: () => T0 });
      await twin.save(projectEntry('m1'));
      serial.push(await rate(twin, first));
    }
    const schema = db.freshSchema();
    const [one, two] = [new PostgresMemoryStore(database(schema)), new PostgresMemoryStore(database(schema))];
    await one.save(projectEntry('m1', { createdAt: T0 }));
    await two.list();
    await Promise.all([one.applyFeedback('m1', 'positive', T0), two.applyFeedback('m1', 'negative', T0 + 20_000)]);
    const stored = await one.get('m1');
    expect(serial.map((entry) => entry && { ...entry, createdAt: T0 })).toContainEqual(stored);
  });
});

describe('calls issued together on one PostgreSQL instance take effect in issue order', () => {
  it('a memory remove() issued right after save() of the same entry removes it', async () => {
    const store = new PostgresMemoryStore(database());
    const [, removed] = await Promise.all([store.save(projectEntry('a')), store.remove('a')]);
    expect(removed).toBe(true);
    expect(await store.get('a')).toBeUndefined();
  });

  it('a memory applyFeedback() issued right after save() sees the saved entry', async () => {
    const store = new PostgresMemoryStore(database());
    const [, status] = await Promise.all([store.save(projectEntry('a')), store.applyFeedback('a', 'positive')]);
    expect(status).toBe('confirmed');
  });

  it('a memory sweepAutoConfirm() issued right after save() of an old provisional entry confirms it', async () => {
    const store = new PostgresMemoryStore(database(), { clock: () => 100 * 3_600_000 });
    const [, count] = await Promise.all([store.save(projectEntry('a', { createdAt: 0 })), store.sweepAutoConfirm()]);
    expect(count).toBe(1);
    expect((await store.get('a'))?.status).toBe('confirmed');
  });

  it('promotions issued together are audited in issue order', async () => {
    const store = new PostgresMemoryStore(database());
    await Promise.all(['a', 'b', 'c', 'd'].map((id) => store.save(projectEntry(id))));
    await Promise.all(['d', 'b', 'a', 'c'].map((id) => store.promote(id, again)));
    expect((await store.promotionAudit()).map((row) => row.entryId)).toEqual(['d', 'b', 'a', 'c']);
  });

  it('a pipeline remove() issued right after create() of the same entry removes it', async () => {
    const pipeline = new PostgresFeedbackPipeline(database());
    const [, removed] = await Promise.all([pipeline.create({ entryId: 'a', feedbackId: 'f' }), pipeline.remove('a')]);
    expect(removed).toBe(true);
    expect(await pipeline.get('a')).toBeUndefined();
  });
});

describe('PostgreSQL rows', () => {
  it('keep their columns equal to the record they hold', async () => {
    const schema = db.freshSchema();
    const store = new PostgresMemoryStore(database(schema));
    const pipeline = new PostgresFeedbackPipeline(database(schema));
    await store.save(projectEntry('a'));
    await store.save({ entryId: 'b', scope: 'project', insight: 'no key', confidence: 0.1 });
    await store.promote('a', toWorld);
    await pipeline.create({ entryId: 'e1', feedbackId: 'f' });
    await pipeline.advance('e1', { stage: 'case_draft' });
    const memory = await db.pool.query(
      `SELECT scope = entry->>'scope' AND project_key IS NOT DISTINCT FROM entry->>'projectKey' AS agree FROM "${schema}".memory_entries`,
    );
    const stages = await db.pool.query(
      `SELECT stage = entry->>'stage' AND updated_at = (entry->>'updatedAt')::bigint AS agree FROM "${schema}".pipeline_entries`,
    );
    expect([...memory.rows, ...stages.rows].map((row) => row.agree)).toEqual([true, true, true]);
  });

  it('that do not fit the schema are reported with CorruptStoreError naming the row, and left as they are', async () => {
    const schema = db.freshSchema();
    const store = new PostgresMemoryStore(database(schema));
    const pipeline = new PostgresFeedbackPipeline(database(schema));
    await store.save(projectEntry('m1'));
    await pipeline.create({ entryId: 'e1', feedbackId: 'f' });
    await db.pool.query(`UPDATE "${schema}".memory_entries SET entry = entry - 'insight'`);
    await db.pool.query(`UPDATE "${schema}".pipeline_entries SET entry = jsonb_set(entry, '{stage}', '"lost"')`);
    const before = await contents(schema);

    const memoryError = await store.get('m1').catch((e: unknown) => e);
    expect(memoryError).toBeInstanceOf(CorruptStoreError);
    expect((memoryError as Error).message).toContain("memory entry 'm1'");
    await expect(store.list()).rejects.toBeInstanceOf(CorruptStoreError);
    await expect(store.applyFeedback('m1', 'positive')).rejects.toBeInstanceOf(CorruptStoreError);
    const pipelineError = await pipeline.advance('e1', { stage: 'case_draft' }).catch((e: unknown) => e);
    expect(pipelineError).toBeInstanceOf(CorruptStoreError);
    expect((pipelineError as Error).message).toContain("pipeline entry 'e1'");
    expect(await contents(schema)).toEqual(before);
  });

  it('refuse a record holding U+0000 (PostgreSQL cannot store it) with ValidationError, and find no entry by such an id', async () => {
    const schema = db.freshSchema();
    const store = new PostgresMemoryStore(database(schema));
    const pipeline = new PostgresFeedbackPipeline(database(schema));
    await store.save(projectEntry('m1'));
    await pipeline.create({ entryId: 'e1', feedbackId: 'f' });
    const before = await dump(schema);
    await expect(store.save(projectEntry('m2', { insight: 'a\u0000b' }))).rejects.toBeInstanceOf(ValidationError);
    await expect(store.update('m1', { tags: ['\u0000'] })).rejects.toBeInstanceOf(ValidationError);
    await expect(pipeline.create({ entryId: 'e2', feedbackId: 'f\u0000' })).rejects.toBeInstanceOf(ValidationError);
    await expect(pipeline.advance('e1', { stage: 'case_draft', skillDraftId: '\u0000' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(await store.get('m1\u0000')).toBeUndefined();
    expect(await store.remove('m1\u0000')).toBe(false);
    await expect(store.promote('m1\u0000', again)).rejects.toBeInstanceOf(NotFoundError);
    expect(await pipeline.get('e1\u0000')).toBeUndefined();
    await expect(pipeline.advance('e1\u0000', { stage: 'case_draft' })).rejects.toBeInstanceOf(NotFoundError);
    expect(await contents(schema)).toEqual(contentsOf(before));
    expect((await store.save(projectEntry('m3', { insight: 'a backslash-u: \\u0000' }))).insight).toBe(
      'a backslash-u: \\u0000',
    );
  });
});
