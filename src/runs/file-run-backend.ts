import * as path from 'node:path';
import { CorruptStoreError, NotFoundError, StoreIOError } from '../storage/errors.js';
import { isValidId } from '../storage/ids.js';
import { type FileIdentity, nodeIO, type StorageIO, sameIdentity } from '../storage/io.js';
import { acquireLock, type LockOptions } from '../storage/lock.js';
import { BeatFile } from './beat-file.js';
import { parseStoredRun } from './parse-stored-run.js';
import { type Beat, BUSY, FENCED, type OnUnreadable, type RunBackend } from './run-backend.js';
import { nodeRunFilesIO, type RunFilesIO } from './run-files-io.js';
import type { AnalysisRun } from './schemas.js';

/** The `schemaVersion` of run files this code writes; files with a higher one are refused. */
export const RUN_FILE_VERSION = 1;

/** Options of {@link FileRunBackend}. */
export interface FileRunBackendOptions {
  /** The `analysis_runs/` directory. */
  dir: string;
  /** File-system seam for fault-injection tests. @defaultValue the real file system */
  io?: StorageIO | undefined;
  /** Options of the per-run lock. @defaultValue the core's defaults (wait 10 s, stale after 10 s) */
  lock?: LockOptions | undefined;
  /** Seam for the beat files and directory listings, for fault-injection tests. @defaultValue the real file system */
  files?: RunFilesIO | undefined;
}

/** The text of a run file: `{ schemaVersion, run }`, indented for people. */
export function encodeRunFile(run: AnalysisRun): string {
  return `${JSON.stringify({ schemaVersion: RUN_FILE_VERSION, run }, null, 2)}\n`;
}

