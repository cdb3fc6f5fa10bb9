import * as fs from 'node:fs';
import * as path from 'node:path';
import { CorruptStoreError, LockError, StoreError, StoreIOError } from '../storage/errors.js';
import { isValidId } from '../storage/ids.js';
import { acquireLock, type HeldLock, type LockOptions } from '../storage/lock.js';
import type { AgentEvent, EventLogVerifyReport, EventLogWarning } from './agent-event.js';
import type { EventBackend, PreparedEvent, RunTail } from './event-backend.js';
import type { EventFileHandle, EventLogIO } from './event-log-io.js';
import { LineScanner, parseLine } from './line-scanner.js';

/** Options of {@link FileEventBackend}. */
export interface FileEventBackendOptions {
  dir: string;
  io: EventLogIO;
  lock: Pick<LockOptions, 'waitMs' | 'staleMs'>;
  maxLineBytes: number;
  pollMs: number;
  terminalTypes: ReadonlySet<string>;
  onWarning: ((warning: EventLogWarning) => void) | undefined;
}

/** A run this process writes: its handles, its lock, where its log ends. */
interface OpenRun {
  readonly runId: string;
  readonly log: EventFileHandle;
  readonly idx: EventFileHandle;
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

/** What a scan of a log found, from its last sound index entry on. */
interface Inspection {
  /** Index entries present (the index file's size / 8). */
  indexEntries: number;
  /** Entries 1…validEntries point at their events. */
  validEntries: number;
  lastCursor: number;
  lastType: string | undefined;
  /** End of the last complete event. */
  goodEnd: number;
  /** Byte offsets of events validEntries+1…lastCursor (when collected). */
  offsets: number[];
  /** A bad line followed by good events: damage that is not a torn tail. */
  corruption: string | undefined;
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
  readonly #dir: string;
  readonly #io: EventLogIO;
  readonly #options: FileEventBackendOptions;
  readonly #runs = new Map<string, OpenRun>();
  readonly #closing = new Map<string, Promise<void>>();
  #dirReady = false;
  #indexFlushScheduled = false;
  #scratch = Buffer.allocUnsafe(64 * 1024);
  readonly #entry = Buffer.alloc(ENTRY);
  readonly #head = Buffer.alloc(32);

  constructor(options: FileEventBackendOptions) {
    this.#options = options;
    this.#dir = path.resolve(options.dir);
    this.#io = options.io;
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
      const run: OpenRun = {
        runId,
        log,
        idx,
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
      return run;
    } catch (error) {
      for (const handle of opened) {
        try {
          handle.close();
        } catch {}
      }
      await lock.release().catch(() => {});
      throw new StoreIOError(file, 'opening', error);
    }
  }

