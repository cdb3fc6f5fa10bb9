import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LockError, StoreIOError } from '../../src/storage/errors.js';
import { acquireLock, lockPathOf } from '../../src/storage/lock.js';
import { tempDir } from '../helpers/tmp.js';
import { refuseLockRemoval } from '../reliability/lock-removal-faults.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** Starts a child that holds the lock on `file`; resolves once it has it. */
function holdInChild(file: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures/hold-lock.ts'), file],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('locked')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.on('exit', () => resolve()),
  );
}

describe('acquireLock', () => {
  it('refuses with LockError while a live process holds the lock', async () => {
    const file = path.join(tempDir(), 'data.json');
    await holdInChild(file);
    await expect(acquireLock(file, { waitMs: 200 })).rejects.toBeInstanceOf(LockError);
  });

  it('takes over at once a lock whose owner process was killed', async () => {
    const file = path.join(tempDir(), 'data.json');
    const child = await holdInChild(file);
    child.kill('SIGKILL');
    await exited(child);
    expect(fs.existsSync(lockPathOf(file))).toBe(true);
    // waitMs 0: no waiting for the stale timeout; the dead owner is detected by its pid.
    const held = await acquireLock(file, { waitMs: 0, staleMs: 60_000 });
    await held.release();
    expect(fs.existsSync(lockPathOf(file))).toBe(false);
  });

  it('keeps a held lock past its first refresh', async () => {
    const file = path.join(tempDir(), 'data.json');
    let lost: Error | undefined;
    const held = await acquireLock(file, { staleMs: 2_000, onCompromised: (error) => (lost = error) });
    // proper-lockfile refreshes at staleMs / 2 and compares the directory's mtime with its own record.
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    expect(lost).toBeUndefined();
    expect(held.compromised).toBe(false);
    await held.release();
  });

  it('takes over a lock directory left without an owner record by a process that died creating it', async () => {
    const file = path.join(tempDir(), 'data.json');
    fs.mkdirSync(lockPathOf(file));
    const old = new Date(Date.now() - 5_000);
    fs.utimesSync(lockPathOf(file), old, old);
    const held = await acquireLock(file, { waitMs: 0, staleMs: 60_000 });
    await held.release();
  });

  it('leaves alone a fresh lock directory whose owner is still writing its record', async () => {
    const file = path.join(tempDir(), 'data.json');
    fs.mkdirSync(lockPathOf(file));
    await expect(acquireLock(file, { waitMs: 100, staleMs: 60_000 })).rejects.toBeInstanceOf(LockError);
  });

  it('reports a lock directory the disk refuses to create as StoreIOError, not as held by someone', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'not-a-dir'), '');
    const file = path.join(dir, 'not-a-dir', 'data.json');
    const error = await acquireLock(file, { waitMs: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreIOError);
    expect(error).toMatchObject({ code: 'IO' });
  });

  it('serialises two holders in one process', async () => {
    const file = path.join(tempDir(), 'data.json');
    const first = await acquireLock(file);
    const order: string[] = [];
    const second = acquireLock(file, { waitMs: 5_000 }).then((held) => {
      order.push('second');
      return held;
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    order.push('first releases');
    await first.release();
    await (await second).release();
    expect(order).toEqual(['first releases', 'second']);
  });
});

describe('acquireLock when the disk refuses to remove the lock directory', () => {
  it('release() resolves: the write it guarded is on disk already', async () => {
    const file = path.join(tempDir(), 'data.json');
    const held = await acquireLock(file, { waitMs: 0 });
    const heal = refuseLockRemoval('EROFS');
    try {
      await expect(held.release()).resolves.toBeUndefined();
    } finally {
      heal();
    }
    expect(fs.existsSync(lockPathOf(file))).toBe(true);
  });

  it('takes over at once, in the same process, the lock directory such a release left behind', async () => {
    const file = path.join(tempDir(), 'data.json');
    const first = await acquireLock(file, { waitMs: 0, staleMs: 60_000 });
    const heal = refuseLockRemoval('EIO');
    try {
      await first.release();
    } finally {
      heal();
    }
    const second = await acquireLock(file, { waitMs: 0, staleMs: 60_000 });
    await second.release();
    expect(fs.existsSync(lockPathOf(file))).toBe(false);
  });
});
