import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { BenchRow } from './harness.js';
import { suites } from './suites.js';

const { values } = parseArgs({ options: { only: { type: 'string' } } });
const rows: BenchRow[] = [];
for (const suite of suites) {
  if (values.only && !suite.name.includes(values.only)) continue;
  process.stdout.write(`running ${suite.name}…\n`);
  rows.push(...(await suite.run()));
}

const fmt = (n: number | null, digits = 2) =>
  n === null ? '—' : Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(digits);
const table = [
  '| figure | unit | ours | peer | ratio | target | met |',
  '|---|---|---:|---:|---:|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.figure} | ${r.unit} | ${fmt(r.ours)} | ${fmt(r.peer)} | ${r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`} | ${r.target} | ${r.met ? 'yes' : 'NO'} |`,
  ),
];
process.stdout.write(`\n${table.join('\n')}\n`);
const out = path.join(import.meta.dirname, 'results.json');
fs.writeFileSync(out, `${JSON.stringify(rows, null, 2)}\n`);
process.stdout.write(`\nwrote ${path.relative(process.cwd(), out)}\n`);
