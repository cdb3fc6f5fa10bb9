import type * as PgModule from 'pg';
import { StoreIOError } from '../storage/errors.js';

/** The parts of node-postgres the library uses. */
export type Pg = typeof PgModule;

/** How the driver is imported; tests pass their own to see the error for a missing package. */
export type PgImporter = () => Promise<unknown>;

const importPg: PgImporter = () => import('pg');

let loaded: Promise<Pg> | undefined;

/** True when `error` says that the `pg` package itself (not one of its files) cannot be found. */
function isPgMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  return /['"]pg['"]/.test(String((error as Error).message));
}

/**
 * Loads node-postgres on first use. `pg` is an optional peer dependency: a user of the file
 * backend does not install it, and importing `agent-stores` never loads it; only the PostgreSQL
 * backend calls this.
 *
 * @param importer How to import the module; the default is `import('pg')`.
 * @throws StoreIOError when `pg` is not installed, saying how to install it.
 */
export async function loadPg(importer: PgImporter = importPg): Promise<Pg> {
  if (importer !== importPg) return interop(await importWithAdvice(importer));
  loaded ??= importWithAdvice(importer).then(interop);
  try {
    return await loaded;
  } catch (error) {
    loaded = undefined; // installed since? try again next time
    throw error;
  }
}

async function importWithAdvice(importer: PgImporter): Promise<unknown> {
  try {
    return await importer();
  } catch (error) {
    if (!isPgMissing(error)) throw error;
    throw new StoreIOError('the pg package', 'loading', error, {
      outcome:
        'the PostgreSQL backend needs node-postgres, an optional peer dependency of agent-stores. Install it next to agent-stores: npm install pg',
    });
  }
}

/** node-postgres is CommonJS: from ESM its exports sit on `default`. */
function interop(module: unknown): Pg {
  const candidate = module as { default?: Pg } & Pg;
  return typeof candidate.Pool === 'function' ? candidate : (candidate.default as Pg);
}
