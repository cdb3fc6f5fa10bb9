import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProjectMemoryStore, ValidationError } from '../../src/index.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';
import { describeBadInputConformance } from './bad-input.conformance.js';

describeBadInputConformance('file', () => {
  const dir = tempDir();
  const file = path.join(dir, 'analysis_project_memory.json');
  return {
    store: new ProjectMemoryStore({ path: file }),
    snapshot: () => snapshotFiles(dir),
    reopen: (clock) => new ProjectMemoryStore({ path: file, clock }),
  };
});

describe('ProjectMemoryStore refuses bad options', () => {
  it('refuses a constructor without a path with ValidationError', () => {
    // biome-ignore lint/suspicious/noExplicitAny: bad input is the point of this test
    expect(() => new ProjectMemoryStore({} as any)).toThrow(ValidationError);
  });
});
