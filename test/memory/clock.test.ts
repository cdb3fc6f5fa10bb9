import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProjectMemoryStore } from '../../src/memory/index.js';
import { ValidationError } from '../../src/storage/index.js';
import { tempDir } from '../helpers/tmp.js';
import { projectEntry } from './helpers.js';

const T0 = 1_700_000_000_000;

describe('ProjectMemoryStore checks every clock reading before it writes', () => {
  it.each([
    ['1e20 (past the year 9999)', 1e20],
    ['a fraction', T0 + 0.5],
    ['Infinity', Number.POSITIVE_INFINITY],
  ])('refuses a clock that returns %s with ValidationError and writes nothing', async (_what, bad) => {
    const file = path.join(tempDir(), 'analysis_project_memory.json');
    let now = T0;
    const store = new ProjectMemoryStore({ path: file, clock: () => now });
    await store.save(projectEntry('a'));
    const bytes = fs.readFileSync(file);
    now = bad;
    await expect(store.save(projectEntry('b'))).rejects.toBeInstanceOf(ValidationError);
    await expect(store.applyFeedback('a', 'positive')).rejects.toBeInstanceOf(ValidationError);
    await expect(store.sweepAutoConfirm()).rejects.toBeInstanceOf(ValidationError);
    await expect(
      store.promote('a', { fromScope: 'project', toScope: 'project', trigger: 'user_feedback' }),
    ).rejects.toBeInstanceOf(ValidationError);
    expect(fs.readFileSync(file)).toEqual(bytes);
    now = T0 + 1;
    expect((await store.save(projectEntry('b'))).createdAt).toBe(T0 + 1);
  });

  it('refuses an explicit `now` that is not a time', async () => {
    const store = ProjectMemoryStore.inMemory({ clock: () => T0 });
    await store.save(projectEntry('a'));
    await expect(store.applyFeedback('a', 'positive', 1e20)).rejects.toBeInstanceOf(ValidationError);
    await expect(store.sweepAutoConfirm(1e20)).rejects.toBeInstanceOf(ValidationError);
    expect((await store.get('a'))?.status).toBe('provisional');
  });
});
