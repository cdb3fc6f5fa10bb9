import { describe, expect, it } from 'vitest';
import { loadPg } from '../../src/postgres/index.js';
import { StoreIOError } from '../../src/storage/errors.js';

/** The error Node gives `import('pg')` when the package is not installed. */
function notInstalled(): Error {
  return Object.assign(
    new Error("Cannot find package 'pg' imported from /app/node_modules/agent-stores/dist/index.js"),
    {
      code: 'ERR_MODULE_NOT_FOUND',
    },
  );
}

describe('loadPg()', () => {
  it('loads node-postgres, with its Pool', async () => {
    const pg = await loadPg();
    expect(typeof pg.Pool).toBe('function');
  });

  it('says how to install pg when it is not installed', async () => {
    const error = await loadPg(() => Promise.reject(notInstalled())).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StoreIOError);
    expect((error as StoreIOError).errno).toBe('ERR_MODULE_NOT_FOUND');
    expect((error as Error).message).toMatch(/optional peer dependency.*npm install pg/);
  });

  it('says the same from CommonJS, where the code is MODULE_NOT_FOUND', async () => {
    const fromRequire = Object.assign(new Error("Cannot find module 'pg'\nRequire stack: ..."), {
      code: 'MODULE_NOT_FOUND',
    });
    await expect(loadPg(() => Promise.reject(fromRequire))).rejects.toThrow(/npm install pg/);
  });

  it('passes through a failure inside pg other than its absence', async () => {
    const inner = Object.assign(new Error("Cannot find module 'pg-types'"), { code: 'MODULE_NOT_FOUND' });
    await expect(loadPg(() => Promise.reject(inner))).rejects.toBe(inner);
  });
});
