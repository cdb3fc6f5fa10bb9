import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FeedbackPipeline } from '../../src/feedback/index.js';
import { tempDir } from '../helpers/tmp.js';
import { runTogether } from './run-children.js';

const CHILDREN = 4;
const ENTRIES = 6;
/** create + three advances per entry. */
const OPS_PER_CHILD = ENTRIES * 4;

async function runWorkers(clockMode: 'system' | 'frozen') {
  const file = path.join(tempDir(), 'feedback_pipeline.json');
  const prefixes = Array.from({ length: CHILDREN }, (_, i) => `w${i}`);
  const stamps = (await runTogether(
    'pipeline-worker.ts',
    prefixes.map((prefix) => [file, prefix, String(ENTRIES), clockMode]),
  )) as number[][];
  return { file, prefixes, stamps };
}

function isStrictlyIncreasing(values: number[]): boolean {
  return values.every((value, i) => i === 0 || value > values[i - 1]!);
}

describe.each(['system', 'frozen'] as const)('FeedbackPipeline across processes (%s clock)', (clockMode) => {
  it('gives every operation of four processes a unique updatedAt, increasing within each process', async () => {
    const { file, prefixes, stamps } = await runWorkers(clockMode);
    expect(stamps.map((s) => s.length)).toEqual(prefixes.map(() => OPS_PER_CHILD));
    expect(stamps.map(isStrictlyIncreasing)).toEqual(prefixes.map(() => true));
    const all = stamps.flat();
    expect(new Set(all).size).toBe(all.length);

    const pipeline = new FeedbackPipeline({ path: file });
    const entries = await pipeline.list();
    expect(entries).toHaveLength(CHILDREN * ENTRIES);
    expect(new Set(entries.map((e) => e.updatedAt)).size).toBe(entries.length);
    expect(entries.every((e) => e.stage === 'reviewed' && e.history.length === 4)).toBe(true);
    expect(await pipeline.stats()).toMatchObject({ reviewed: CHILDREN * ENTRIES, feedback: 0 });
  });
});
