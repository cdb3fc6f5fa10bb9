// A list command's output goes to stdout in one write: a pipe takes a system call per write, and
// `runs list` on thousands of runs paid one per line.
import { describe, expect, it } from 'vitest';
import { printRecords } from '../../src/cli/print-records.js';

const listing = (json: boolean) => ({
  json,
  none: 'nothing',
  header: ['ID', 'NAME'],
  row: (record: { id: number; name: string }) => [String(record.id), record.name],
  footer: '3 records',
});
const records = [1, 2, 3].map((id) => ({ id, name: `name-${id}` }));

describe('printRecords', () => {
  it('hands the whole table, header to footer, to one call of out', () => {
    const calls: string[] = [];
    printRecords((text) => calls.push(text), records, listing(false));
    expect(calls).toHaveLength(1);
    expect(calls[0]!.split('\n')).toEqual(['ID  NAME', '1   name-1', '2   name-2', '3   name-3', '3 records']);
  });

  it('hands every record as one NDJSON line to one call of out with --json', () => {
    const calls: string[] = [];
    printRecords((text) => calls.push(text), records, listing(true));
    expect(calls).toEqual([records.map((record) => JSON.stringify(record)).join('\n')]);
  });

  it('prints nothing with --json when there is no record', () => {
    const calls: string[] = [];
    printRecords((text) => calls.push(text), [], listing(true));
    expect(calls).toEqual([]);
  });
});
