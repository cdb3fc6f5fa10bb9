import * as fs from 'node:fs';
import * as path from 'node:path';
import { CorruptStoreError, NotFoundError, StoreIOError } from '../storage/errors.js';
import { isValidId } from '../storage/ids.js';
import { type FileIdentity, nodeIO, type StorageIO, sameIdentity } from '../storage/io.js';
import { acquireLock, type LockOptions } from '../storage/lock.js';
import { BeatFile } from './BeatFile.js';
import { type Beat, FENCED, type RunBackend } from './RunBackend.js';
import { type AnalysisRun, AnalysisRunSchema } from './schemas.js';

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
  const parsed = AnalysisRunSchema.safeParse(run);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CorruptStoreError(file, `run.${issue?.path.join('.')}: ${issue?.message}`);
  }
  if (parsed.data.runId !== runId) throw new CorruptStoreError(file, `it holds run '${parsed.data.runId}'`);
  return parsed.data;
}

/** The record with a beat applied: the later heartbeat wins, `updatedAt` is the larger of the two. */
export function applyBeat(run: AnalysisRun, beat: Beat | undefined): AnalysisRun {
  if (!beat) return run;
  const next = { ...run, updatedAt: Math.max(run.updatedAt, beat.updatedAt) };
  if (run.heartbeatAt === undefined || beat.heartbeatAt >= run.heartbeatAt) {
    next.heartbeatAt = beat.heartbeatAt;
    if (beat.heartbeatDetails !== undefined) next.heartbeatDetails = beat.heartbeatDetails;
  }
  return next;
}

interface CachedRun {
  identity: FileIdentity;
  run: AnalysisRun;
}

const MAX_OPEN_BEATS = 256;
const STATE = '.json';
const BEAT = '.beat';
const FENCED_BEAT = '.beat-final';

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (error) {
    if (isMissing(error)) return [];
    throw new StoreIOError(dir, 'listing', error);
  }
}

/**
 * Run records as files under `analysis_runs/`:
 *
 * ```
 * analysis_runs/
 *   active/<runId>.json        pending and running runs: { schemaVersion, run }, replaced atomically, fsynced
 *   active/<runId>.beat        the run's latest heartbeat, overwritten in place (one JSON line + CRC-32)
 *   active/<runId>.beat-final  the beat file while a completion is under way (renamed: "fenced")
 *   done/<runId>.json          completed, failed and cancelled runs, written once, fsynced
 *   locks/<runId>.lock/        the run's cross-process lock while a status change holds it
 * ```
 *
 * Why this layout:
 * - A heartbeat touches only its own run's beat file: its cost does not depend on how many runs
 *   are kept. Listing live runs reads `active/` only, never the (many) finished runs in `done/`.
 * - Status changes are durable: atomic replace (temp file, fsync, rename) plus a directory fsync,
 *   under the run's lock. Heartbeats are not fsynced: one lost to a crash makes the run look
 *   staler than it was, which after a crash is the truth.
 * - A run's record is its state file with its beat applied: the later heartbeat wins and
 *   `updatedAt` is the larger of the two. A torn beat (crash mid-write, detected by its CRC)
 *   reads as no beat.
 * - Finishing a run first renames the beat file away (the fence: later beats find no file, and a
 *   beat that was being written sees its file gone and is refused), reads the final beat, writes
 *   `done/<runId>.json` durably, then removes the `active/` files. After a crash between those
 *   steps `done/` wins on every read and `cleanup` removes what is left in `active/`.
 */
export class FileRunBackend implements RunBackend {
  readonly dir: string;
  readonly #activeDir: string;
  readonly #doneDir: string;
  readonly #locksDir: string;
  readonly #io: StorageIO;
  readonly #lockOptions: LockOptions | undefined;
  readonly #states = new Map<string, CachedRun>();
  readonly #done = new Map<string, CachedRun>();
  readonly #beats = new Map<string, BeatFile>();
  #dirsReady = false;

