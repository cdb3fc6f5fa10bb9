import * as fs from 'node:fs';
import * as path from 'node:path';
import { type FileIdentity, nodeIO, nodeIOWith, type StorageIO } from '../../src/storage/index.js';

/** A step of the storage core's file access: one method of {@link StorageIO}. */
export type IOStep = keyof StorageIO;

/**
 * What goes wrong. The errno kinds throw a Node-style error with that `code`; `crash` models a
 * process dying in the middle of the step: for `writeAtomic` it leaves a half-written temp file
 * next to the target (as a kill between writing and renaming would) and throws, so the target is
 * never replaced. The others apply to `writeAtomic` only, and model what a disk does to bytes
 * (see {@link WRITE_FAULT_KINDS}, {@link DAMAGE_KINDS}).
 */
export type FaultKind = 'ENOSPC' | 'EIO' | 'EACCES' | 'crash' | 'short-write' | DamageKind;

/** Bytes that land on disk other than they were written, while every call reports success. */
export type DamageKind = 'zeroed-range' | 'flipped-byte';

/** Faults any step can have. */
export const FAULT_KINDS: readonly FaultKind[] = ['ENOSPC', 'EIO', 'EACCES', 'crash'];

/**
 * Faults of a file write: `short-write` is the kernel's answer on a nearly full disk, the real
 * replace's first `write(2)` takes half the bytes and reports the short count, the next fails
 * with ENOSPC (the seam runs the production replace over that disk, so its handling is tested).
 */
export const WRITE_FAULT_KINDS: readonly FaultKind[] = ['short-write'];

/**
 * Damage no call reports: `zeroed-range` a 512-byte block of the written file reads back as zeros
 * (a lost or misdirected write), `flipped-byte` one bit of one byte is flipped (bit rot, a bad
 * cable). A store must then refuse the file (CorruptStoreError), never serve other data.
 */
export const DAMAGE_KINDS: readonly DamageKind[] = ['zeroed-range', 'flipped-byte'];

export function isDamage(kind: FaultKind): kind is DamageKind {
  return (DAMAGE_KINDS as readonly string[]).includes(kind);
}

/** `bytes` with `kind` of damage at `where` (0..1 of the length): a copy, the input is left alone. */
export function damage(bytes: Uint8Array, kind: DamageKind, where: number): Buffer {
  const out = Buffer.from(bytes);
  const at = Math.min(out.length - 1, Math.max(0, Math.floor(out.length * where)));
  if (kind === 'flipped-byte') out[at] = out[at]! ^ 0x04;
  else out.fill(0, at - (at % 512), Math.min(out.length, at - (at % 512) + 512));
  return out;
}

/** A replace over a disk whose first write takes half the bytes and whose next one fails with ENOSPC. */
function shortWriteDisk(): StorageIO {
  let writes = 0;
  return nodeIOWith({
    write(fd, buffer, offset, length) {
      if (writes++ > 0) throw errnoError('ENOSPC', 'write', `fd ${fd}`);
      return fs.writeSync(fd, buffer, offset, Math.max(1, Math.floor(length / 2)));
    },
  });
}

/** One call the wrapped code made, in order. */
export interface IOCall {
  readonly step: string;
  readonly file: string;
}

/**
 * What {@link sweepFaults} needs of a fault-injecting seam: the calls made so far, the faults that
 * fired, and a way to fail the n-th call from now and to heal.
 */
export interface FaultInjector {
  readonly calls: readonly IOCall[];
  readonly fired: readonly (IOCall & { kind: FaultKind })[];
  readonly count: number;
  failAt(offset: number, kind: FaultKind): unknown;
  heal(): unknown;
}

type AlwaysKind = 'ENOSPC' | 'EIO' | 'EACCES';

interface ArmedFault {
  /** The fault fires on the call with this sequence number (see {@link FaultyIO.calls}). */
  at: number;
  kind: FaultKind;
}

