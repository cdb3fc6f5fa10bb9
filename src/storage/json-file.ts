import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import type { z } from 'zod';
import type { DocumentAdapter, Snapshot } from './document.js';
import { CorruptStoreError, type StoreError, StoreIOError } from './errors.js';
import { type FileIdentity, type FileWatch, nodeIO, type StorageIO, sameIdentity } from './io.js';
import { acquireLock, type LockOptions } from './lock.js';

/** What a store keeps in its JSON file, and how older versions of the file are brought up to date. */
export interface DocumentFormat<E, M, L> {
  /** The `schemaVersion` this code writes. Files with a higher one are refused. */
  readonly version: number;
  readonly entry: z.ZodType<E>;
  readonly meta: z.ZodType<M>;
  readonly logRow: z.ZodType<L>;
  /** The key of an entry in the document. */
  keyOf(entry: E): string;
  emptyMeta(): M;
  /**
   * The key the log array is written under. A file may also hold its log under `log` (what
   * agent-stores wrote before the key became a format's choice): both spellings are read, this
   * one is written, and a file with both is refused rather than one of them dropped. `null`: the
   * document has no log, writes none, and accepts only an empty `log` in a file.
   * @defaultValue 'log'
   */
  readonly logKey?: string | null;
  /**
   * Brings the `meta` read from a file in line with its entries, on every load: a file written by
   * another program (the implementation agent-stores replaces) has no `meta` of ours, and what
   * `meta` derives from the entries (a high-water mark, say) must still hold.
   * @defaultValue `meta` as read (or {@link DocumentFormat.emptyMeta} when the file has none)
   */
  reconcileMeta?(meta: M, entries: ReadonlyMap<string, E>): M;
  /**
   * `migrations[v]` turns a version-`v` document (parsed JSON) into a version-`v + 1` one.
   * Applied in sequence on load; the file is rewritten in the new version on the next write.
   *
   * Layout rule: keys that other programs read (`schemaVersion`, `entries`, the log's key) keep
   * their names within a version; what agent-stores adds goes in keys such readers ignore. A
   * layout that must rename or reshape one of them gets a new `schemaVersion` and a one-way
   * migration here, documented with the format, whose first write keeps a copy of the old file.
   */
  readonly migrations?: Readonly<Record<number, (doc: Record<string, unknown>) => Record<string, unknown>>>;
}

/** The key `format` writes its log under, or `null` when it has none. */
function logKeyOf(format: DocumentFormat<unknown, unknown, unknown>): string | null {
  return format.logKey === undefined ? 'log' : format.logKey;
}

/** What a store does with a file it cannot read. */
export type CorruptionPolicy = 'throw' | 'quarantine';

/** Something a store wants its owner to know, without failing the operation. */
export interface StoreWarning {
  code: 'QUARANTINED';
  file: string;
  message: string;
  /** Where the unreadable file was moved. */
  movedTo: string;
}

/** Options shared by the JSON-file stores. */
export interface JsonFileOptions<E, M, L> {
  file: string;
  format: DocumentFormat<E, M, L>;
  /** @defaultValue 'throw' */
  onCorrupt?: CorruptionPolicy | undefined;
  onWarning?: ((warning: StoreWarning) => void) | undefined;
  /** File-system seam, for fault-injection tests. @defaultValue the real file system */
  io?: StorageIO | undefined;
  lock?: LockOptions | undefined;
}

interface Cached<E, M, L> {
  identity: FileIdentity | undefined;
  snapshot?: Snapshot<E, M, L>;
  error?: StoreError;
  /** Held on the file version `snapshot` came from, when the seam offers watches: see {@link StorageIO.watch}. */
  watch?: FileWatch;
}

/**
 * How much of the file a writer under the lock reads to compare revisions. The serializer puts
 * `"rev"` right after `schemaVersion` on the first line, so it is always within these bytes; a
 * file without a revision there (one written by another program) never matches, and is parsed.
 */