  constructor(options: FileRunBackendOptions) {
    this.dir = path.resolve(options.dir);
    this.#activeDir = path.join(this.dir, 'active');
    this.#doneDir = path.join(this.dir, 'done');
    this.#locksDir = path.join(this.dir, 'locks');
    this.#io = options.io ?? nodeIO;
    this.#lockOptions = options.lock;
  }

  #statePath(runId: string): string {
    return path.join(this.#activeDir, runId + STATE);
  }

  #beatPath(runId: string): string {
    return path.join(this.#activeDir, runId + BEAT);
  }

  #fencedPath(runId: string): string {
    return path.join(this.#activeDir, runId + FENCED_BEAT);
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
      fs.writeFileSync(beatFile, '');
      await this.#io.writeAtomic(stateFile, encodeRunFile(run), { fsync: true });
      await this.#io.fsyncDir(this.#activeDir);
    } catch (error) {
      await this.#io.unlink(stateFile).catch(() => {});
      await this.#io.unlink(beatFile).catch(() => {});
      throw new StoreIOError(stateFile, 'creating', error);
    }
    this.#remember(this.#states, stateFile, run);
  }

  async update(run: AnalysisRun): Promise<void> {
    const stateFile = this.#statePath(run.runId);
    try {
      await this.#io.writeAtomic(stateFile, encodeRunFile(run), { fsync: true });
      await this.#io.fsyncDir(this.#activeDir);
    } catch (error) {
      this.#states.delete(run.runId);
      throw new StoreIOError(stateFile, 'writing', error);
    }
    this.#remember(this.#states, stateFile, run);
  }

  beat(runId: string, next: (current: AnalysisRun | undefined) => Beat): AnalysisRun | typeof FENCED {
    const state = this.#readState(runId);
    if (!state) {
      next(this.#readDone(runId));
      return FENCED;
    }
    // A cached handle may point at a file a completion fenced, or at a run since deleted and
    // created again: then write once more through a freshly opened one.
    for (let attempt = 0; attempt < 2; attempt++) {
      const handle = this.#handle(runId);
      if (!handle) {
        // The state file is there but the beat file is not: a completion is under way (or crashed
        // half-way, which cleanup repairs). Let `next` refuse a finished run first.
        next(this.#readDone(runId) ?? state);
        return FENCED;
      }
      const current = applyBeat(state, handle.read());
      const beat = next(current);
      handle.write(beat);
      if (handle.isCurrent()) return applyBeat(state, beat);
      this.#dropHandle(runId);
    }
    return FENCED;
  }

  async finish(runId: string, build: (latest: AnalysisRun) => AnalysisRun): Promise<AnalysisRun> {
    const beatFile = this.#beatPath(runId);
    const fencedFile = this.#fencedPath(runId);
    const doneFile = this.#donePath(runId);
    this.#dropHandle(runId);
    let fenced = false;
    let wroteDone = false;
    try {
      try {
        await this.#io.rename(beatFile, fencedFile);
        fenced = true;
      } catch (error) {
        // No beat file: an earlier completion fenced it and crashed. Its final beat is still there.
        if (!isMissing(error)) throw new StoreIOError(beatFile, 'fencing', error);
      }
      const state = this.#readState(runId);
      if (!state) throw new NotFoundError('run', runId);
      const final = build(applyBeat(state, BeatFile.peek(fencedFile)));
      try {
        await this.#ensureDirs();
        wroteDone = true;
        await this.#io.writeAtomic(doneFile, encodeRunFile(final), { fsync: true });
        await this.#io.fsyncDir(this.#doneDir);
      } catch (error) {
        throw new StoreIOError(doneFile, 'writing', error);
      }
      this.#remember(this.#done, doneFile, final);
      // The end is durable. What follows only tidies `active/`; if it is cut short, `done/` wins
      // on every read and cleanup removes the rest.
      this.#states.delete(runId);
      await this.#removeActive(runId).catch(() => {});
      return final;
    } catch (error) {
      // Put everything back as it was: no finished record, beats accepted again.
      if (wroteDone) await this.#io.unlink(doneFile).catch(() => {});
      if (fenced) await this.#io.rename(fencedFile, beatFile).catch(() => {});
      this.#done.delete(runId);
      throw error;
    }
  }

  async remove(runId: string): Promise<void> {
    const doneFile = this.#donePath(runId);
    try {
      // Not fsynced: a removal lost to a crash is simply done again by the next cleanup.
      await this.#io.unlink(doneFile);
      await this.#removeActive(runId);
    } catch (error) {
      throw new StoreIOError(doneFile, 'removing', error);
    } finally {
      this.#done.delete(runId);
    }
  }

  listActive(): AnalysisRun[] {
    const runs: AnalysisRun[] = [];
    for (const name of listDir(this.#activeDir)) {
      if (!name.endsWith(STATE)) continue;
      const runId = name.slice(0, -STATE.length);
      if (!isValidId(runId) || this.#identify(this.#donePath(runId))) continue;
      const run = this.#readActive(runId);
      if (run) runs.push(run);
    }
    return runs;
  }

  listDone(): AnalysisRun[] {
    const runs: AnalysisRun[] = [];
    const seen = new Set<string>();
    for (const name of listDir(this.#doneDir)) {
      if (!name.endsWith(STATE)) continue;
      const runId = name.slice(0, -STATE.length);
      if (!isValidId(runId)) continue;
      const run = this.#readDone(runId);
      if (run) {
        runs.push(run);
        seen.add(runId);
      }
    }
    for (const runId of this.#done.keys()) if (!seen.has(runId)) this.#done.delete(runId);
    return runs;
  }

  leftovers(): string[] {
    const names = listDir(this.#activeDir);
    const states = new Set<string>();
    for (const name of names) if (name.endsWith(STATE)) states.add(name.slice(0, -STATE.length));
    const found = new Set<string>();
    for (const name of names) {
      const suffix = name.endsWith(STATE)
        ? STATE
        : name.endsWith(BEAT)
          ? BEAT
          : name.endsWith(FENCED_BEAT)
            ? FENCED_BEAT
            : '';
      if (!suffix) continue;
      const runId = name.slice(0, -suffix.length);
      if (!isValidId(runId)) continue;
      if (suffix === STATE ? this.#identify(this.#donePath(runId)) !== undefined : !states.has(runId)) found.add(runId);
    }
    return [...found];
  }

  async tidy(runId: string): Promise<void> {
    const finished = this.#identify(this.#donePath(runId)) !== undefined;
    if (finished) {
      this.#states.delete(runId);
      await this.#removeActive(runId);
    } else if (this.#identify(this.#statePath(runId)) === undefined) {
      await this.#removeBeats(runId);
    }
  }

  async close(): Promise<void> {
    for (const handle of this.#beats.values()) handle.close();
    this.#beats.clear();
  }

  async #removeActive(runId: string): Promise<void> {
    await this.#io.unlink(this.#statePath(runId));
    await this.#removeBeats(runId);
  }

  async #removeBeats(runId: string): Promise<void> {
    this.#dropHandle(runId);
    await this.#io.unlink(this.#beatPath(runId));
    await this.#io.unlink(this.#fencedPath(runId));
  }

  #handle(runId: string): BeatFile | undefined {
    let handle = this.#beats.get(runId);
    if (handle) return handle;
    try {
      handle = BeatFile.open(this.#beatPath(runId));
    } catch (error) {
      throw new StoreIOError(this.#beatPath(runId), 'opening', error);
    }
    if (!handle) return undefined;
    if (this.#beats.size >= MAX_OPEN_BEATS) {
      const oldest = this.#beats.keys().next().value;
      if (oldest !== undefined) this.#dropHandle(oldest);
    }
    this.#beats.set(runId, handle);
    return handle;
  }

  #dropHandle(runId: string): void {
    this.#beats.get(runId)?.close();
    this.#beats.delete(runId);
  }

  #readActive(runId: string): AnalysisRun | undefined {
    const state = this.#readState(runId);
    if (!state) return undefined;
    try {
      return applyBeat(state, BeatFile.peek(this.#beatPath(runId)) ?? BeatFile.peek(this.#fencedPath(runId)));
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
