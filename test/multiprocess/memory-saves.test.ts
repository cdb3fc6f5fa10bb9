import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProjectMemoryStore } from '../../src/memory/index.js';
import { tempDir } from '../helpers/tmp.js';
import { runTogether } from './run-children.js';

const CHILDREN = 4;
const SAVES = 30;

describe('ProjectMemoryStore across processes', () => {
  it('keeps every save of four processes writing to one file at once', async () => {
    const file = path.join(tempDir(), 'analysis_project_memory.json');
    const prefixes = Array.from({ length: CHILDREN }, (_, i) => `p${i}`);
    const reported = (await runTogether(
      'memory-saver.ts',
      prefixes.map((prefix) => [file, prefix, String(SAVES)]),
    )) as string[][];

    const expected = prefixes.flatMap((prefix) => Array.from({ length: SAVES }, (_, i) => `${prefix}-${i}`)).sort();
    expect(reported.flat().sort()).toEqual(expected);
    const stored = await new ProjectMemoryStore({ path: file }).list();
    expect(stored.map((entry) => entry.entryId).sort()).toEqual(expected);
    expect(stored.every((entry) => entry.insight.startsWith(`saved by ${entry.projectKey} `))).toBe(true);
  });
});
