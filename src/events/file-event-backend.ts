import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CorruptStoreError, LockError, StoreError, StoreIOError } from '../storage/errors.js';
import { isValidId } from '../storage/ids.js';
import { acquireLock, type HeldLock, type LockOptions } from '../storage/lock.js';
import type { AgentEvent, EventLogVerifyReport, EventLogWarning } from './agent-event.js';
import type { EventBackend, PreparedEvent, RunTail } from './event-backend.js';
import { type EventFileHandle, type EventFileId, type EventLogIO, writeFully } from './event-log-io.js';
import { CRC_SUFFIX_BYTES, cursorOf, decodeLine, isSoundLine, sealLine, startsWithNul } from './line-format.js';
import { LineScanner } from './line-scanner.js';

/** Options of {@link FileEventBackend}. */
export interface FileEventBackendOptions {
  dir: string;
  io: EventLogIO;
  lock: Pick<LockOptions, 'waitMs' | 'staleMs'>;
  maxLineBytes: number;
  pollMs: number;
  terminalTypes: ReadonlySet<string>;
  onWarning: ((warning: EventLogWarning) => void) | undefined;
  /**
   * How many runs this process writes keep their two files open at once. Beyond it the least
   * recently written run's files are closed (its writer lock stays held) and reopened on its next
   * append. A run whose fsync is in flight is never closed, so the cap can be passed briefly when
   * more runs than that commit in the same batch.
   * @defaultValue 256 (512 descriptors), {@link DEFAULT_MAX_OPEN_RUNS}
   */
  maxOpenRuns?: number;
}

/** Runs whose files a writer keeps open at once, unless `maxOpenRuns` says otherwise. */
export const DEFAULT_MAX_OPEN_RUNS = 256;

/**
 * Runs whose files a reader keeps open between reads (64 descriptors), least recently read
 * dropped first. Small: it serves the runs a server is streaming right now, and stays well inside
 * a 1,024-descriptor limit beside the writer's cap.
 */
export const READ_HANDLE_RUNS = 32;

/**
 * Read-only handles on a run's two files, kept between reads so that a seek is a few preads with
 * no open or close. Before each use the log's path is checked to still name the file held (same
 * device and inode: a handle held open keeps its inode from being reused), so a run deleted and
 * created again is read from its new file, never from the old one.
 */
interface ReadHandles {
  readonly runId: string;
  readonly log: EventFileHandle;
  /** `undefined` while the run has no index file: opened again by the next read. */
  idx: EventFileHandle | undefined;
  readonly dev: number;
  readonly ino: number;
  /** Reads using these handles now: an evicted entry is closed when the last one ends. */
  users: number;
  dropped: boolean;
  /**
   * The index page (512 entries) the last seek read, from entry `pageFirst` on, `pageEntries`
   * of them: a seek near the last one (clients reconnecting to a run) needs no index read.
   * Trusted as the index itself is: the line an entry points at is checked before use.
   */
  page?: Buffer;
  pageFirst?: number;
  pageEntries?: number;
}

/** Bytes of an index page a reader keeps ({@link ReadHandles.page}). */
const INDEX_PAGE = 4096;

/** A run this process writes: its handles, its lock, where its log ends. */
interface OpenRun {
  readonly runId: string;
  /** Valid while `open`; reopened by `#handlesOf` after the cap closed it. */
  log: EventFileHandle;
  /**
   * Open from the run's first open until the cap closes its files; after a reopen only when index
   * entries are written (see {@link #flushIndex}): a run the cap keeps cycling costs one open, not two.
   */
  idx: EventFileHandle | undefined;
  /** The log is open (it is closed when the run falls out of the cap). */
  open: boolean;
  /**
   * Device and inode of the log this process opened first: a reopen that finds another file at
   * the path (replaced behind the lock) re-reads the run instead of trusting what it knew.
   */
  logId: EventFileId | undefined;
  /** fsyncs in flight on the run's log: it is not closed meanwhile. */
  syncing: number;
  readonly lock: HeldLock;
  /** Bytes of complete, written events. */
  end: number;
  lastCursor: number;
  lastType: string | undefined;
  /** A write failed: the state must be re-read from disk before the next one. */
  needsRecovery: boolean;
  /** An index write failed: stop indexing until the next open rebuilds it (the log is still the truth). */
  indexStale: boolean;
  /**
   * Index entries of events already in the log, not yet in the index file (entry i is cursor
   * `pendingFirst + i`). With `flush` durability they are written in one go when the event loop
   * turns or enough have gathered (one syscall less per append); a crash loses them, and the next
   * open rebuilds them from the log. Batches that are fsynced write them at once.
   */
  pending: Buffer;
  /** Index entries of the batch being written (scratch space, one batch per run at a time). */
  batch: Buffer;
  pendingFirst: number;
  pendingCount: number;
}

/** What a scan of a log found, from a verified line on to the log's end. */
interface Scan {
  lastCursor: number;
  lastType: string | undefined;
  /** End of the last intact event. */
  goodEnd: number;
  /** Byte offsets of the events scanned (when collected). */
  offsets: number[];
  /**
   * A complete line that is not the next intact event (or an overlong one): not a torn tail, so
   * never cut automatically. `at` is the line's byte offset. Bytes after `goodEnd` without it are
   * a torn tail (an incomplete last line, or the zero fill a crash leaves): safe to cut.
   */
  damage: { at: number; reason: string; overlong?: true } | undefined;
}

/**
 * The error for a damaged log: a {@link CorruptStoreError} whose message says what an event log's
 * owner can do (the JSON stores' `onCorrupt` option does not apply here).
 */
function corruptLog(file: string, reason: string): CorruptStoreError {
  const error = new CorruptStoreError(file, reason);
  error.message = `${file} is damaged: ${reason}. Nothing was cut and appends to the run are refused; run \`agent-stores verify --repair\` to move the damaged part aside (it is kept intact next to the log), or fix the file by hand`;
  return error;
}

/** The absolute, link-free path of a directory; the absolute path when it does not exist yet. */
function resolveDir(dir: string): string {
  const absolute = path.resolve(dir);
  try {
    return fs.realpathSync.native(absolute);
  } catch {
    return absolute;
  }
}