/** The error a disk gives: `code` like ENOSPC, `syscall` and `path` like Node's own. */
export function errnoError(code: string, step: string, file: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${code}: injected fault, ${step} '${file}'`);
  error.code = code;
  error.syscall = step;
  error.path = file;
  return error;
}

/** The error a simulated crash throws: in a real crash nobody would hear back at all. */
export class SimulatedCrash extends Error {
  constructor(step: string, file: string) {
    super(`simulated crash during ${step} '${file}'`);
    this.name = 'SimulatedCrash';
  }
}

/** Names of the temp files {@link FaultyIO} leaves behind on a simulated crash (`<file>.<hex>.tmp-crash`). */
export const STRAY_TEMP = /\.[0-9a-f]{8}\.tmp-crash$/;

/**
 * A {@link StorageIO} that forwards to the real one and records every call, and can be armed to
 * fail the n-th call from now. Tests first record the calls one operation makes, then replay the
 * operation once per recorded call with a fault at exactly that step: every step of the write path
 * is covered without knowing the store's internals.
 */
export class FaultyIO implements StorageIO, FaultInjector {
  readonly #inner: StorageIO;
  readonly #armed: ArmedFault[] = [];
  /** Every call made so far, in order. */
  readonly calls: IOCall[] = [];
  /** Faults that fired, in order. */
  readonly fired: (IOCall & { kind: FaultKind })[] = [];

  constructor(inner: StorageIO = nodeIO) {
    this.#inner = inner;
  }

  /** Fails the call `offset` calls from now (0 = the very next call) with `kind`. */
  failAt(offset: number, kind: FaultKind): this {
    this.#armed.push({ at: this.calls.length + offset, kind });
    return this;
  }

  /** Fails every call from now on, until {@link FaultyIO.heal} (a full disk, a read-only mount). */
  failAll(kind: AlwaysKind, steps?: readonly IOStep[]): this {
    this.#always = { kind, steps };
    return this;
  }

  #always: { kind: AlwaysKind; steps: readonly IOStep[] | undefined } | undefined;

  /** Where in the file a damage fault strikes, 0..1 of its length. @defaultValue 0.5 */
  damageAt = 0.5;

  /** Disarms every fault: the disk works again. */
  heal(): this {
    this.#armed.length = 0;
    this.#always = undefined;
    return this;
  }

  /** Number of calls made so far; pass differences of it to {@link FaultyIO.failAt}. */
  get count(): number {
    return this.calls.length;
  }

  #enter(step: IOStep, file: string): FaultKind | undefined {
    const seq = this.calls.length;
    this.calls.push({ step, file });
    const index = this.#armed.findIndex((fault) => fault.at === seq);
    let kind: FaultKind | undefined;
    if (index >= 0) {
      kind = this.#armed[index]!.kind;
      this.#armed.splice(index, 1);
    } else if (this.#always && (this.#always.steps === undefined || this.#always.steps.includes(step))) {
      kind = this.#always.kind;
    }
    if (kind !== undefined) this.fired.push({ step, file, kind });
    return kind;
  }

  #throw(kind: FaultKind, step: IOStep, file: string): never {
    if (kind === 'crash') throw new SimulatedCrash(step, file);
    // Byte faults exist for writes only; elsewhere they are the disk refusing.
    throw errnoError(kind === 'short-write' || isDamage(kind) ? 'EIO' : kind, step, file);
  }

  async readFile(file: string): Promise<Buffer | undefined> {
    const fault = this.#enter('readFile', file);
    if (fault) this.#throw(fault, 'readFile', file);
    return this.#inner.readFile(file);
  }

  identify(file: string): FileIdentity | undefined {
    const fault = this.#enter('identify', file);
    if (fault) this.#throw(fault, 'identify', file);
    return this.#inner.identify(file);
  }

  readHead(file: string, bytes: number): Buffer | undefined {
    const fault = this.#enter('readHead', file);
    if (fault) this.#throw(fault, 'readHead', file);
    return this.#inner.readHead(file, bytes);
  }

  async writeAtomic(file: string, data: string | Uint8Array, options: { fsync: boolean }): Promise<void> {
    const fault = this.#enter('writeAtomic', file);
    if (fault === 'short-write') return shortWriteDisk().writeAtomic(file, data, options);
    if (fault !== undefined && isDamage(fault)) {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      return this.#inner.writeAtomic(file, damage(bytes, fault, this.damageAt), options);
    }
    if (fault === 'crash') {
      // Written but never renamed: the target keeps its old bytes, a torn temp file stays behind.
      const temp = `${file}.${Math.floor(Math.random() * 0xffffffff)
        .toString(16)
        .padStart(8, '0')}.tmp-crash`;
      fs.mkdirSync(path.dirname(temp), { recursive: true });
      fs.writeFileSync(temp, data.slice(0, Math.ceil(data.length / 2)));
      throw new SimulatedCrash('writeAtomic', file);
    }
    if (fault) {
      // A full or failing disk may still have created the temp file; the replace removes it.
      this.#throw(fault, 'writeAtomic', file);
    }
    return this.#inner.writeAtomic(file, data, options);
  }

  async fsyncDir(dir: string): Promise<void> {
    const fault = this.#enter('fsyncDir', dir);
    if (fault) this.#throw(fault, 'fsyncDir', dir);
    return this.#inner.fsyncDir(dir);
  }

  async rename(from: string, to: string): Promise<void> {
    const fault = this.#enter('rename', from);
    if (fault) this.#throw(fault, 'rename', from);
    return this.#inner.rename(from, to);
  }

  async mkdirp(dir: string): Promise<void> {
    const fault = this.#enter('mkdirp', dir);
    if (fault) this.#throw(fault, 'mkdirp', dir);
    return this.#inner.mkdirp(dir);
  }

  async unlink(file: string): Promise<void> {
    const fault = this.#enter('unlink', file);
    if (fault) this.#throw(fault, 'unlink', file);
    return this.#inner.unlink(file);
  }
}

/** Every file below `dir` with its bytes, leaving out the temp files a simulated crash left. */
export function filesWithoutStrays(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  for (const name of fs.readdirSync(dir, { recursive: true }) as string[]) {
    if (STRAY_TEMP.test(name) || name.includes('.lock')) continue;
    const full = path.join(dir, name);
    if (fs.statSync(full).isFile()) out[name] = fs.readFileSync(full).toString('base64');
  }
  return out;
}

/** The temp files a simulated crash left below `dir`. */
export function strayTemps(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((name) => STRAY_TEMP.test(name));
}
