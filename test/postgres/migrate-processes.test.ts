import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, type MigrateResult } from '../../src/postgres/index.js';
import { usePostgres } from '../helpers/postgres.js';
import { runTogether } from '../multiprocess/run-children.js';

const db = usePostgres();
const CHILDREN = 4;

describe('migrate() from several processes at once', () => {
  it('applies each migration exactly once when four processes migrate one fresh schema at the same moment', async () => {
    const schema = db.freshSchema();
    const fixture = path.join(import.meta.dirname, 'fixtures', 'migrator.ts');

    const results = (await runTogether(
      fixture,
      Array.from({ length: CHILDREN }, () => [db.url, schema]),
    )) as MigrateResult[];

    // Every child succeeded and saw the schema up to date; between them each migration was applied once.
    const ids = MIGRATIONS.map((migration) => migration.id);
    expect(results.map((result) => result.version)).toEqual(Array(CHILDREN).fill(Math.max(...ids)));
    expect(results.flatMap((result) => result.applied).sort()).toEqual(ids);
    const rows = await db.pool.query(`SELECT id FROM "${schema}".schema_migrations ORDER BY id`);
    expect(rows.rows.map((row) => row.id)).toEqual(ids);
  });
});
