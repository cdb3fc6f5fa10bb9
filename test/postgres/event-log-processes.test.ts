import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresEventLog } from '../../src/events/postgres-event-log.js';
import { PostgresDatabase } from '../../src/postgres/database.js';
import { collect, cursors, range } from '../events/helpers.js';
import { usePostgres } from '../helpers/postgres.js';
import { runTogether } from '../multiprocess/run-children.js';

const db = usePostgres();
const fixture = path.join(import.meta.dirname, 'fixtures', 'event-appender.ts');
const opened: { log: PostgresEventLog; database: PostgresDatabase }[] = [];
afterEach(async () => {
  for (const { log, database } of opened.splice(0)) {
    await log.close();
    await database.close();
  }
});

/** A log on `schema` in this process; polling slowed down so that only notifications can be fast. */
function openLog(schema: string): PostgresEventLog {
  const database = new PostgresDatabase({ pool: db.pool, schema });
  const log = new PostgresEventLog(database, { pollMs: 60_000 });
  opened.push({ log, database });
  return log;
}

describe('PostgresEventLog across processes', () => {
  it('numbers 1…N with no gap and no duplicate when three processes append to one run at once', async () => {
    const schema = db.freshSchema();
    const count = 200;
    const reported = (await runTogether(
      fixture,
      ['a', 'b', 'c'].map((label) => ['burst', db.url, schema, 'shared', String(count), label]),
    )) as number[][];

    expect(reported.flat().sort((x, y) => x - y)).toEqual(range(3 * count));
    const events = await collect(openLog(schema).read('shared'));
    expect(cursors(events)).toEqual(range(3 * count));
    // Each process's events are there once, in the order it issued them.
    for (const label of ['a', 'b', 'c']) {
      const mine = events.filter((event) => (event.payload as { label: string }).label === label);
      expect(mine.map((event) => (event.payload as { i: number }).i)).toEqual(range(count, 0));
    }
  });

  it('gives a terminal event racing an append from another process exactly one outcome', async () => {
    const schema = db.freshSchema();
    const log = openLog(schema);
    const runIds = range(12).map((i) => `race-${i}`);
    for (const runId of runIds) await log.append(runId, { type: 'start' });
    // The two go through the runs in opposite orders: each is first on some runs, and they meet
    // (and race) in the middle.
    const [ends, steps] = (await runTogether(fixture, [
      ['each', db.url, schema, 'end', ...runIds],
      ['each', db.url, schema, 'step', ...runIds.toReversed()],
    ])) as Record<string, { cursor?: number; code?: string }>[];

    const outcomes = new Set<string>();
    for (const runId of runIds) {
      const types = (await collect(log.read(runId))).map((event) => event.type);
      outcomes.add(types.join(' '));
      expect(ends![runId]).toEqual({ cursor: types.length });
      expect(types.at(-1)).toBe('end');
      if (steps![runId]!.code !== undefined) {
        // The terminal event won: the append was refused and left nothing.
        expect(steps![runId]).toEqual({ code: 'SEALED' });
        expect(types).toEqual(['start', 'end']);
      } else {
        expect(steps![runId]).toEqual({ cursor: 2 });
        expect(types).toEqual(['start', 'step', 'end']);
      }
    }
    expect(outcomes).toEqual(new Set(['start end', 'start step end']));
  });

  it('follows, in this process, the events another process appends, through notifications', async () => {
    const schema = db.freshSchema();
    const log = openLog(schema);
    const followed = collect(log.follow('live'));
    const [last] = (await runTogether(fixture, [['series', db.url, schema, 'live', '50']])) as number[];

    const events = await followed;
    expect(last).toBe(51);
    expect(cursors(events)).toEqual(range(51));
    expect(events.slice(0, 50).map((event) => event.payload)).toEqual(range(50, 0).map((i) => ({ i })));
    expect(events.at(-1)?.type).toBe('end');
  });
});
