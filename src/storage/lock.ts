import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LockError, StoreIOError } from './errors.js';

/** How a store takes the cross-process lock of a file it changes: how long it waits, when a lock is stale. */
export interface LockOptions {
  /**
   * How long to keep trying while another live process holds the lock, in ms. `0` fails at once.
   * @defaultValue 10_000
   */
  waitMs?: number;
  /**
   * After how many ms without a refresh a lock is stale and may be taken over, when its owner
   * cannot be checked (another host, or no owner record). proper-lockfile refreshes held locks.
   * @defaultValue 10_000
   */
  staleMs?: number;
  /** Called when a held lock was taken away (its directory vanished or went stale under us). */
  onCompromised?: (error: Error) => void;
}

/** A held lock. */
export interface HeldLock {
  /**
   * Removes the lock. Idempotent, and never rejects: it comes after the guarded write, which is
   * on disk by then and must not be reported as failed. A lock directory the disk refuses to
   * remove is left behind; this process takes it over at its next lock (the owner record names a
   * process that no longer holds it), other processes once it goes stale (`staleMs`).
   */
  release(): Promise<void>;
  /** True once the lock was lost (see {@link LockOptions.onCompromised}). */
  readonly compromised: boolean;
}

interface OwnerRecord {
  pid: number;
  host: string;
}

const HOST = os.hostname();
/**
 * The lock directories this process holds now. A directory whose owner record names this process
 * but which is not in here was left by a release the disk refused: nobody holds it.
 */
const heldHere = new Set<string>();
const OWNER_FILE = 'owner.json';
/** The owner record is created exclusively ('wx': O_EXCL, which never follows a link at the name). */
const CREATE_OWNER = 'wx';

/** Removes a lock directory with its owner record: two calls, where a recursive `rm` makes seven. */
function removeLockDir(dir: string): void {
  try {
    fs.unlinkSync(path.join(dir, OWNER_FILE));
  } catch {
    // No owner record (yet, or any more): the directory may still be there.
  }
  try {
    fs.rmdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') fs.rmSync(dir, { recursive: true, force: true });
  }
}

type Callback<R> = (error: NodeJS.ErrnoException | null, result?: R) => void;

/** A callback-style call made synchronously: these take microseconds, a thread-pool round trip more. */
function synchronously<A extends unknown[], R>(call: (...args: A) => R) {
  return (...args: [...A, Callback<R>]) => {
    const callback = args.pop() as Callback<R>;
    let result: R | undefined;
    let failure: NodeJS.ErrnoException | null = null;
    try {
      result = call(...(args as unknown as A));
    } catch (error) {
      failure = error as NodeJS.ErrnoException;
    }
    process.nextTick(callback, failure, result);
  };
}

/**
 * Takes the lock directory. Something other than a directory already at its path (a planted
 * symbolic link above all) is refused with ELOOP, never stat'ed through, waited on or removed:
 * proper-lockfile would otherwise take the link's target for a stale lock and clear it.
 */
function makeLockDir(dir: string): void {
  try {
    fs.mkdirSync(dir);
  } catch (error) {
    // Gone again by the time we look (its holder released it): a plain EEXIST, which
    // proper-lockfile answers by trying again.
    const found = (error as NodeJS.ErrnoException).code === 'EEXIST' && fs.lstatSync(dir, { throwIfNoEntry: false });
    if (found && !found.isDirectory()) {
      throw Object.assign(new Error(`ELOOP: not a lock directory (a symbolic link?), mkdir '${dir}'`), {
        code: 'ELOOP',
        syscall: 'mkdir',
        path: dir,
      });
    }
    throw error;
  }
}

// proper-lockfile takes and checks the lock with mkdir and stat, and removes it with rmdir; ours
// holds an owner record, so it is removed whole. Each is a short metadata call, made
// synchronously: a lock taken and released for every write cost about ten thread-pool round trips.
// `lstat`, not `stat`: nothing here follows a link.
const lockFs = {
  ...fs,
  mkdir: synchronously(makeLockDir),
  stat: synchronously((file: string) => fs.lstatSync(file)),
  rmdir: synchronously(removeLockDir),
  // The refresh of a held lock (every staleMs / 2): a process holding thousands of locks makes
  // thousands of these, and each thread-pool round trip cost several times the call itself.
  utimes: synchronously((file: string, atime: Date, mtime: Date) => fs.utimesSync(file, atime, mtime)),
  rmdirSync: removeLockDir,
};

/** The lock directory that guards `file`. */
export function lockPathOf(file: string): string {
  return `${file}.lock`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(lockDir: string): OwnerRecord | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(lockDir, OWNER_FILE), 'utf8')) as OwnerRecord;
    return typeof parsed.pid === 'number' && typeof parsed.host === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * An owner writes its record microseconds after creating the lock directory, so a directory that
 * has had no record for this long belongs to a process that died in between.
 */
const OWNERLESS_DEAD_MS = 3_000;

function isOwnerlessAndOld(lockDir: string): boolean {
  try {
    return Date.now() - fs.lstatSync(lockDir).mtimeMs > OWNERLESS_DEAD_MS;
  } catch {
    return false;
  }
}

/**
 * Removes the lock on `file` when its owner is a process of this host that no longer exists
 * (killed with SIGKILL, say), or when it has had no owner record for {@link OWNERLESS_DEAD_MS}.
 * Returns true when it removed one.
 */
