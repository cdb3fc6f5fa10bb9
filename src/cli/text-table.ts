/**
 * Rows padded into columns, for a terminal. The last column is not padded (it is usually free
 * text) and cells are cut to `maxCell` characters so one long insight does not wrap the table.
 */
export function textTable(header: string[], rows: string[][], maxCell = 60): string[] {
  const cut = (cell: string) => (cell.length > maxCell ? `${cell.slice(0, maxCell - 1)}…` : cell);
  const all = [header, ...rows].map((row) => row.map((cell) => cut(cell.replace(/\s+/g, ' '))));
  const widths = header.map((_, column) => Math.max(...all.map((row) => row[column]?.length ?? 0)));
  return all.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd(),
  );
}
