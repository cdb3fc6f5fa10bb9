import type pg from 'pg';

/**
 * Every row of the memory, pipeline and stamp tables of `schema`, with its version columns: a
 * committed write changes `xmin` and `ctid`; with `xmax`, so does a row lock (even one taken by a
 * transaction that rolled back), which a read must not take either.
 */
export async function tableRows(pool: pg.Pool, schema: string, options: { xmax: boolean }) {
  const version = options.xmax ? 'xmin::text, xmax::text, ctid::text' : 'xmin::text, ctid::text';
  const rows = async (table: string, key: string, columns: string) =>
    (await pool.query(`SELECT ${version}, ${columns} FROM "${schema}".${table} ORDER BY ${key}`)).rows;
  return {
    entries: await rows('memory_entries', 'entry_id', 'entry_id, scope, project_key, entry::text'),
    audit: await rows('memory_promotion_audit', 'seq', 'seq::text, entry_id, audit::text'),
    pipeline: await rows('pipeline_entries', 'entry_id', 'entry_id, stage, updated_at::text, entry::text'),
    stamps: await rows('stamps', 'store', 'store, last_ms::text'),
  };
}