/** Parses a run file, or throws {@link CorruptStoreError} naming it. */
export function decodeRunFile(file: string, runId: string, bytes: Buffer): AnalysisRun {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new CorruptStoreError(file, `not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new CorruptStoreError(file, 'not a JSON object');
  const { schemaVersion, run } = raw as { schemaVersion?: unknown; run?: unknown };
  if (typeof schemaVersion !== 'number' || !Number.isInteger(schemaVersion) || schemaVersion < 1) {
    throw new CorruptStoreError(file, 'no valid schemaVersion');
  }
  if (schemaVersion > RUN_FILE_VERSION) {
    throw new CorruptStoreError(
      file,
      `schemaVersion ${schemaVersion} was written by a newer agent-stores (this one knows up to ${RUN_FILE_VERSION}); upgrade the library`,
    );
  }
  const parsed = parseStoredRun(run);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CorruptStoreError(file, `run.${issue?.path.join('.')}: ${issue?.message}`);
  }
  if (parsed.data.runId !== runId) throw new CorruptStoreError(file, `it holds run '${parsed.data.runId}'`);
  return parsed.data;
}

/**
 * The record with a beat applied: the beat's `heartbeatAt` wins, `updatedAt` is the larger of the
 * two. Every beat in a beat file was written after the state file beside it (a status change
 * writes its state, then a new beat file), so the beat is the newer sign of life even when its
 * time is lower: a clock that was ahead and has been corrected must not leave the run's
 * `heartbeatAt` pinned in the future.
 */
export function applyBeat(run: AnalysisRun, beat: Beat | undefined): AnalysisRun {
  if (!beat) return run;
  const updatedAt = Math.max(run.updatedAt, beat.updatedAt);
  // Object.assign, not a spread: V8 adds a property the source lacks (heartbeatAt on a run that
  // never beat) to a spread clone some fifty times slower. This is the heartbeat's hot path.
  return beat.heartbeatDetails === undefined
    ? Object.assign({}, run, { heartbeatAt: beat.heartbeatAt, updatedAt })
    : Object.assign({}, run, { heartbeatAt: beat.heartbeatAt, heartbeatDetails: beat.heartbeatDetails, updatedAt });
}

/**
 * `read()`, or `undefined` after telling `skip` when the run's file cannot be parsed or fails its
 * schema, or is a symbolic link: one damaged file must not hide every other run from a listing.
 * A disk that refuses a read (StoreIOError) still fails the listing: that is not a property of
 * one file, and a retry may succeed.
 */
function readOrSkip(runId: string, skip: OnUnreadable, read: () => AnalysisRun | undefined): AnalysisRun | undefined {
  try {
    return read();
  } catch (error) {
    // A symbolic link where a run file should be is as permanent as a damaged file.
    const planted = error instanceof StoreIOError && (error.cause as { code?: unknown })?.code === 'ELOOP';
    if (!(error instanceof CorruptStoreError) && !planted) throw error;
    skip(runId, (error as CorruptStoreError | StoreIOError).file, error as CorruptStoreError | StoreIOError);
    return undefined;
  }
}

interface CachedRun {
  identity: FileIdentity;
  run: AnalysisRun;
}

/** A beat file held open, with the state that was current when it was opened. */
interface OpenBeat {
  file: BeatFile;
  state: AnalysisRun;
  /** The record after this handle's last beat, and that beat: reused while nobody else writes. */
  last?: { beat: Beat; run: AnalysisRun };
}

const MAX_OPEN_BEATS = 256;
const STATE = '.json';
const BEAT = '.beat';
/** The temp name of a new beat file (`<runId>.beat.<16 hex digits>.tmp`; before: `.<pid>-<n>.tmp`). */
const BEAT_TEMP = /^(.+)\.beat\.(?:[0-9a-f]{16}|\d+-\d+)\.tmp$/;

/**
 * Run records as files under `analysis_runs/`:
 *
 * ```
 * analysis_runs/
 *   active/<runId>.json   pending and running runs: { schemaVersion, run }, replaced atomically, fsynced
 *   active/<runId>.beat   a fence byte, then the run's latest heartbeat, overwritten in place (one JSON line + CRC-32)
 *   done/<runId>.json     completed, failed and cancelled runs, written once, fsynced
 *   locks/<runId>.lock/   the run's cross-process lock while a status change holds it
 * ```
 *
 * Why this layout:
 * - A heartbeat touches only its own run's beat file: its cost does not depend on how many runs
 *   are kept. Listing live runs reads `active/` only, never the (many) finished runs in `done/`.
 * - Status changes are durable: atomic replace (temp file, fsync, rename) plus a directory fsync,
 *   under the run's lock. Heartbeats are not fsynced: one lost to a crash makes the run look
 *   staler than it was, which after a crash is the truth.
 * - A run's record is its state file with its beat applied: the beat's `heartbeatAt` wins (it
 *   was written after the state) and `updatedAt` is the larger of the two. A torn beat (crash mid-write, detected by its CRC)
 *   reads as no beat.
 *
 * Heartbeats and status changes. A beat holds the beat file open and takes no lock: read it,
 * write in place from byte 1, then read byte 0 again. Byte 0 is the fence: every status change,
 * under the lock, first sets it to `F`, then reads the final beats through the file, writes the
 * new record durably, and leaves a new beat file for a live run (renamed into place) or none for
 * a finished one. A beat that finds the fence set after writing raced a status change: it is
 * retried on the new file of a still-live run, or refused when the run finished. A beat that
 * still saw the file open after writing was written before the fence was set (a store and a load
 * on each side, with system calls in between: one side always sees the other), so the new
 * record includes it. The record a beat returns is built from the state read when its beat file
 * was opened: each new beat file comes with a new state, so a beat never `stat`s the state file.
 * Three short system calls per beat (`pread`, `pwrite`, a 1-byte `pread`), no `fstat`.
 *
 * Crashes. Finishing writes `done/<runId>.json` before removing `active/<runId>.json`; after a
 * crash in between, `done/` wins on every read and `cleanup` removes the leftover. A crash after
 * the fence and before the new record leaves a live run with a fenced beat file: the next beat
 * waits for the run's lock and gives it a new beat file (keeping the last beat).
 */
export class FileRunBackend implements RunBackend {
  readonly dir: string;
  readonly #activeDir: string;
  readonly #doneDir: string;
  readonly #locksDir: string;
  readonly #io: StorageIO;
  readonly #files: RunFilesIO;
  readonly #lockOptions: LockOptions | undefined;
  readonly #states = new Map<string, CachedRun>();
  readonly #done = new Map<string, CachedRun>();
  readonly #beats = new Map<string, OpenBeat>();
  #dirsReady = false;

  constructor(options: FileRunBackendOptions) {
    this.dir = path.resolve(options.dir);
    this.#activeDir = path.join(this.dir, 'active');
    this.#doneDir = path.join(this.dir, 'done');
    this.#locksDir = path.join(this.dir, 'locks');
    this.#io = options.io ?? nodeIO;
    this.#files = options.files ?? nodeRunFilesIO;
    this.#lockOptions = options.lock;
  }

  #statePath(runId: string): string {
    return path.join(this.#activeDir, runId + STATE);
  }

  #beatPath(runId: string): string {
    return path.join(this.#activeDir, runId + BEAT);
  }

  #donePath(runId: string): string {
    return path.join(this.#doneDir, runId + STATE);
  }

  get(runId: string): AnalysisRun | undefined {
    // Finished first: a leftover live file of a finished run must not hide its end. Then the
    // finished record once more, for a run that finished between the first two reads.
    return this.#readDone(runId) ?? this.#readActive(runId) ?? this.#readDone(runId);
  }

  async lock(runId: string, waitMs?: number): Promise<() => Promise<void>> {
    const options = waitMs === undefined ? this.#lockOptions : { ...this.#lockOptions, waitMs };
    const held = await acquireLock(path.join(this.#locksDir, runId), options);
    return () => held.release();
  }

  async create(run: AnalysisRun): Promise<void> {
    await this.#ensureDirs();
    const beatFile = this.#beatPath(run.runId);
    const stateFile = this.#statePath(run.runId);
    try {
      // The beat file first: a run whose state file is visible always has one to beat into.
      BeatFile.replace(this.#files, beatFile);
    } catch (error) {
      // Nothing of ours is there: whatever is at the name (a planted link, say) is left alone.
      throw new StoreIOError(beatFile, 'creating', error);
    }
    let wroteState = false;
    try {
      await this.#io.writeAtomic(stateFile, encodeRunFile(run), { fsync: true });
      wroteState = true;
      await this.#io.fsyncDir(this.#activeDir);
    } catch (error) {
      if (wroteState) await this.#io.unlink(stateFile).catch(() => {});
      await this.#io.unlink(beatFile).catch(() => {});
      throw new StoreIOError(stateFile, 'creating', error);
    }
    this.#remember(this.#states, stateFile, run);
  }

  async update(runId: string, build: (latest: AnalysisRun) => AnalysisRun): Promise<AnalysisRun> {
    const stateFile = this.#statePath(runId);
    const fenced = await this.#fence(runId);
    let next: AnalysisRun;
    try {
      const state = this.#readState(runId);
      if (!state) throw new NotFoundError('run', runId);
      next = build(applyBeat(state, fenced.beat));
      try {
        await this.#io.writeAtomic(stateFile, encodeRunFile(next), { fsync: true });
        await this.#io.fsyncDir(this.#activeDir);
      } catch (error) {
        this.#states.delete(runId);
        throw new StoreIOError(stateFile, 'writing', error);
      }
    } catch (error) {
      fenced.restore();
      throw error;
    }
    this.#remember(this.#states, stateFile, next);
    // The new record holds the final beats: a new, empty beat file replaces the fenced one, and
    // beats holding the old one see its flag and open this one (reading the new state with it).
    this.#newBeatFile(runId);
    fenced.close();
    return next;
  }

  beat(runId: string, next: (current: AnalysisRun | undefined) => Beat): AnalysisRun | typeof FENCED | typeof BUSY {
    for (let attempt = 0; attempt < 3; attempt++) {
      const cached = this.#beats.has(runId);
      const open = this.#openBeat(runId);
      if (!open) return this.#blocked(runId, next);
      const previous = open.file.read();
      if (previous.fenced) {
        // A status change fenced this file: a new one replaces it, unless the change is under way
        // (or crashed half-way) or the run finished.
        this.#dropHandle(runId);
        if (cached) continue;
        return this.#blocked(runId, next);
      }
      const current =
        previous.beat && previous.beat === open.last?.beat ? open.last.run : applyBeat(open.state, previous.beat);
      const beat = next(current);
      open.file.write(beat);
      if (open.file.isOpen()) {
        // Callers get copies of records (the store copies every record it returns), so this one can be kept.
        const run = applyBeat(open.state, beat);
        open.last = { beat, run };
        return run;
      }
      // A status change fenced the file while we wrote: look again at what it leaves.
      this.#dropHandle(runId);
    }
    return this.#blocked(runId, next);
  }

  /** No beat file to write to: refused for a finished or unknown run, BUSY for a live one. */
  #blocked(runId: string, next: (current: AnalysisRun | undefined) => Beat): typeof FENCED | typeof BUSY {
    const done = this.#readDone(runId);
    if (!done && this.#readState(runId)) return BUSY;
    next(done);
    return FENCED;
  }

  async restoreBeat(runId: string): Promise<void> {
    if (this.#readDone(runId) || !this.#readState(runId)) return;
    // Under the lock, a live run's beat file that is missing or fenced was left by a status
    // change that crashed half-way: give the run a new one (its last beats, if readable, kept).
    const file = this.#beatPath(runId);
    try {
      const handle = BeatFile.open(this.#files, file);
      let read: ReturnType<BeatFile['read']> | undefined;
      try {
        read = handle?.read();
      } finally {
        handle?.close();
      }
      if (read && !read.fenced) return;
      this.#dropHandle(runId);
      BeatFile.replace(this.#files, file, read?.beat);
    } catch (error) {
      throw new StoreIOError(file, 'restoring', error);
    }
  }

  async finish(runId: string, build: (latest: AnalysisRun) => AnalysisRun): Promise<AnalysisRun> {
    const doneFile = this.#donePath(runId);
    const fenced = await this.#fence(runId);
    let wroteDone = false;
    let final: AnalysisRun;
    try {
      const state = this.#readState(runId);
      if (!state) throw new NotFoundError('run', runId);
      final = build(applyBeat(state, fenced.beat));
      try {
        await this.#ensureDirs();
        wroteDone = true;
        await this.#io.writeAtomic(doneFile, encodeRunFile(final), { fsync: true });
        await this.#io.fsyncDir(this.#doneDir);
      } catch (error) {
        throw new StoreIOError(doneFile, 'writing', error);
      }
    } catch (error) {
      // Put everything back as it was: no finished record, the beats read back into a beat file.
      if (wroteDone) await this.#io.unlink(doneFile).catch(() => {});
      this.#done.delete(runId);
      fenced.restore();
      throw error;
    }
    fenced.close();
    this.#remember(this.#done, doneFile, final);
    // The end is durable. What follows only tidies `active/`; if it is cut short, `done/` wins
    // on every read and cleanup removes the rest.
    this.#states.delete(runId);
    await this.#removeActive(runId).catch(() => {});
    return final;
  }

  /**
   * Fences the run's beat file (flag byte to `F`) and reads the last beat through it: every beat
   * acknowledged before the fence is in it. `restore()` lets beats in again; `close()` when done.
   */
  async #fence(runId: string): Promise<{ beat: Beat | undefined; restore(): void; close(): void }> {
    const file = this.#beatPath(runId);
    this.#dropHandle(runId);
    let handle: BeatFile | undefined;
    let beat: Beat | undefined;
    try {
      handle = BeatFile.open(this.#files, file);
      handle?.fence();
      beat = handle?.read().beat;
    } catch (error) {
      handle?.close();
      throw new StoreIOError(file, 'fencing', error);
    }
    return {
      beat,
      restore: () => {
        try {
          handle?.unfence();
        } catch {
          // Beats find the file fenced and, under the lock, get a new one.
        }
        handle?.close();
      },
      close: () => handle?.close(),
    };
  }

  #newBeatFile(runId: string, beat?: Beat): void {
    try {
      BeatFile.replace(this.#files, this.#beatPath(runId), beat);
    } catch {
      // A live run without a beat file still works: its next beat creates one under the lock.
    }
  }

  async remove(runId: string): Promise<void> {
    const doneFile = this.#donePath(runId);
    // A live run's beat file is fenced first: a process still beating it (a forced delete) sees
    // the fence, finds no run, and is refused instead of writing into a removed file.
    const fenced = this.#identify(this.#beatPath(runId)) ? await this.#fence(runId) : undefined;
    try {
      // Not fsynced: a removal lost to a crash is simply done again by the next cleanup (or delete).
      await this.#io.unlink(doneFile);
      await this.#removeActive(runId);
    } catch (error) {
      fenced?.restore();
      throw new StoreIOError(doneFile, 'removing', error);
    } finally {
      this.#done.delete(runId);
      this.#states.delete(runId);
    }
    fenced?.close();
  }

  listActive(skip: OnUnreadable): AnalysisRun[] {
    const runs: AnalysisRun[] = [];
    for (const name of this.#listDir(this.#activeDir)) {
      if (!name.endsWith(STATE)) continue;
      const runId = name.slice(0, -STATE.length);
      if (!isValidId(runId) || this.#identify(this.#donePath(runId))) continue;
      const run = readOrSkip(runId, skip, () => this.#readActive(runId));
      if (run) runs.push(run);
    }
    return runs;
  }

  listDone(skip: OnUnreadable): AnalysisRun[] {
    const runs: AnalysisRun[] = [];
    const seen = new Set<string>();
    for (const name of this.#listDir(this.#doneDir)) {
      if (!name.endsWith(STATE)) continue;
      const runId = name.slice(0, -STATE.length);
      if (!isValidId(runId)) continue;
      const run = readOrSkip(runId, skip, () => this.#readDone(runId));
      if (run) {
        runs.push(run);
        seen.add(runId);
      }
    }
    for (const runId of this.#done.keys()) if (!seen.has(runId)) this.#done.delete(runId);
    return runs;
  }

  leftovers(): string[] {
    const names = this.#listDir(this.#activeDir);
    const states = new Set<string>();
    for (const name of names) if (name.endsWith(STATE)) states.add(name.slice(0, -STATE.length));
    const found = new Set<string>();
    for (const name of names) {
      // A new beat file's temp, left by a process that died between writing and renaming it.
      const temp = BEAT_TEMP.exec(name);
      if (temp && isValidId(temp[1]!)) {
        found.add(temp[1]!);
        continue;
      }
      const suffix = name.endsWith(STATE) ? STATE : name.endsWith(BEAT) ? BEAT : '';
      if (!suffix) continue;
      const runId = name.slice(0, -suffix.length);
      if (!isValidId(runId)) continue;
      if (suffix === STATE ? this.#identify(this.#donePath(runId)) !== undefined : !states.has(runId)) found.add(runId);
    }
    return [...found];
  }

  async tidy(runId: string): Promise<void> {
    // Beat files are only ever replaced under the run's lock, which the caller holds: a temp of
    // this run's beat file is nobody's write in progress. (A link at such a name is removed, not followed.)
    for (const name of this.#listDir(this.#activeDir)) {
      if (BEAT_TEMP.exec(name)?.[1] === runId) await this.#io.unlink(path.join(this.#activeDir, name));
    }
    const finished = this.#identify(this.#donePath(runId)) !== undefined;
    if (finished) {
      this.#states.delete(runId);
      await this.#removeActive(runId);
    } else if (this.#identify(this.#statePath(runId)) === undefined) {
      await this.#removeBeats(runId);
    }
  }

  async close(): Promise<void> {
    for (const open of this.#beats.values()) open.file.close();
    this.#beats.clear();
  }

  async #removeActive(runId: string): Promise<void> {
    await this.#io.unlink(this.#statePath(runId));
    await this.#removeBeats(runId);
  }

  async #removeBeats(runId: string): Promise<void> {
    this.#dropHandle(runId);
    await this.#io.unlink(this.#beatPath(runId));
  }

  /**
   * The run's beat file, open, with the state that goes with it: read after opening the file,
   * so it is at least as new as the file (a status change writes its state before its new file).
   */
  #openBeat(runId: string): OpenBeat | undefined {
    const cached = this.#beats.get(runId);
    if (cached) return cached;
    const file = this.#beatPath(runId);
    let handle: BeatFile | undefined;
    try {
      handle = BeatFile.open(this.#files, file);
    } catch (error) {
      throw new StoreIOError(file, 'opening', error);
    }
    if (!handle) return undefined;
    let state: AnalysisRun | undefined;
    try {
      state = this.#readDone(runId) ? undefined : this.#readState(runId);
    } catch (error) {
      handle.close();
      throw error;
    }
    if (!state) {
      // A beat file with no live run beside it: a leftover. The run is finished or gone.
      handle.close();
      return undefined;
    }
    if (this.#beats.size >= MAX_OPEN_BEATS) {
      const oldest = this.#beats.keys().next().value;
      if (oldest !== undefined) this.#dropHandle(oldest);
    }
    const open = { file: handle, state };
    this.#beats.set(runId, open);
    return open;
  }

  #listDir(dir: string): string[] {
    try {
      return this.#files.list(dir);
    } catch (error) {
      throw new StoreIOError(dir, 'listing', error);
    }
  }

  #dropHandle(runId: string): void {
    this.#beats.get(runId)?.file.close();
    this.#beats.delete(runId);
  }

  #readActive(runId: string): AnalysisRun | undefined {
    const state = this.#readState(runId);
    if (!state) return undefined;
    try {
      return applyBeat(state, BeatFile.peek(this.#files, this.#beatPath(runId)));
    } catch (error) {
      throw new StoreIOError(this.#beatPath(runId), 'reading', error);
    }
  }

  #readState(runId: string): AnalysisRun | undefined {
    return this.#readCached(this.#states, this.#statePath(runId), runId);
  }

  #readDone(runId: string): AnalysisRun | undefined {
    return this.#readCached(this.#done, this.#donePath(runId), runId);
  }

  /** Reads a run file through `cache`: one `stat` when it has not changed since it was last read. */
  #readCached(cache: Map<string, CachedRun>, file: string, runId: string): AnalysisRun | undefined {
    for (let attempt = 0; ; attempt++) {
      const identity = this.#identify(file);
      if (!identity) {
        cache.delete(runId);
        return undefined;
      }
      const hit = cache.get(runId);
      if (hit && sameIdentity(hit.identity, identity)) return hit.run;
      let bytes: Buffer | undefined;
      try {
        bytes = this.#io.readHead(file, identity.size);
      } catch (error) {
        throw new StoreIOError(file, 'reading', error);
      }
      // Replaced while we read (an atomic rename by another process): read the new version.
      if (!sameIdentity(identity, this.#identify(file)) && attempt < 5) continue;
      if (bytes === undefined) continue;
      const run = decodeRunFile(file, runId, bytes);
      cache.set(runId, { identity, run });
      return run;
    }
  }

  #remember(cache: Map<string, CachedRun>, file: string, run: AnalysisRun): void {
    const identity = this.#identify(file);
    if (identity) cache.set(run.runId, { identity, run });
    else cache.delete(run.runId);
  }

  #identify(file: string): FileIdentity | undefined {
    try {
      return this.#io.identify(file);
    } catch (error) {
      throw new StoreIOError(file, 'reading', error);
    }
  }

  async #ensureDirs(): Promise<void> {
    if (this.#dirsReady) return;
    try {
      await this.#io.mkdirp(this.#activeDir);
      await this.#io.mkdirp(this.#doneDir);
    } catch (error) {
      throw new StoreIOError(this.dir, 'creating the directory', error);
    }
    this.#dirsReady = true;
  }
}
