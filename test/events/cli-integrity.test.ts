import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentEventLog } from '../../src/events/index.js';
import { cli } from '../cli/run-cli-process.js';
import { tempDir } from '../helpers/tmp.js';
import { range } from './helpers.js';

/** A root whose run `run-1` holds `count` events, the last one terminal. */
async function rootWithRun(count: number): Promise<{ root: string; log: string; idx: string }> {
  const root = tempDir();
  const dir = path.join(root, 'agent_events');
  const writer = new AgentEventLog({ dir });
  for (const i of range(count)) await writer.append('run-1', { type: i === count ? 'end' : 'n', payload: { i } });
  await writer.close();
  return { root, log: path.join(dir, 'run-1.ndjson'), idx: path.join(dir, 'run-1.idx') };
}

describe('the CLI on damaged event logs', () => {
  it('events tail --after 2 prints every later event although the index entry of cursor 3 was zeroed', async () => {
    const { root, idx } = await rootWithRun(6);
    const entries = fs.readFileSync(idx);
    entries.fill(0, 16, 24);
    fs.writeFileSync(idx, entries);
    const { code, stdout } = await cli('events', 'tail', 'run-1', '--after', '2', '--json', '--root', root);
    expect(code).toBe(0);
    expect(
      stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).cursor),
    ).toEqual([3, 4, 5, 6]);
  });

  it('events tail fails with the damaged line named instead of printing too few events and exiting 0', async () => {
    const { root, log } = await rootWithRun(6);
    const bytes = fs.readFileSync(log);
    const third = bytes.indexOf('{"cursor":3,');
    bytes.write('?', bytes.indexOf('"i":3', third) + 3, 'latin1');
    fs.writeFileSync(log, bytes);
    const { code, stderr } = await cli('events', 'tail', 'run-1', '--root', root);
    expect(code).not.toBe(0);
    expect(stderr).toContain(`byte ${third}`);
  });

  it('verify --repair prints where it moved a damaged line, which is kept intact, and exits 0', async () => {
    const { root, log } = await rootWithRun(4);
    const bytes = fs.readFileSync(log);
    const third = bytes.indexOf('{"cursor":3,');
    bytes.write('?', bytes.indexOf('"i":3', third) + 3, 'latin1');
    fs.writeFileSync(log, bytes);
    const found = await cli('verify', '--root', root);
    expect(found.code).toBe(1);
    expect(found.stdout).toMatch(new RegExp(`PROBLEM\\s+agent_events[/\\\\]run-1\\.ndjson.*byte ${third}`));
    const repaired = await cli('verify', '--repair', '--root', root);
    expect(repaired.code).toBe(0);
    const moved = /moved (\d+) bytes from byte (\d+) to (\S+)/.exec(repaired.stdout);
    expect(moved).not.toBeNull();
    expect(Number(moved![2])).toBe(third);
    expect(fs.readFileSync(path.join(root, moved![3]!))).toEqual(bytes.subarray(third));
    expect(fs.readFileSync(log)).toEqual(bytes.subarray(0, third));
    expect((await cli('verify', '--root', root)).code).toBe(0);
  });
});