/** A typed error for a failure of the file system under `file` (a planted link, a directory where a file should be, EIO…). */
function ioError(file: string, operation: string, error: unknown, index?: string): StoreError {
  if (error instanceof StoreError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  // A handle's error does not name its file: name the index when it is the culprit.
  if (index !== undefined) {
    const stat = code === 'EISDIR' || code === 'ELOOP' ? fs.lstatSync(index, { throwIfNoEntry: false }) : undefined;
    if ((code === 'EISDIR' && stat?.isDirectory()) || (code === 'ELOOP' && stat?.isSymbolicLink())) file = index;
  }
  if (code === 'ELOOP' && fs.lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink()) {
    return new StoreError(
      'IO',
      `${operation} ${file} refused: it is a symbolic link, and the event log never reads or writes through a link it did not create. Its target was left untouched; remove the link and retry`,
      { cause: error },
    );
  }
  if (code === 'EISDIR') {
    return new StoreError('IO', `${operation} ${file} failed: it is a directory, not a file. Move it away and retry`, {
      cause: error,
    });
  }
  return new StoreIOError(file, operation, error);
}

const ENTRY = 8;
const TWO_32 = 2 ** 32;
/** Index entries gathered before they are written even if the event loop has not turned. */
const INDEX_FLUSH_ENTRIES = 512;

function writeEntry(buffer: Buffer, at: number, offset: number): void {
  buffer.writeUInt32LE(offset % TWO_32, at);
  buffer.writeUInt32LE(Math.floor(offset / TWO_32), at + 4);
}

function readEntryAt(buffer: Buffer, at: number): number {
  return buffer.readUInt32LE(at) + buffer.readUInt32LE(at + 4) * TWO_32;
}

/**
 * The file backend: `<dir>/<runId>.ndjson` (one event per line, the truth) and `<dir>/<runId>.idx`
 * (8 bytes per cursor: the byte offset of event n at `(n-1)*8`, derived and rebuilt from the log).
 * All I/O is synchronous syscalls through the {@link EventLogIO} seam, except taking locks.
 */
export class FileEventBackend implements EventBackend {
  #dir: string;
  readonly #io: EventLogIO;
  readonly #options: FileEventBackendOptions;
  readonly #runs = new Map<string, OpenRun>();
  /** Runs with open files, least recently used first (a Map keeps insertion order). */
  readonly #openFiles = new Map<string, OpenRun>();
  readonly #maxOpenRuns: number;
  readonly #closing = new Map<string, Promise<void>>();
  /** Handles kept for reading, least recently read first. */
  readonly #readers = new Map<string, ReadHandles>();
  #dirReady = false;
  #indexFlushScheduled = false;
  #scratch = Buffer.allocUnsafe(64 * 1024);
  readonly #entry = Buffer.alloc(ENTRY);
  readonly #head = Buffer.alloc(32);
  #lastLine = Buffer.allocUnsafe(1024);

  constructor(options: FileEventBackendOptions) {
    this.#options = options;
    this.#io = options.io;
    this.#maxOpenRuns = options.maxOpenRuns ?? DEFAULT_MAX_OPEN_RUNS;
    // A directory that is a link (set up by its owner) is resolved once, here, so that a link
    // swapped in later cannot redirect this instance's writes.
    this.#dir = resolveDir(options.dir);
  }

  logFile(runId: string): string {
    return path.join(this.#dir, `${runId}.ndjson`);
  }

  indexFile(runId: string): string {
    return path.join(this.#dir, `${runId}.idx`);
  }

  async openForAppend(runId: string): Promise<RunTail> {
    let run = this.#runs.get(runId);
    if (run && !run.needsRecovery) return { lastCursor: run.lastCursor, lastType: run.lastType };
    if (run?.lock.compromised) {
      // The lock was taken away: take it again (LockError if another process holds it now), then
      // re-read the run, which that process may have appended to.
      await this.closeRun(runId);
      run = undefined;
    }
    if (!run) run = await this.#openRun(runId);
    try {
      this.#handlesOf(run);
      this.#recover(run);
    } catch (error) {
      await this.closeRun(runId);
      throw error;
    }
    return { lastCursor: run.lastCursor, lastType: run.lastType };
  }

  async #openRun(runId: string): Promise<OpenRun> {
    await this.#closing.get(runId);
    const file = this.logFile(runId);
    this.#ensureDir();
    // A lost lock is noticed through `lock.compromised` by the next write, which then refuses.
    const lock = await acquireLock(file, {
      waitMs: this.#options.lock.waitMs ?? 1_000,
      staleMs: this.#options.lock.staleMs ?? 10_000,
    });
    const opened: EventFileHandle[] = [];
    try {
      const existed = this.#io.exists(file);
      const log = this.#io.open(file, 'write')!;
      opened.push(log);
      const idx = this.#io.open(this.indexFile(runId), 'write')!;
      opened.push(idx);
      // A new file's directory entry must be durable too, or a crash could lose acknowledged events.
      if (!existed) this.#io.syncDir(this.#dir);
      const id = log.identity?.();
      const run: OpenRun = {
        runId,
        log,
        idx,
        open: true,
        logId: id && { dev: id.dev, ino: id.ino },
        syncing: 0,
        lock,
        end: 0,
        lastCursor: 0,
        lastType: undefined,
        needsRecovery: true,
        indexStale: false,
        pending: Buffer.allocUnsafe(64 * ENTRY),
        batch: Buffer.allocUnsafe(64 * ENTRY),
        pendingFirst: 1,
        pendingCount: 0,
      };
      this.#runs.set(runId, run);
      this.#openFiles.set(runId, run);
      this.#capOpenFiles();
      return run;
    } catch (error) {
      for (const handle of opened) {
        try {
          handle.close();
        } catch {}
      }
      await lock.release();
      throw ioError(opened.length === 1 ? this.indexFile(runId) : file, 'opening', error);
    }
  }

  #ensureDir(): void {
    if (this.#dirReady) return;
    try {
      const existed = this.#io.exists(this.#dir);
      this.#io.mkdirp(this.#dir);
      // A directory made here must be durable too, or the logs in it could vanish with it in a crash.
      if (!existed) {
        this.#io.syncDir(path.dirname(this.#dir));
        this.#dir = resolveDir(this.#dir);
      }
    } catch (error) {
      throw new StoreIOError(this.#dir, 'creating the directory', error);
    }
    this.#dirReady = true;
  }

  /**
   * Brings a run's files to a consistent state: the whole log is checked (every line the next
   * intact event), a torn tail is cut, the index brought up to the log. Damage anywhere else is
   * refused with CorruptStoreError and nothing is changed.
   */
  #recover(run: OpenRun): void {
    const file = run.log.file;
    let scan: Scan;
    let size: number;
    try {
      size = run.log.size();
      scan = this.#scan(run.log, 0, 1, true);
    } catch (error) {
      throw ioError(file, 'reading', error);
    }
    if (scan.damage !== undefined) throw corruptLog(file, scan.damage.reason);
    try {
      if (scan.goodEnd < size) {
        run.log.truncate(scan.goodEnd);
        run.log.datasync();
        this.#warn(
          'TORN_TAIL_CUT',
          run.runId,
          file,
          `cut ${size - scan.goodEnd} bytes of a torn write after event ${scan.lastCursor}`,
        );
      }
    } catch (error) {
      throw ioError(file, 'cutting the torn tail of', error);
    }
    run.end = scan.goodEnd;
    run.lastCursor = scan.lastCursor;
    run.lastType = scan.lastType;
    run.indexStale = false;
    run.pendingCount = 0;
    run.needsRecovery = false;
    try {
      run.idx ??= this.#io.open(this.indexFile(run.runId), 'write')!;
      const from = this.#writeIndex(run.idx, scan.offsets);
      if (from !== undefined) {
        this.#warn(
          'INDEX_REBUILT',
          run.runId,
          run.idx.file,
          `index brought up to event ${scan.lastCursor} from entry ${from}`,
        );
      }
    } catch {
      // The index is derived: readers scan without it, and the next open rebuilds it.
      run.indexStale = true;
    }
  }

  /**
   * Makes the index hold exactly `offsets` (entry i = offsets[i]): rewrites it from its first wrong
   * entry and cuts what is past the end. Returns how many leading entries were right, or
   * `undefined` when it already was exact.
   */
  #writeIndex(idx: EventFileHandle, offsets: readonly number[]): number | undefined {
    const size = idx.size();
    const present = Math.min(Math.floor(size / ENTRY), offsets.length);
    const chunk = Buffer.allocUnsafe(8192 * ENTRY);
    let right = 0;
    compare: for (let from = 0; from < present; from += 8192) {
      const count = Math.min(8192, present - from);
      const read = idx.read(chunk, 0, count * ENTRY, from * ENTRY);
      for (let i = 0; i < count; i++) {
        if ((i + 1) * ENTRY > read || readEntryAt(chunk, i * ENTRY) !== offsets[from + i]) break compare;
        right++;
      }
    }
    const wantBytes = offsets.length * ENTRY;
    if (right === offsets.length && size === wantBytes) return undefined;
    for (let from = right; from < offsets.length; from += 8192) {
      const count = Math.min(8192, offsets.length - from);
      for (let i = 0; i < count; i++) writeEntry(chunk, i * ENTRY, offsets[from + i]!);
      writeFully(idx, chunk, 0, count * ENTRY, from * ENTRY);
    }
    if (idx.size() !== wantBytes) idx.truncate(wantBytes);
    return right;
  }

  /** Offset of event `cursor` according to the index, or `undefined` when the entry is absent. */
  #entryOf(idx: EventFileHandle, cursor: number): number | undefined {
    const read = idx.read(this.#entry, 0, ENTRY, (cursor - 1) * ENTRY);
    return read === ENTRY ? readEntryAt(this.#entry, 0) : undefined;
  }

  /**
   * {@link #entryOf} through the reader's kept index page: read (one page) only when the page
   * does not hold the entry. Entries past the page's end are never taken from it: a writer in
   * another process may have added them since.
   */
  #pagedEntryOf(kept: ReadHandles, idx: EventFileHandle, cursor: number): number | undefined {
    const entry = cursor - 1;
    let first = kept.pageFirst ?? 0;
    if (kept.page === undefined || entry < first || entry >= first + (kept.pageEntries ?? 0)) {
      first = entry - (entry % (INDEX_PAGE / ENTRY));
      kept.page ??= Buffer.allocUnsafe(INDEX_PAGE);
      kept.pageFirst = first;
      kept.pageEntries = 0;
      kept.pageEntries = Math.floor(idx.read(kept.page, 0, INDEX_PAGE, first * ENTRY) / ENTRY);
      if (entry - first >= kept.pageEntries) return undefined;
    }
    return readEntryAt(kept.page, (entry - first) * ENTRY);
  }

  /** True when index entry `cursor` points at the start of a line that begins as event `cursor`. */
  #entryIsSound(log: EventFileHandle, idx: EventFileHandle, cursor: number, logSize: number): boolean {
    const offset = this.#entryOf(idx, cursor);
    if (offset === undefined || offset >= logSize) return false;
    const expected = `{"cursor":${cursor},`;
    const read = log.read(this.#head, 0, expected.length, offset);
    if (read !== expected.length || this.#head.toString('latin1', 0, read) !== expected) return false;
    if (offset === 0) return cursor === 1;
    return log.read(this.#head, 0, 1, offset - 1) === 1 && this.#head[0] === 0x0a;
  }

  /**
   * Where a log ends, for readers: scans from the last index entry that points at its event
   * (found by binary search, O(log n) reads) to the end. Damage in that stretch is reported;
   * a writer's recovery checks the whole log.
   */
  #inspect(log: EventFileHandle, idx: EventFileHandle | undefined, logSize: number): Scan {
    const indexEntries = idx ? Math.floor(idx.size() / ENTRY) : 0;
    let valid = 0;
    if (idx && indexEntries > 0) {
      if (this.#entryIsSound(log, idx, indexEntries, logSize)) valid = indexEntries;
      else {
        let low = 0;
        let high = indexEntries - 1;
        while (low < high) {
          const mid = Math.ceil((low + high) / 2);
          if (this.#entryIsSound(log, idx, mid, logSize)) low = mid;
          else high = mid - 1;
        }
        valid = low;
      }
    }
    if (valid === 0) return this.#scan(log, 0, 1, false);
    const scan = this.#scan(log, this.#entryOf(idx!, valid)!, valid, false);
    // The indexed line was torn by a crash (its entry outlived it): look from the start.
    return scan.lastCursor < valid && scan.damage === undefined ? this.#scan(log, 0, 1, false) : scan;
  }

  /**
   * Checks the lines from byte `start` (where event `expect` must begin) to the end: each must be
   * the next intact event (cursor, JSON, checksum). Lines with a checksum are checked without
   * being parsed; only the last good one is, for its type.
   */
  #scan(log: EventFileHandle, start: number, expect: number, collect: boolean): Scan {
    const scanner = new LineScanner(log, start, { firstChunk: 64 * 1024, maxLineBytes: this.#options.maxLineBytes });
    const offsets: number[] = [];
    let lastCursor = expect - 1;
    let lastLength = -1;
    let goodEnd = start;
    let damage: Scan['damage'];
    while (scanner.nextLine()) {
      const { buffer, start: from, end } = scanner;
      const sound = isSoundLine(buffer, expect, from, end) ?? decodeLine(buffer, from, end)?.cursor === expect;
      if (!sound) {
        const reason = this.#judge(scanner, buffer.subarray(from, end), expect);
        if (reason !== undefined) damage = { at: scanner.lineStart, reason };
        break;
      }
      if (collect) offsets.push(scanner.lineStart);
      lastCursor = expect++;
      goodEnd = scanner.lineEnd;
      // Kept for its type (the scanner's buffer does not keep it past the next line): a copy, no allocation.
      if (this.#lastLine.length < end - from) this.#lastLine = Buffer.allocUnsafe((end - from) * 2);
      lastLength = buffer.copy(this.#lastLine, 0, from, end);
    }
    if (damage === undefined && scanner.overlong === 'complete') {
      damage = { at: goodEnd, reason: this.#overlong(goodEnd), overlong: true };
    }
    const lastType = lastLength >= 0 ? decodeLine(this.#lastLine.subarray(0, lastLength))?.type : undefined;
    if (this.#lastLine.length > 64 * 1024) this.#lastLine = Buffer.allocUnsafe(1024);
    return { lastCursor, lastType, goodEnd, offsets, damage };
  }

  #overlong(at: number): string {
    return `the line at byte ${at} is longer than ${this.#options.maxLineBytes} bytes; open the log with a larger maxEventBytes to read it`;
  }

  /**
   * Judges a complete line that is not intact event `expect` (the scanner just returned it):
   * `undefined` when it starts a torn tail — the zero fill of a write a crash interrupted, with
   * no event after it — else what is wrong, naming its byte offset. Consumes the scanner.
   */
  #judge(scanner: LineScanner, bytes: Buffer, expect: number): string | undefined {
    const at = scanner.lineStart;
    if (!startsWithNul(bytes)) {
      const line = decodeLine(bytes);
      const what =
        line === undefined
          ? 'it is not an intact event (not JSON, or its checksum does not match)'
          : `it holds event ${line.cursor}`;
      return `the line at byte ${at} should be event ${expect}, but ${what}`;
    }
    // Zeros in place of lines and their newlines can run straight into a line that is intact.
    const zerosEnd = bytes.lastIndexOf(0) + 1;
    const after = decodeLine(bytes.subarray(zerosEnd));
    if (after !== undefined) {
      return `the line at byte ${at} is zeros (data a crash lost), but event ${after.cursor} follows at byte ${at + zerosEnd}`;
    }
    for (let later = scanner.nextBytes(); later !== undefined; later = scanner.nextBytes()) {
      const line = decodeLine(later);
      if (line !== undefined) {
        return `the line at byte ${at} is zeros (data a crash lost), but event ${line.cursor} follows at byte ${scanner.lineStart}`;
      }
    }
    return scanner.overlong === 'complete' ? this.#overlong(at) : undefined;
  }

  write(runId: string, events: readonly PreparedEvent[], sync: boolean): void {
    const run = this.#writable(runId);
    const used = this.#put(run, events);
    if (sync) {
      try {
        run.log.datasync();
      } catch (error) {
        throw this.#cutBack(run, error);
      }
    }
    this.#advance(run, events, used, sync);
  }

  async writeAsync(runId: string, events: readonly PreparedEvent[]): Promise<void> {
    const run = this.#writable(runId);
    const used = this.#put(run, events);
    run.syncing++;
    try {
      await (run.log.datasyncAsync ? run.log.datasyncAsync() : run.log.datasync());
    } catch (error) {
      throw this.#cutBack(run, error);
    } finally {
      run.syncing--;
    }
    this.#advance(run, events, used, true);
    this.#capOpenFiles();
  }

  #writable(runId: string): OpenRun {
    const run = this.#runs.get(runId);
    if (run === undefined || run.needsRecovery) {
      throw new StoreError('IO', `the event log of run '${runId}' is not open for appending`);
    }
    if (run.lock.compromised) {
      run.needsRecovery = true;
      throw new LockError(
        this.logFile(runId),
        'the writer lock was lost (taken over or removed); reopen the log to append',
      );
    }
    return this.#handlesOf(run);
  }

  /**
   * The run with its files open: marks it most recently used, and reopens its files (still under
   * its lock) when the cap closed them. A log shorter than what this process wrote to it was
   * changed behind the lock: the run is re-read from disk before the next write.
   */
  #handlesOf(run: OpenRun): OpenRun {
    if (run.open) {
      // Most recently used goes last; skip the Map churn when it already is.
      if (this.#openFiles.size > 1) {
        this.#openFiles.delete(run.runId);
        this.#openFiles.set(run.runId, run);
      }
      return run;
    }
    const file = this.logFile(run.runId);
    let changed = false;
    try {
      const log = this.#io.open(file, 'write')!;
      run.log = log;
      run.idx = undefined;
      // One fstat: the same file (device and inode), and not shorter than what this process wrote.
      const id = run.logId && log.identity?.();
      const size = id ? id.size : log.size();
      if (!run.needsRecovery) {
        changed = size < run.end || (id !== undefined && (id.dev !== run.logId!.dev || id.ino !== run.logId!.ino));
      }
    } catch (error) {
      throw ioError(file, 'reopening', error);
    }
    run.open = true;
    this.#openFiles.set(run.runId, run);
    this.#capOpenFiles();
    if (changed) {
      run.needsRecovery = true;
      throw new StoreError(
        'IO',
        `${file} changed while this process held its writer lock; the next append re-reads it`,
      );
    }
    return run;
  }

  /** Closes the files of the least recently used runs beyond the cap (never one whose fsync is in flight). */
  #capOpenFiles(): void {
    if (this.#openFiles.size <= this.#maxOpenRuns) return;
    for (const run of this.#openFiles.values()) {
      if (this.#openFiles.size <= this.#maxOpenRuns) return;
      if (run.syncing > 0) continue;
      this.#closeFiles(run);
    }
  }

  /**
   * Closes a run's files. Its lock stays held, and so do index entries not written yet: they are
   * written with the run's next batch of them, or when the run is closed.
   */
  #closeFiles(run: OpenRun): void {
    if (!run.open) return;
    run.open = false;
    this.#openFiles.delete(run.runId);
    for (const handle of [run.log, run.idx]) {
      try {
        handle?.close();
      } catch {}
    }
    run.idx = undefined;
  }

  /** Writes a batch after the run's end with one write; its index entries go to `run.batch`. Returns its bytes. */
  #put(run: OpenRun, events: readonly PreparedEvent[]): number {
    const count = events.length;
    if (run.batch.length < count * ENTRY) run.batch = Buffer.allocUnsafe(count * ENTRY * 2);
    const index = run.batch;
    let buffer = this.#scratch;
    let used = 0;
    for (let i = 0; i < count; i++) {
      const event = events[i]!;
      const head = `{"cursor":${event.cursor}`;
      const worst = head.length + event.tail.length * 3 + CRC_SUFFIX_BYTES;
      if (buffer.length - used < worst) {
        const bigger = Buffer.allocUnsafe(Math.max(buffer.length * 2, used + worst));
        buffer.copy(bigger, 0, 0, used);
        buffer = bigger;
      }
      writeEntry(index, i * ENTRY, run.end + used);
      const start = used;
      used += buffer.write(head, used, 'latin1');
      used += buffer.write(event.tail, used, 'utf8');
      // The tail ends with `}\n`: put the checksum of everything before the brace in its place.
      used = sealLine(buffer, start, used - 2);
    }
    // Keep a grown scratch buffer for the next batch unless it is huge (a batch of large events).
    if (buffer.length <= 4 * 1024 * 1024) this.#scratch = buffer;
    try {
      writeFully(run.log, buffer, 0, used, run.end);
    } catch (error) {
      throw this.#cutBack(run, error);
    }
    return used;
  }

  /** After a failed write or fsync: cut back what may have reached the file, and re-read the state before the next write. */
  #cutBack(run: OpenRun, error: unknown): StoreIOError {
    run.needsRecovery = true;
    try {
      run.log.truncate(run.end);
    } catch {}
    return new StoreIOError(run.log.file, 'appending to', error);
  }

  /** Counts a written (and, with `synced`, durable) batch: the run's end moves, its index entries are queued. */
  #advance(run: OpenRun, events: readonly PreparedEvent[], used: number, synced: boolean): void {
    const count = events.length;
    run.end += used;
    run.lastCursor = events[count - 1]!.cursor;
    if (run.indexStale) return;
    if (run.pendingCount === 0) run.pendingFirst = events[0]!.cursor;
    const needed = (run.pendingCount + count) * ENTRY;
    if (run.pending.length < needed) {
      const bigger = Buffer.allocUnsafe(Math.max(needed, run.pending.length * 2));
      run.pending.copy(bigger, 0, 0, run.pendingCount * ENTRY);
      run.pending = bigger;
    }
    run.batch.copy(run.pending, run.pendingCount * ENTRY, 0, count * ENTRY);
    run.pendingCount += count;
    // Beside an fsync the extra write costs nothing that shows; without one it is a third of an append.
    if (synced || run.pendingCount >= INDEX_FLUSH_ENTRIES) this.#flushIndex(run, true);
    else if (!this.#indexFlushScheduled) {
      this.#indexFlushScheduled = true;
      // After this turn's appends (a burst of sequential awaited appends is one turn).
      setImmediate(() => {
        this.#indexFlushScheduled = false;
        for (const open of this.#runs.values()) this.#flushIndex(open, false);
      });
    }
  }

  /**
   * Writes the gathered index entries of a run with one write. The index file is opened for it
   * only when `openIndex` (a batch that is due: fsynced, large, or the run closing); a run whose
   * index is not open keeps gathering (up to {@link INDEX_FLUSH_ENTRIES}; readers scan the rest).
   */
  #flushIndex(run: OpenRun, openIndex: boolean): void {
    if (run.pendingCount === 0) return;
    if (run.idx === undefined && !run.indexStale) {
      if (!openIndex) return;
      try {
        run.idx = this.#io.open(this.indexFile(run.runId), 'write')!;
      } catch {
        run.indexStale = true;
      }
    }
    const bytes = run.pendingCount * ENTRY;
    run.pendingCount = 0;
    if (!run.indexStale) {
      try {
        writeFully(run.idx!, run.pending, 0, bytes, (run.pendingFirst - 1) * ENTRY);
      } catch {
        // The events are durable in the log; the index is rebuilt from it on the next open.
        run.indexStale = true;
      }
    }
    if (!run.open && run.idx !== undefined) {
      // Opened only for this write (the run's files are closed): close it again.
      try {
        run.idx.close();
      } catch {}
      run.idx = undefined;
    }
    if (run.pending.length > 64 * 1024) run.pending = Buffer.allocUnsafe(64 * ENTRY);
  }

  async closeRun(runId: string): Promise<void> {
    const run = this.#runs.get(runId);
    if (run === undefined) return this.#closing.get(runId);
    this.#runs.delete(runId);
    this.#flushIndex(run, true);
    this.#closeFiles(run);
    const closing = run.lock.release();
    this.#closing.set(runId, closing);
    await closing;
    if (this.#closing.get(runId) === closing) this.#closing.delete(runId);
  }

  /**
   * Events after `after`, exactly: each line must be the next intact event. An index entry is
   * trusted only once the line it points at is the event it names; otherwise the log is read
   * from its start. A damaged line fails the read (CorruptStoreError) instead of ending it early.
   * The loop is the replay's hot path: lines are checked in the scanner's buffer, without a view each.
   */
  *read(runId: string, after: number, limit: number): Iterable<AgentEvent> {
    if (limit <= 0) return;
    const file = this.logFile(runId);
    const kept = this.#keptHandles(runId, file);
    const log = kept === undefined ? this.#openForRead(file) : kept === null ? undefined : kept.log;
    if (log === undefined) return;
    let lines: LineScanner | undefined;
    try {
      const scanner = this.#scannerFor(runId, log, after, kept || undefined);
      lines = scanner.lines;
      let expect = scanner.expect;
      let yielded = 0;
      for (let more = scanner.loaded || scanner.lines.nextLine(); more; more = scanner.lines.nextLine()) {
        const { buffer, start, end } = scanner.lines;
        // Lines before the first wanted one are only checked, unparsed when they carry a checksum.
        if (expect <= after && isSoundLine(buffer, expect, start, end) === true) {
          expect++;
          continue;
        }
        const line = decodeLine(buffer, start, end);
        if (line === undefined || line.cursor !== expect) {
          const reason = this.#judge(scanner.lines, buffer.subarray(start, end), expect);
          if (reason !== undefined) throw corruptLog(log.file, reason);
          return; // the zero fill of a torn write: the end of what is complete
        }
        expect++;
        if (line.cursor <= after) continue;
        yield { runId, cursor: line.cursor, type: line.type, at: line.at, payload: line.payload };
        if (++yielded >= limit) return;
      }
      if (scanner.lines.overlong === 'complete') throw corruptLog(log.file, this.#overlong(scanner.lines.lineEnd));
    } catch (error) {
      // A handle that failed is not kept for the next read.
      if (kept) this.#dropReader(kept);
      throw ioError(file, 'reading', error, this.indexFile(runId));
    } finally {
      // The events yielded are parsed copies: nothing holds a view of the scanner's buffer.
      lines?.release();
      if (kept) this.#release(kept);
      else log.close();
    }
  }

  /**
   * The kept handles of a run, checked to still have its current log open (one `lstat`), opened
   * and kept when they are not; `null` when the run has no log. `undefined` when handles cannot
   * be kept (an I/O seam without file identities): the caller opens and closes its own.
   * The caller releases them with {@link #release}.
   */
  #keptHandles(runId: string, file: string): ReadHandles | null | undefined {
    const io = this.#io;
    if (io.identity === undefined) return undefined;
    let current: EventFileId | undefined;
    try {
      current = io.identity(file);
    } catch (error) {
      throw ioError(file, 'reading', error);
    }
    let kept = this.#readers.get(runId);
    if (kept !== undefined && (current === undefined || kept.dev !== current.dev || kept.ino !== current.ino)) {
      // Deleted, or deleted and created again: the held file is not the run's any more.
      this.#dropReader(kept);
      kept = undefined;
    }
    if (current === undefined) return null;
    if (kept !== undefined) {
      if (this.#readers.size > 1) {
        this.#readers.delete(runId);
        this.#readers.set(runId, kept);
      }
      if (kept.idx === undefined) kept.idx = this.#openForRead(this.indexFile(runId));
      kept.users++;
      return kept;
    }
    const log = this.#openForRead(file);
    if (log === undefined) return null;
    const id = log.identity?.();
    if (id === undefined) {
      log.close();
      return undefined;
    }
    let idx: EventFileHandle | undefined;
    try {
      idx = this.#openForRead(this.indexFile(runId));
    } catch (error) {
      log.close();
      throw error;
    }
    kept = { runId, log, idx, dev: id.dev, ino: id.ino, users: 1, dropped: false };
    this.#readers.set(runId, kept);
    if (this.#readers.size > READ_HANDLE_RUNS) {
      for (const oldest of this.#readers.values()) {
        this.#dropReader(oldest);
        break;
      }
    }
    return kept;
  }

  /** Ends one read's use of kept handles. */
  #release(kept: ReadHandles): void {
    kept.users--;
    if (kept.dropped && kept.users === 0) this.#closeReader(kept);
  }

  /** Stops keeping a run's read handles; they close now, or when the last read using them ends. */
  #dropReader(kept: ReadHandles): void {
    if (kept.dropped) return;
    kept.dropped = true;
    if (this.#readers.get(kept.runId) === kept) this.#readers.delete(kept.runId);
    if (kept.users === 0) this.#closeReader(kept);
  }

  #closeReader(kept: ReadHandles): void {
    for (const handle of [kept.log, kept.idx]) {
      try {
        handle?.close();
      } catch {}
    }
  }

  /**
   * A scanner positioned where reading events after `after` starts, and the cursor its first line
   * must hold: at the indexed line when the index can be trusted for it, else at the log's start.
   * `loaded`: the scanner already holds that first line (checked only for its cursor here).
   */
  #scannerFor(
    runId: string,
    log: EventFileHandle,
    after: number,
    kept?: ReadHandles,
  ): { lines: LineScanner; expect: number; loaded: boolean } {
    let [start, expect] = (after > 0 && this.#locate(runId, after, kept)) || [0, 1];
    // Reading must start at or before event after+1, or events would be skipped.
    if (expect > after + 1) [start, expect] = [0, 1];
    // Only event 1 starts at byte 0 (an index entry of 0 for a later one is a zeroed block, which
    // the next seek reads again from the file: it may have been repaired).
    if (start === 0) {
      if (kept && after > 0) kept.page = undefined;
      return { lines: this.#lineScanner(log, 0), expect: 1, loaded: false };
    }
    // Read from the byte before: it must be a newline (an empty first line), or `start` is not
    // where a line begins. One read checks both that and the line's cursor.
    const lines = this.#lineScanner(log, start - 1);
    const first =
      lines.nextLine() && lines.start === lines.end && lines.nextLine()
        ? cursorOf(lines.buffer, lines.start, lines.end)
        : undefined;
    if (first === expect) return { lines, expect, loaded: true };
    lines.release();
    // A kept index may be a file that was replaced: the next read opens the run afresh.
    if (kept) this.#dropReader(kept);
    return { lines: this.#lineScanner(log, 0), expect: 1, loaded: false };
  }

  #lineScanner(log: EventFileHandle, start: number): LineScanner {
    return new LineScanner(log, start, { maxLineBytes: this.#options.maxLineBytes });
  }

  #openForRead(file: string): EventFileHandle | undefined {
    try {
      return this.#io.open(file, 'read');
    } catch (error) {
      throw ioError(file, 'reading', error);
    }
  }

  /** Where to start reading for events after `after`: [byte offset, cursor the line there should hold]. */
  #locate(runId: string, after: number, kept?: ReadHandles): [number, number] | undefined {
    const keptIdx = kept?.idx;
    const open = this.#runs.get(runId);
    if (open && !open.indexStale && open.pendingCount > 0 && after + 1 >= open.pendingFirst) {
      // The entry is still in memory (or the run ends before it: start at its last event).
      const cursor = Math.min(after + 1, open.pendingFirst + open.pendingCount - 1);
      return [readEntryAt(open.pending, (cursor - open.pendingFirst) * ENTRY), cursor];
    }
    const ownIdx = open?.open === true && !open.indexStale ? open.idx : undefined;
    const borrowed = ownIdx !== undefined || keptIdx !== undefined;
    const idx = ownIdx ?? keptIdx ?? this.#openForRead(this.indexFile(runId));
    if (idx === undefined) return undefined;
    try {
      const exact =
        kept !== undefined && ownIdx === undefined
          ? this.#pagedEntryOf(kept, idx, after + 1)
          : this.#entryOf(idx, after + 1);
      // A garbage entry can hold any 64-bit value; the line it points at is checked before use.
      if (exact !== undefined) return exact <= Number.MAX_SAFE_INTEGER ? [exact, after + 1] : undefined;
      // The index is short (a writer in another process indexes after appending): start from its
      // end. Never from past `after`: the writer may have extended it since the lookup above.
      const from = Math.min(Math.floor(idx.size() / ENTRY), after);
      if (from === 0) return undefined;
      const start = this.#entryOf(idx, from);
      return start === undefined || start > Number.MAX_SAFE_INTEGER ? undefined : [start, from];
    } finally {
      if (!borrowed) idx.close();
    }
  }

  tail(runId: string): RunTail | undefined {
    const open = this.#runs.get(runId);
    if (open && !open.needsRecovery) return { lastCursor: open.lastCursor, lastType: open.lastType };
    const file = this.logFile(runId);
    const kept = this.#keptHandles(runId, file);
    if (kept === null) return undefined;
    const log = kept === undefined ? this.#openForRead(file) : kept.log;
    if (log === undefined) return undefined;
    let idx: EventFileHandle | undefined;
    try {
      idx = kept === undefined ? this.#openForRead(this.indexFile(runId)) : kept.idx;
      const scan = this.#inspect(log, idx, log.size());
      if (scan.damage !== undefined) throw corruptLog(file, scan.damage.reason);
      return { lastCursor: scan.lastCursor, lastType: scan.lastType };
    } catch (error) {
      if (kept) this.#dropReader(kept);
      throw ioError(file, 'reading', error, this.indexFile(runId));
    } finally {
      if (kept) this.#release(kept);
      else {
        log.close();
        idx?.close();
      }
    }
  }

  exists(runId: string): boolean {
    return this.#io.exists(this.logFile(runId));
  }

  watch(runId: string, onChange: () => void): () => void {
    const file = this.logFile(runId);
    let watcher: fs.FSWatcher | undefined;
    let lastSeen = '';
    const unwatch = () => {
      watcher?.close();
      watcher = undefined;
    };
    const startWatching = () => {
      try {
        watcher = fs.watch(file, (event) => {
          // A rename means the file was deleted or replaced: watch the new one on the next poll.
          if (event === 'rename') unwatch();
          onChange();
        });
        watcher.on('error', unwatch);
      } catch {
        watcher = undefined; // not there yet: the poll retries
      }
    };
    startWatching();
    // The slow fallback for file systems where watching misses changes (network mounts, some containers).
    const timer = setInterval(() => {
      if (watcher === undefined) startWatching();
      const stat = fs.statSync(file, { throwIfNoEntry: false });
      const seen = stat ? `${stat.ino}:${stat.size}` : '';
      if (seen !== lastSeen) {
        lastSeen = seen;
        onChange();
      }
    }, this.#options.pollMs);
    return () => {
      clearInterval(timer);
      unwatch();
    };
  }

  runIds(): string[] {
    let names: string[];
    try {
      names = this.#io.list(this.#dir);
    } catch (error) {
      throw new StoreIOError(this.#dir, 'listing', error);
    }
    const ids: string[] = [];
    for (const name of names) {
      if (!name.endsWith('.ndjson')) continue;
      const id = name.slice(0, -'.ndjson'.length);
      if (isValidId(id)) ids.push(id);
    }
    return ids.sort();
  }

  async delete(runId: string): Promise<boolean> {
    await this.closeRun(runId);
    const kept = this.#readers.get(runId);
    if (kept) this.#dropReader(kept);
    const file = this.logFile(runId);
    const index = this.indexFile(runId);
    if (!this.#io.exists(file) && !this.#io.exists(index)) return false;
    // Under the writer lock: a run another process is writing cannot be deleted under it.
    const lock = await acquireLock(file, {
      waitMs: this.#options.lock.waitMs ?? 1_000,
      staleMs: this.#options.lock.staleMs,
    });
    try {
      this.#io.remove(file);
      this.#io.remove(index);
      this.#io.syncDir(this.#dir);
    } catch (error) {
      throw new StoreIOError(file, 'deleting', error);
    } finally {
      await lock.release();
    }
    return true;
  }

  async verify(runId: string, repair: boolean): Promise<EventLogVerifyReport> {
    // Repairing needs the lock to itself; the log re-opens the run on its next append.
    if (repair) await this.closeRun(runId);
    else {
      const open = this.#runs.get(runId);
      if (open) this.#flushIndex(open, true);
    }
    const file = this.logFile(runId);
    const report: EventLogVerifyReport = {
      runId,
      exists: this.#io.exists(file),
      events: 0,
      lastCursor: 0,
      sealed: false,
      logBytes: 0,
      tornTailBytes: 0,
      indexProblems: [],
      repaired: false,
      ok: true,
    };
    if (!report.exists) return report;
    const lock = repair
      ? await acquireLock(file, { waitMs: this.#options.lock.waitMs ?? 1_000, staleMs: this.#options.lock.staleMs })
      : undefined;
    let log: EventFileHandle | undefined;
    let idx: EventFileHandle | undefined;
    try {
      log = repair ? this.#io.open(file, 'write') : this.#openForRead(file);
      if (log === undefined) return { ...report, exists: false };
      idx = repair ? this.#io.open(this.indexFile(runId), 'write') : this.#openForRead(this.indexFile(runId));
      const size = log.size();
      const scan = this.#scan(log, 0, 1, true);
      report.events = scan.lastCursor;
      report.lastCursor = scan.lastCursor;
      report.sealed = scan.lastType !== undefined && this.#options.terminalTypes.has(scan.lastType);
      report.logBytes = size;
      report.tornTailBytes = scan.damage === undefined ? size - scan.goodEnd : 0;
      report.corruption = scan.damage?.reason;
      report.indexProblems = this.#indexProblems(idx, scan.offsets);
      report.ok = report.tornTailBytes === 0 && report.indexProblems.length === 0 && scan.damage === undefined;
      if (repair && !report.ok) {
        // Nothing is removed that is not first kept, intact, next to the log.
        // An event longer than this instance reads is not damage: it is left for a larger maxEventBytes.
        const cutAt = scan.damage?.overlong ? size : (scan.damage?.at ?? scan.goodEnd);
        if (cutAt < size) {
          report.movedAside = { file: this.#moveAside(log, cutAt, size), fromByte: cutAt, bytes: size - cutAt };
          log.truncate(cutAt);
          log.datasync();
        }
        if (idx) this.#writeIndex(idx, scan.offsets);
        report.repaired = true;
      }
      return report;
    } catch (error) {
      throw ioError(file, repair ? 'repairing' : 'verifying', error, this.indexFile(runId));
    } finally {
      log?.close();
      idx?.close();
      await lock?.release();
    }
  }

  /**
   * Copies bytes `from…to` of a log into a new file `<log>.corrupt-<epoch ms>-<random>` (created
   * exclusively, never through a link), durably, and returns its path.
   */
  #moveAside(log: EventFileHandle, from: number, to: number): string {
    const target = `${log.file}.corrupt-${Date.now()}-${randomBytes(4).toString('hex')}`;
    const copy = this.#io.open(target, 'create')!;
    try {
      const chunk = Buffer.allocUnsafe(Math.min(to - from, 1024 * 1024));
      for (let at = from; at < to; ) {
        const read = log.read(chunk, 0, Math.min(chunk.length, to - at), at);
        if (read === 0)
          throw Object.assign(new Error(`${log.file} ended at byte ${at} while it was copied`), { code: 'EIO' });
        writeFully(copy, chunk, 0, read, at - from);
        at += read;
      }
      copy.datasync();
    } finally {
      copy.close();
    }
    this.#io.syncDir(this.#dir);
    return target;
  }

  /** Compares the index file with the offsets a full scan found. */
  #indexProblems(idx: EventFileHandle | undefined, offsets: readonly number[]): string[] {
    if (idx === undefined) return offsets.length ? ['missing'] : [];
    const problems: string[] = [];
    const size = idx.size();
    if (size % ENTRY !== 0) problems.push(`its size ${size} is not a multiple of ${ENTRY}`);
    const entries = Math.floor(size / ENTRY);
    const count = (n: number) => `${n} ${n === 1 ? 'entry' : 'entries'}`;
    if (entries < offsets.length) problems.push(`short by ${count(offsets.length - entries)}`);
    if (entries > offsets.length) problems.push(`long by ${count(entries - offsets.length)}`);
    const compare = Math.min(entries, offsets.length);
    const chunk = Buffer.allocUnsafe(8192 * ENTRY);
    let wrong = 0;
    for (let from = 0; from < compare; from += 8192) {
      const count = Math.min(8192, compare - from);
      idx.read(chunk, 0, count * ENTRY, from * ENTRY);
      for (let i = 0; i < count; i++) {
        const found = readEntryAt(chunk, i * ENTRY);
        const expected = offsets[from + i]!;
        if (found !== expected && ++wrong <= 3) {
          problems.push(`entry ${from + i + 1} points at byte ${found}, the event is at byte ${expected}`);
        }
      }
    }
    if (wrong > 3) problems.push(`${wrong - 3} more wrong entries`);
    return problems;
  }

  async close(): Promise<void> {
    for (const kept of [...this.#readers.values()]) this.#dropReader(kept);
    await Promise.all([...this.#runs.keys()].map((runId) => this.closeRun(runId)));
    await Promise.all(this.#closing.values());
  }

  #warn(code: EventLogWarning['code'], runId: string, file: string, message: string): void {
    this.#options.onWarning?.({ code, runId, file, message });
  }
}