const HEAD_BYTES = 64;
const REV_IN_HEAD = /^\{"schemaVersion":\d+,"rev":(\d+),/;

export function emptySnapshot<E, M, L>(format: DocumentFormat<E, M, L>): Snapshot<E, M, L> {
  return { rev: 0, meta: format.emptyMeta(), entries: new Map(), log: [] };
}

/**
 * Serialises a snapshot as readable JSON, one entry and one log row per line:
 *
 * ```text
 * {"schemaVersion":1,"rev":7,
 * "meta":{…},
 * "entries":[
 * {…one entry…},
 * {…}
 * ],
 * "promotionAudit":[        ← the format's log key; left out when the format has no log
 * {…one row…}
 * ]}
 * ```
 *
 * `rev` and `meta` are agent-stores' own keys; a reader that knows only `schemaVersion`, `entries`
 * and the log's key (the implementation agent-stores replaces) ignores them. Entries are
 * immutable, so the UTF-8 bytes of each one's text are cached, and a write of 10,000 entries
 * stringifies and encodes only the changed ones, then copies the rest into one buffer (joining
 * 10,000 strings and encoding the result took three to five times as long).
 */
class Serializer {
  readonly #lines = new WeakMap<object, Buffer>();

  line(value: unknown): Buffer {
    if (typeof value !== 'object' || value === null) return Buffer.from(JSON.stringify(value));
    let bytes = this.#lines.get(value);
    if (bytes === undefined) {
      bytes = Buffer.from(JSON.stringify(value));
      this.#lines.set(value, bytes);
    }
    return bytes;
  }

  document(version: number, logKey: string | null, snapshot: Snapshot<unknown, unknown, unknown>): Buffer {
    const entries = Array.from(snapshot.entries.values(), (entry) => this.line(entry));
    const log = snapshot.log.map((row) => this.line(row));
    if (logKey === null && log.length > 0) throw new TypeError('a document without a log key has log rows');
    const prefix = Buffer.from(`{"schemaVersion":${version},"rev":${snapshot.rev},`);
    const head = Buffer.from(`\n"meta":${JSON.stringify(snapshot.meta)},\n"entries":[`);
    const between = logKey === null ? EMPTY : Buffer.from(`],\n${JSON.stringify(logKey)}:[`);
    const body = prefix.length + CHECKSUM_FIELD_BYTES;
    const size = body + head.length + listSize(entries) + between.length + listSize(log) + TAIL.length;
    const out = Buffer.allocUnsafe(size);
    out.set(prefix, 0);
    out.set(head, body);
    let offset = body + head.length;
    offset = writeList(out, offset, entries);
    out.set(between, offset);
    offset = writeList(out, offset + between.length, log);
    out.set(TAIL, offset);
    out.write(checksumField(crc32(out.subarray(body), crc32(prefix))), prefix.length, 'latin1');
    return out;
  }
}

/**
 * A document's checksum: CRC-32 of every byte of the file except the `"crc32":"…",` field itself,
 * written right after `rev` in the first line. It catches what JSON.parse cannot: a flipped bit
 * inside a string or a number that still parses (CRC-32 detects every error of up to 32
 * consecutive bits). It is not a signature: someone editing the file by hand removes the key, and
 * a file without it (older versions, the legacy implementation, hand-edited) reads as before.
 */
const CHECKSUM_FIELD_BYTES = '"crc32":"00000000",'.length;
const CHECKSUM_IN_HEAD = /^\{"schemaVersion":\d{1,10},"rev":\d{1,16},("crc32":"([0-9a-f]{8})",)/;

function checksumField(crc: number): string {
  return `"crc32":"${crc.toString(16).padStart(8, '0')}",`;
}

/** Why `bytes` do not match the checksum in their first line, or `undefined` when they do or have none. */
export function checksumMismatch(bytes: Buffer): string | undefined {
  const match = CHECKSUM_IN_HEAD.exec(bytes.subarray(0, 96).toString('latin1'));
  if (!match) return undefined;
  const field = match[1]!;
  const at = match[0].length - field.length;
  const actual = crc32(bytes.subarray(at + field.length), crc32(bytes.subarray(0, at)));
  const expected = Number.parseInt(match[2]!, 16);
  if (actual === expected) return undefined;
  return `its bytes do not match the checksum of their first line (crc32 ${match[2]}, the bytes give ${actual.toString(16).padStart(8, '0')}): the disk returned other bytes than were written. If you edited the file by hand, remove the "crc32" key`;
}

const EMPTY = Buffer.alloc(0);
const TAIL = Buffer.from(']}\n');
const NEWLINE = 0x0a;
const COMMA = 0x2c;

/** Bytes of `lines` written as a JSON array body: `\n` + lines joined by `,\n` + `\n`, or nothing. */
function listSize(lines: readonly Buffer[]): number {
  if (lines.length === 0) return 0;
  let size = 2 * lines.length;
  for (const line of lines) size += line.length;
  return size;
}

function writeList(out: Buffer, start: number, lines: readonly Buffer[]): number {
  if (lines.length === 0) return start;
  let offset = start;
  out[offset++] = NEWLINE;
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    if (index > 0) {
      out[offset++] = COMMA;
      out[offset++] = NEWLINE;
    }
    out.set(line, offset);
    offset += line.length;
  }
  out[offset++] = NEWLINE;
  return offset;
}

/**
 * The file backend of a {@link DurableDocument}: a JSON file replaced atomically (temp file,
 * fsync, rename, fsync of the directory) under a cross-process lock, read through a cache that
 * one `stat` revalidates. A file that cannot be read is never overwritten.
 */
export class JsonFileAdapter<E, M, L> implements DocumentAdapter<E, M, L> {
  #file: string;
  /** Whether the directory's symbolic links (a root that is a link) have been resolved. */
  #dirResolved = false;
  readonly #format: DocumentFormat<E, M, L>;
  readonly #io: StorageIO;
  readonly #onCorrupt: CorruptionPolicy;
  readonly #onWarning: ((warning: StoreWarning) => void) | undefined;
  readonly #lockOptions: LockOptions | undefined;
  readonly #serializer = new Serializer();
  #cached: Cached<E, M, L> | undefined;
  #loading: Promise<Snapshot<E, M, L>> | undefined;
  #dirReady = false;
  /** Whether this instance has removed the temp files of writes a crash interrupted. */
  #tempsSwept = false;

  constructor(options: JsonFileOptions<E, M, L>) {
    this.#file = path.resolve(options.file);
    this.#resolveDir();
    this.#format = options.format;
    this.#io = options.io ?? nodeIO;
    this.#onCorrupt = options.onCorrupt ?? 'throw';
    this.#onWarning = options.onWarning;
    this.#lockOptions = options.lock;
  }

  /** The store's file, with the links of its directory resolved once the directory exists. */
  get file(): string {
    return this.#file;
  }

  /**
   * Resolves the directory once, when the store opens (or once it has created it): the root may
   * be a symbolic link (people do that), and every later open then goes to the same place even if
   * the link changes. The file itself is never followed: reads and writes refuse a link there.
   */
  #resolveDir(): void {
    if (this.#dirResolved) return;
    try {
      this.#file = path.join(fs.realpathSync(path.dirname(this.#file)), path.basename(this.#file));
      this.#dirResolved = true;
    } catch {
      // Not there yet: created (and resolved) on the first write.
    }
  }

  async lock(): Promise<() => Promise<void>> {
    await this.#ensureDir();
    const held = await acquireLock(this.file, this.#lockOptions);
    if (!this.#tempsSwept) {
      this.#tempsSwept = true;
      try {
        this.#io.removeStrayTemps?.(this.file);
      } catch {
        // Tidying only: a leftover temp file is never read, so failing to remove it harms nothing.
      }
    }
    return () => held.release();
  }

  async load(locked: boolean): Promise<Snapshot<E, M, L>> {
    const cached = this.#cached;
    // A reader's fast path: one fstat on the held version instead of a stat of the path.
    if (!locked && cached?.snapshot && cached.watch?.unchanged()) return cached.snapshot;
    const identity = this.#identify();
    if (cached && sameIdentity(identity, cached.identity) && (!locked || this.#headRevMatches(cached))) {
      if (cached.error && !(locked && this.#onCorrupt === 'quarantine')) throw cached.error;
      if (cached.snapshot) return cached.snapshot;
    }
    if (locked) return this.#parse(identity, true);
    // Readers that arrive while a parse is under way share it.
    this.#loading ??= this.#parse(identity, false).finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async write(next: Snapshot<E, M, L>): Promise<void> {
    const text = this.#serializer.document(
      this.#format.version,
      logKeyOf(this.#format as DocumentFormat<unknown, unknown, unknown>),
      next as Snapshot<unknown, unknown, unknown>,
    );
    try {
      await this.#ensureDir();
      await this.#io.writeAtomic(this.file, text, { fsync: true });
    } catch (error) {
      this.#setCache(undefined);
      throw new StoreIOError(this.file, 'writing', error);
    }
    // The rename has committed the new version: from here a failure cannot undo it, only fail
    // to make it durable, and the caller must be told the change is in doubt, not absent.
    try {
      await this.#io.fsyncDir(path.dirname(this.file));
    } catch (error) {
      this.#setCache(undefined);
      throw new StoreIOError(this.file, 'syncing the directory of', error, { inDoubt: true });
    }
    let identity: FileIdentity | undefined;
    try {
      identity = this.#io.identify(this.file);
    } catch {
      // Only the cache's key is missing; the next read parses the file again.
      this.#setCache(undefined);
      return;
    }
    this.#setCache({ identity, snapshot: next });
  }

  /** Drops the cache and its watch; resolves once the watch's descriptor is closed. */
  async close(): Promise<void> {
    const watch = this.#cached?.watch;
    this.#cached = undefined;
    await watch?.close();
  }

  /** Replaces the cache; a snapshot read from (or written to) the file gets a watch on that version. */
  #setCache(next: Cached<E, M, L> | undefined): void {
    this.#cached?.watch?.close();
    if (next?.snapshot && next.identity !== undefined) {
      const watch = this.#io.watch?.(this.file);
      // The watch must be on the very version cached: the file may have moved on since.
      if (watch && sameIdentity(watch.identity, next.identity)) next.watch = watch;
      else watch?.close();
    }
    this.#cached = next;
  }

  #identify(): FileIdentity | undefined {
    try {
      return this.#io.identify(this.file);
    } catch (error) {
      throw new StoreIOError(this.file, 'reading', error);
    }
  }

  /** Under the lock, a `stat` is not proof enough (inode numbers are reused): compare revisions too. */
  #headRevMatches(cached: Cached<E, M, L>): boolean {
    if (!cached.snapshot || cached.identity === undefined) return true;
    const head = this.#io.readHead(this.file, HEAD_BYTES);
    const rev = head ? REV_IN_HEAD.exec(head.toString('utf8')) : null;
    return rev !== null && Number(rev[1]) === cached.snapshot.rev;
  }

  async #ensureDir(): Promise<void> {
    if (this.#dirReady) return;
    try {
      await this.#io.mkdirp(path.dirname(this.file));
    } catch (error) {
      throw new StoreIOError(path.dirname(this.file), 'creating the directory', error);
    }
    this.#dirReady = true;
    this.#resolveDir();
  }

  async #parse(identity: FileIdentity | undefined, locked: boolean): Promise<Snapshot<E, M, L>> {
    let bytes: Buffer | undefined;
    try {
      bytes = await this.#io.readFile(this.file);
    } catch (error) {
      throw new StoreIOError(this.file, 'reading', error);
    }
    // The file may have been replaced between the stat and the read: identify what we read.
    const readIdentity = bytes === undefined ? undefined : this.#identify();
    if (bytes === undefined) {
      const snapshot = emptySnapshot(this.#format);
      this.#setCache({ identity: undefined, snapshot });
      return snapshot;
    }
    try {
      const damaged = checksumMismatch(bytes);
      if (damaged !== undefined) throw new CorruptStoreError(this.file, damaged);
      const snapshot = this.#decode(bytes);
      // If the file moved on while we read it, do not cache: the next read parses again.
      this.#setCache(sameIdentity(identity, readIdentity) ? { identity: readIdentity, snapshot } : undefined);
      return snapshot;
    } catch (error) {
      if (!(error instanceof CorruptStoreError)) throw error;
      if (this.#onCorrupt === 'quarantine') return this.#quarantine(error, locked);
      this.#setCache({ identity: readIdentity, error });
      throw error;
    }
  }

  #decode(bytes: Buffer): Snapshot<E, M, L> {
    const format = this.#format;
    let raw: unknown;
    try {
      raw = JSON.parse(bytes.toString('utf8'));
    } catch (error) {
      throw new CorruptStoreError(this.file, `not valid JSON: ${(error as Error).message}`, { cause: error });
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new CorruptStoreError(this.file, 'not a JSON object');
    }
    let doc = raw as Record<string, unknown>;
    const version = doc.schemaVersion;
    if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
      throw new CorruptStoreError(this.file, 'no valid schemaVersion');
    }
    if (version > format.version) {
      throw new CorruptStoreError(
        this.file,
        `schemaVersion ${version} was written by a newer agent-stores (this one knows up to ${format.version}); upgrade the library`,
      );
    }
    for (let v = version; v < format.version; v++) {
      const migrate = format.migrations?.[v];
      if (!migrate) throw new CorruptStoreError(this.file, `no migration from schemaVersion ${v}`);
      doc = migrate(doc);
    }
    // A file written by another program (the implementation agent-stores replaces) has no
    // revision and no meta of ours: it is revision 0, and the first write makes it 1.
    const rev = doc.rev === undefined ? 0 : doc.rev;
    if (typeof rev !== 'number' || !Number.isSafeInteger(rev) || rev < 0) {
      throw new CorruptStoreError(this.file, 'rev is not a non-negative integer');
    }
    const meta = format.meta.safeParse(doc.meta ?? format.emptyMeta());
    if (!meta.success) throw new CorruptStoreError(this.file, `meta: ${meta.error.issues[0]?.message}`);
    if (!Array.isArray(doc.entries)) throw new CorruptStoreError(this.file, 'entries is not an array');
    const entries = new Map<string, E>();
    for (const [index, item] of doc.entries.entries()) {
      const parsed = format.entry.safeParse(item);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new CorruptStoreError(this.file, `entries[${index}].${issue?.path.join('.')}: ${issue?.message}`);
      }
      entries.set(format.keyOf(parsed.data), parsed.data);
    }
    const log = this.#decodeLog(doc);
    const reconciled = format.reconcileMeta ? format.reconcileMeta(meta.data, entries) : meta.data;
    return { rev, meta: reconciled, entries, log };
  }

  /** The log rows, under the format's key or the older spelling `log` (never both). */
  #decodeLog(doc: Record<string, unknown>): L[] {
    const logKey = logKeyOf(this.#format as DocumentFormat<unknown, unknown, unknown>);
    let key = 'log';
    if (logKey !== null && logKey !== 'log' && doc[logKey] !== undefined) {
      if (doc.log !== undefined) {
        throw new CorruptStoreError(
          this.file,
          `has both "${logKey}" and "log"; keep the rows in "${logKey}" and remove "log" by hand`,
        );
      }
      key = logKey;
    }
    const raw = doc[key] ?? [];
    if (!Array.isArray(raw)) throw new CorruptStoreError(this.file, `${key} is not an array`);
    const log: L[] = [];
    for (const [index, item] of raw.entries()) {
      const parsed = this.#format.logRow.safeParse(item);
      if (!parsed.success)
        throw new CorruptStoreError(this.file, `${key}[${index}]: ${parsed.error.issues[0]?.message}`);
      log.push(parsed.data);
    }
    return log;
  }

  /** Moves the unreadable file aside (under the lock) and starts empty. */
  async #quarantine(error: CorruptStoreError, locked: boolean): Promise<Snapshot<E, M, L>> {
    if (!locked) {
      const release = await this.lock();
      try {
        return await this.load(true);
      } finally {
        await release();
      }
    }
    const movedTo = `${this.file}.corrupt-${Date.now()}`;
    try {
      await this.#io.rename(this.file, movedTo);
      await this.#io.fsyncDir(path.dirname(this.file));
    } catch (cause) {
      throw new StoreIOError(this.file, 'moving aside', cause);
    }
    const snapshot = emptySnapshot(this.#format);
    this.#setCache({ identity: undefined, snapshot });
    this.#onWarning?.({
      code: 'QUARANTINED',
      file: this.file,
      movedTo,
      message: `${error.message.split(';')[0]}; moved to ${movedTo} and started empty`,
    });
    return snapshot;
  }
}

/** The in-memory twin: the same document semantics, no disk. */
export class MemoryAdapter<E, M, L> implements DocumentAdapter<E, M, L> {
  #snapshot: Snapshot<E, M, L>;

  constructor(format: DocumentFormat<E, M, L>) {
    this.#snapshot = emptySnapshot(format);
  }

  async lock(): Promise<() => Promise<void>> {
    return async () => {};
  }

  async load(): Promise<Snapshot<E, M, L>> {
    return this.#snapshot;
  }

  async write(next: Snapshot<E, M, L>): Promise<void> {
    this.#snapshot = next;
  }
}
