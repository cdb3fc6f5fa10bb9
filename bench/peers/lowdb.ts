import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The lowdb peer: `JSONFilePreset` (a JSON file, 2-space indented, replaced by rename through
 * steno's writer, no fsync, no lock). Loaded at run time from `bench/node_modules` and typed here
 * by the calls the bench makes, so the root typecheck does not need the bench peers installed.
 */
export interface LowDb<T> {
  data: T;
  read(): Promise<void>;
  write(): Promise<void>;
  /** Runs `fn` on `data`, then writes the file. */
  update(fn: (data: T) => unknown): Promise<void>;
}

interface LowdbNode {
  JSONFilePreset<T>(file: string, defaultData: T): Promise<LowDb<T>>;
}

// A non-literal specifier keeps TypeScript from resolving the module at typecheck time.
const LOWDB_NODE: string = 'lowdb/node';

/** A lowdb database in a directory of its own; `close()` removes the directory. */
export interface LowdbPeer<T> {
  readonly db: LowDb<T>;
  readonly file: string;
  close(): void;
}

/** Opens a lowdb JSON file (created with `defaultData` if missing) in a new temporary directory. */
export async function openLowdb<T>(defaultData: T, name = 'peer.json'): Promise<LowdbPeer<T>> {
  const { JSONFilePreset } = (await import(LOWDB_NODE)) as LowdbNode;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-stores-bench-lowdb-'));
  const file = path.join(dir, name);
  const db = await JSONFilePreset(file, defaultData);
  return {
    db,
    file,
    close() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
