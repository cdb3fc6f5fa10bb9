import { textTable } from './text-table.js';

/** How a list command shows its records. */
export interface RecordListing<T> {
  /** `--json`: one record per line (NDJSON), nothing else. */
  json: boolean;
  /** The line printed when there is nothing to list. */
  none: string;
  header: string[];
  row: (record: T) => string[];
  /** The closing line under the table, e.g. a count. */
  footer: string;
}

/**
 * Prints records as NDJSON with `--json`, otherwise as a table and a footer, or one line saying
 * there are none. The lines go to `out` as one text (one write to stdout, not one per record:
 * a pipe takes a system call per write).
 */
export function printRecords<T>(out: (text: string) => void, records: readonly T[], listing: RecordListing<T>): void {
  if (listing.json) {
    if (records.length > 0) out(records.map((record) => JSON.stringify(record)).join('\n'));
    return;
  }
  if (records.length === 0) {
    out(listing.none);
    return;
  }
  out([...textTable(listing.header, records.map(listing.row)), listing.footer].join('\n'));
}

/**
 * The footer of a list cut at `--limit`: `3 runs`, or `3 runs (the first 3: raise --limit to see
 * more)` when the limit may have cut it.
 */
export function countShown(n: number, limit: number | undefined, one: string, many: string, first = 'first'): string {
  const shown = count(n, one, many);
  return limit !== undefined && n >= limit ? `${shown} (the ${first} ${limit}: raise --limit to see more)` : shown;
}

/** `1 entry`, `2 entries`. */
export function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