  #ensureDir(): void {
    if (this.#dirReady) return;
    try {
      const existed = this.#io.exists(this.#dir);
      this.#io.mkdirp(this.#dir);
      // A directory made here must be durable too, or the logs in it could vanish with it in a crash.
      if (!existed) this.#io.syncDir(path.dirname(this.#dir));
    } catch (error) {
      throw new StoreIOError(this.#dir, 'creating the directory', error);
    }
    this.#dirReady = true;
  }

  /** Brings a run's files to a consistent state: torn tail cut, index up to the log. */
  #recover(run: OpenRun): void {
    const file = run.log.file;
    let inspection: Inspection;
    let size: number;
    try {
      size = run.log.size();
      inspection = this.#inspect(run.log, run.idx, size, true);
    } catch (error) {
      throw error instanceof StoreError ? error : new StoreIOError(file, 'reading', error);
    }
    if (inspection.corruption !== undefined) {
      throw new CorruptStoreError(
        file,
        `${inspection.corruption}; an acknowledged event is never cut, so fix the file by hand (verify() reports the details)`,
      );
    }
    try {
      if (inspection.goodEnd < size) {
        run.log.truncate(inspection.goodEnd);
        run.log.datasync();
        this.#warn(
          'TORN_TAIL_CUT',
          run.runId,
          file,
          `cut ${size - inspection.goodEnd} bytes of a torn write after event ${inspection.lastCursor}`,
        );
      }
    } catch (error) {
      throw new StoreIOError(file, 'cutting the torn tail of', error);
    }
    run.end = inspection.goodEnd;
    run.lastCursor = inspection.lastCursor;
    run.lastType = inspection.lastType;
    run.indexStale = false;
    run.pendingCount = 0;
    run.needsRecovery = false;
    try {
      const rebuilt = this.#writeIndexTail(run.idx, inspection);
      if (rebuilt) {
        this.#warn(
          'INDEX_REBUILT',
          run.runId,
          run.idx.file,
          `index brought up to event ${inspection.lastCursor} from entry ${inspection.validEntries}`,
        );
      }
    } catch {
      // The index is derived: readers scan without it, and the next open rebuilds it.
      run.indexStale = true;
    }
  }

  /** Writes the entries an inspection found missing and cuts entries past the log's end. */
  #writeIndexTail(idx: EventFileHandle, inspection: Inspection): boolean {
    const { offsets, validEntries, lastCursor } = inspection;
    const wantBytes = lastCursor * ENTRY;
    let changed = false;
    for (let from = 0; from < offsets.length; from += 8192) {
      const count = Math.min(8192, offsets.length - from);
      const buffer = Buffer.allocUnsafe(count * ENTRY);
      for (let i = 0; i < count; i++) writeEntry(buffer, i * ENTRY, offsets[from + i]!);
      idx.write(buffer, 0, buffer.length, (validEntries + from) * ENTRY);
      changed = true;
    }
    if (idx.size() !== wantBytes) {
      idx.truncate(wantBytes);
      changed = true;
    }
    return changed;
  }

  /** Offset of event `cursor` according to the index, or `undefined` when the entry is absent. */
  #entryOf(idx: EventFileHandle, cursor: number): number | undefined {
    const read = idx.read(this.#entry, 0, ENTRY, (cursor - 1) * ENTRY);
    return read === ENTRY ? readEntryAt(this.#entry, 0) : undefined;
  }

  /** True when index entry `cursor` points at the start of the line of event `cursor`. */
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
   * Scans a log from its last sound index entry to its end. Entries are written in order, so
   * sound ones form a prefix: the last one is found by binary search, in O(log n) reads.
   */
  #inspect(log: EventFileHandle, idx: EventFileHandle | undefined, logSize: number, collect: boolean): Inspection {
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
    const result = this.#scanFrom(log, valid, valid ? this.#entryOf(idx!, valid)! : 0, collect);
    // The indexed line looked right but did not parse: fall back to a scan from the start.
    const scanned = valid > 0 && result.lastCursor === 0 ? this.#scanFrom(log, 0, 0, collect) : result;
    return { indexEntries, ...scanned };
  }

  #scanFrom(log: EventFileHandle, valid: number, start: number, collect: boolean): Omit<Inspection, 'indexEntries'> {
    const scanner = new LineScanner(log, start, { firstChunk: 64 * 1024, maxLineBytes: this.#options.maxLineBytes });
    const offsets: number[] = [];
    let expect = valid || 1;
    let lastCursor = 0;
    let lastType: string | undefined;
    let goodEnd = start;
    let corruption: string | undefined;
    let text = scanner.next();
    for (; text !== undefined; text = scanner.next()) {
      const line = parseLine(text);
      if (line === undefined || line.cursor !== expect) break;
      if (collect && line.cursor > valid) offsets.push(scanner.lineStart);
      lastCursor = line.cursor;
      lastType = line.type;
      goodEnd = scanner.lineEnd;
      expect++;
    }
    if (scanner.overlong === 'complete') {
      corruption = `the line at byte ${goodEnd} is longer than ${this.#options.maxLineBytes} bytes; open the log with a larger maxEventBytes to read it`;
    } else if (text !== undefined) {
      // A bad line. A torn tail has nothing after it; an event after it means real damage.
      const badAt = scanner.lineStart;
      for (let later = scanner.next(); later !== undefined; later = scanner.next()) {
        const line = parseLine(later);
        if (line !== undefined && line.cursor > lastCursor) {
          corruption = `the line at byte ${badAt} is not event ${expect}, but event ${line.cursor} follows at byte ${scanner.lineStart}`;
          break;
        }
      }
    }
    return { validEntries: valid, lastCursor, lastType, goodEnd, offsets, corruption };
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
    try {
      await (run.log.datasyncAsync ? run.log.datasyncAsync() : run.log.datasync());
    } catch (error) {
      throw this.#cutBack(run, error);
    }
    this.#advance(run, events, used, true);
  }

  #writable(runId: string): OpenRun {
    const run = this.#runs.get(runId);
    if (run === undefined || run.needsRecovery) {
      throw new StoreError('IO', `the event log of run '${runId}' is not open for appending`);
    }
    if (run.lock.compromised) {
      run.needsRecovery = true;
      throw new LockError(run.log.file, 'the writer lock was lost (taken over or removed); reopen the log to append');
    }
    return run;
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
      const worst = head.length + event.tail.length * 3;
      if (buffer.length - used < worst) {
        const bigger = Buffer.allocUnsafe(Math.max(buffer.length * 2, used + worst));
        buffer.copy(bigger, 0, 0, used);
        buffer = bigger;
      }
      writeEntry(index, i * ENTRY, run.end + used);
      used += buffer.write(head, used, 'latin1');
      used += buffer.write(event.tail, used, 'utf8');
    }
    // Keep a grown scratch buffer for the next batch unless it is huge (a batch of large events).
    if (buffer.length <= 4 * 1024 * 1024) this.#scratch = buffer;
    try {
      run.log.write(buffer, 0, used, run.end);
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
    if (synced || run.pendingCount >= INDEX_FLUSH_ENTRIES) this.#flushIndex(run);
    else if (!this.#indexFlushScheduled) {
      this.#indexFlushScheduled = true;
      // After this turn's appends (a burst of sequential awaited appends is one turn).
      setImmediate(() => {
        this.#indexFlushScheduled = false;
        for (const open of this.#runs.values()) this.#flushIndex(open);
      });
    }
  }

  /** Writes the gathered index entries of a run with one write. */
  #flushIndex(run: OpenRun): void {
    if (run.pendingCount === 0) return;
    const bytes = run.pendingCount * ENTRY;
    run.pendingCount = 0;
    if (run.indexStale) return;
    try {
      run.idx.write(run.pending, 0, bytes, (run.pendingFirst - 1) * ENTRY);
    } catch {
      // The events are durable in the log; the index is rebuilt from it on the next open.
      run.indexStale = true;
    }
    if (run.pending.length > 64 * 1024) run.pending = Buffer.allocUnsafe(64 * ENTRY);
  }

  async closeRun(runId: string): Promise<void> {
    const run = this.#runs.get(runId);
    if (run === undefined) return this.#closing.get(runId);
    this.#runs.delete(runId);
    this.#flushIndex(run);
    const closing = (async () => {
      for (const handle of [run.log, run.idx]) {
        try {
          handle.close();
        } catch {}
      }
      await run.lock.release().catch(() => {});
    })();
    this.#closing.set(runId, closing);
    await closing;
    if (this.#closing.get(runId) === closing) this.#closing.delete(runId);
  }

  *read(runId: string, after: number, limit: number): Iterable<AgentEvent> {
    if (limit <= 0) return;
    const log = this.#openForRead(this.logFile(runId));
    if (log === undefined) return;
    try {
      let start = 0;
      let expect = 1;
      if (after > 0) {
        const located = this.#locate(runId, after);
        if (located !== undefined) [start, expect] = located;
      }
      // Reading must start at or before event after+1, or events would be skipped.
      if (expect > after + 1) [start, expect] = [0, 1];
      let scanner = new LineScanner(log, start, { maxLineBytes: this.#options.maxLineBytes });
      let yielded = 0;
      let first = start > 0;
      for (;;) {
        const text = scanner.next();
        const line = text === undefined ? undefined : parseLine(text);
        if (line === undefined || line.cursor !== expect) {
          if (scanner.overlong === 'complete') {
            throw new CorruptStoreError(
              log.file,
              `event ${expect} is longer than ${this.#options.maxLineBytes} bytes; open the log with a larger maxEventBytes to read it`,
            );
          }
          if (!first) return; // the end of what is complete (a torn or in-progress write)
          // The index pointed at the wrong place: scan from the start instead.
          scanner = new LineScanner(log, 0, { maxLineBytes: this.#options.maxLineBytes });
          expect = 1;
          first = false;
          continue;
        }
        first = false;
        expect++;
        if (line.cursor <= after) continue;
        yield { runId, cursor: line.cursor, type: line.type, at: line.at, payload: line.payload };
        if (++yielded >= limit) return;
      }
    } finally {
      log.close();
    }
  }

  #openForRead(file: string): EventFileHandle | undefined {
    try {
      return this.#io.open(file, 'read');
    } catch (error) {
      throw new StoreIOError(file, 'reading', error);
    }
  }

  /** Where to start reading for events after `after`: [byte offset, cursor of the line there]. */
  #locate(runId: string, after: number): [number, number] | undefined {
    const open = this.#runs.get(runId);
    if (open && !open.indexStale && open.pendingCount > 0 && after + 1 >= open.pendingFirst) {
      // The entry is still in memory (or the run ends before it: start at its last event).
      const cursor = Math.min(after + 1, open.pendingFirst + open.pendingCount - 1);
      return [readEntryAt(open.pending, (cursor - open.pendingFirst) * ENTRY), cursor];
    }
    const idx = open && !open.indexStale ? open.idx : this.#openForRead(this.indexFile(runId));
    if (idx === undefined) return undefined;
    try {
      const exact = this.#entryOf(idx, after + 1);
      // A garbage entry can hold any 64-bit value; the scan after it notices any other wrong one.
      if (exact !== undefined) return exact <= Number.MAX_SAFE_INTEGER ? [exact, after + 1] : undefined;
      // The index is short (a writer in another process indexes after appending): scan from its
      // end. Never from past `after`: the writer may have extended it since the lookup above.
      const from = Math.min(Math.floor(idx.size() / ENTRY), after);
      if (from === 0) return undefined;
      const start = this.#entryOf(idx, from);
      return start === undefined || start > Number.MAX_SAFE_INTEGER ? undefined : [start, from];
    } finally {
      if (idx !== open?.idx) idx.close();
    }
  }

  tail(runId: string): RunTail | undefined {
    const open = this.#runs.get(runId);
    if (open && !open.needsRecovery) return { lastCursor: open.lastCursor, lastType: open.lastType };
    const log = this.#openForRead(this.logFile(runId));
    if (log === undefined) return undefined;
    const idx = this.#openForRead(this.indexFile(runId));
    try {
      const inspection = this.#inspect(log, idx, log.size(), false);
      return { lastCursor: inspection.lastCursor, lastType: inspection.lastType };
    } finally {
      log.close();
      idx?.close();
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
      await lock.release().catch(() => {});
    }
    return true;
  }

  async verify(runId: string, repair: boolean): Promise<EventLogVerifyReport> {
    // Repairing needs the lock to itself; the log re-opens the run on its next append.
    if (repair) await this.closeRun(runId);
    else {
      const open = this.#runs.get(runId);
      if (open) this.#flushIndex(open);
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
      const scan = this.#scanFrom(log, 0, 0, true);
      report.events = scan.lastCursor;
      report.lastCursor = scan.lastCursor;
      report.sealed = scan.lastType !== undefined && this.#options.terminalTypes.has(scan.lastType);
      report.logBytes = size;
      report.tornTailBytes = scan.corruption === undefined ? size - scan.goodEnd : 0;
      report.corruption = scan.corruption;
      report.indexProblems = this.#indexProblems(idx, scan.offsets);
      report.ok = report.tornTailBytes === 0 && report.indexProblems.length === 0 && scan.corruption === undefined;
      if (repair && !report.ok && scan.corruption === undefined) {
        if (report.tornTailBytes > 0) {
          log.truncate(scan.goodEnd);
          log.datasync();
        }
        if (report.indexProblems.length > 0 && idx) {
          this.#writeIndexTail(idx, { ...scan, indexEntries: 0, validEntries: 0 });
        }
        report.repaired = true;
      }
      return report;
    } catch (error) {
      throw error instanceof StoreError ? error : new StoreIOError(file, repair ? 'repairing' : 'verifying', error);
    } finally {
      log?.close();
      idx?.close();
      await lock?.release().catch(() => {});
    }
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
    await Promise.all([...this.#runs.keys()].map((runId) => this.closeRun(runId)));
    await Promise.all(this.#closing.values());
  }

  #warn(code: EventLogWarning['code'], runId: string, file: string, message: string): void {
    this.#options.onWarning?.({ code, runId, file, message });
  }
}