function takeOverDeadOwner(file: string): boolean {
  const lockDir = lockPathOf(file);
  const owner = readOwner(lockDir);
  if (owner === undefined) {
    if (!isOwnerlessAndOld(lockDir)) return false;
  } else if (owner.host !== HOST) {
    return false;
  } else if (owner.pid === process.pid ? heldHere.has(lockDir) : isAlive(owner.pid)) {
    return false;
  }
  // Move it aside first: a rename is atomic, so of two processes that saw the same dead owner
  // only one removes it, and neither removes a lock the other has just taken.
  const grave = `${lockDir}.dead-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    fs.renameSync(lockDir, grave);
  } catch {
    return false;
  }
  const moved = readOwner(grave);
  if (moved?.pid !== owner?.pid) {
    // We raced another taker and moved its fresh lock: put it back if the place is still free.
    try {
      fs.renameSync(grave, lockDir);
      return false;
    } catch {
      // Someone holds the place already; the moved lock's owner will be told its lock is compromised.
    }
  }
  fs.rmSync(grave, { recursive: true, force: true });
  return true;
}

/**
 * Writes this process's owner record into a lock directory it has just created. Writing it changes
 * the directory's mtime, which proper-lockfile reads as someone else touching the lock at its
 * next refresh: the mtime is put back as it was.
 */
function writeOwner(lockDir: string): void {
  const { atime, mtime } = fs.lstatSync(lockDir);
  fs.writeFileSync(path.join(lockDir, OWNER_FILE), JSON.stringify({ pid: process.pid, host: HOST }), {
    flag: CREATE_OWNER,
  });
  fs.utimesSync(lockDir, atime, mtime);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// proper-lockfile (with graceful-fs, retry and signal-exit: some twenty modules) is loaded by the
// first lock, not by importing the library: a process that only reads never pays for it.
let properLockfile: typeof import('proper-lockfile') | undefined;

async function loadProperLockfile(): Promise<typeof import('proper-lockfile')> {
  properLockfile = (await import('proper-lockfile')).default;
  return properLockfile;
}

/**
 * Takes the cross-process lock that guards `file` (a directory `<file>.lock`, via proper-lockfile),
 * waiting up to `waitMs` while a live owner holds it. A lock whose owner process is gone from this
 * host is taken over at once; any other lock after `staleMs` without a refresh.
 *
 * @throws {@link LockError} when the lock could not be taken in time.
 * @throws {@link StoreIOError} when the disk refuses the lock directory or its owner record.
 */
export async function acquireLock(file: string, options: LockOptions = {}): Promise<HeldLock> {
  const lockDir = lockPathOf(file);
  let compromised = false;
  const release = await takeLockDir(file, options, (error) => {
    compromised = true;
    options.onCompromised?.(error);
  });
  try {
    writeOwner(lockDir);
  } catch (cause) {
    // A full disk refuses even this small file: give the lock back rather than hold it ownerless
    // (another process would take it over in a few seconds) with its refresh running.
    await release().catch(() => {});
    throw new StoreIOError(lockDir, 'writing the lock owner record', cause);
  }
  heldHere.add(lockDir);
  let released = false;
  return {
    get compromised() {
      return compromised;
    },
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(lockDir);
      if (compromised) return;
      try {
        await release();
      } catch {
        // Already released (ERELEASED), or the disk refused to remove the directory: see the
        // interface. Either way no one holds the lock any more.
      }
    },
  };
}

/**
 * Creates the lock directory with proper-lockfile, retrying (and taking over dead owners' locks)
 * until `waitMs` is up. Resolves to proper-lockfile's release function.
 */
async function takeLockDir(
  file: string,
  options: LockOptions,
  onCompromised: (error: Error) => void,
): Promise<() => Promise<void>> {
  const lockfile = properLockfile ?? (await loadProperLockfile());
  const waitMs = options.waitMs ?? 10_000;
  const staleMs = options.staleMs ?? 10_000;
  const deadline = Date.now() + waitMs;
  const lockDir = lockPathOf(file);
  let delay = 1;
  for (;;) {
    try {
      return await lockfile.lock(file, {
        realpath: false,
        lockfilePath: lockDir,
        stale: staleMs,
        retries: 0,
        fs: lockFs,
        onCompromised,
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        const parent = path.dirname(path.resolve(file));
        try {
          await fs.promises.mkdir(parent, { recursive: true });
        } catch (cause) {
          throw new StoreIOError(parent, 'creating the directory', cause);
        }
        continue;
      }
      // Anything but "held by someone" is the disk refusing (ENOSPC, EACCES, EROFS, ENOTDIR…):
      // say so, rather than send the caller looking for another process.
      if (code !== 'ELOCKED') throw new StoreIOError(lockDir, 'creating the lock', error);
      if (takeOverDeadOwner(file)) continue;
      if (Date.now() >= deadline) {
        const owner = readOwner(lockDir);
        const who = owner ? `process ${owner.pid} on ${owner.host}` : 'another process';
        throw new LockError(
          file,
          `held by ${who}; waited ${waitMs} ms. If no such process runs, remove ${lockDir} or wait ${staleMs} ms for it to go stale`,
        );
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 50);
    }
  }
}
