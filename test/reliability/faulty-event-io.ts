import * as path from 'node:path';
import { writeFully } from '../../src/events/event-log-io.js';
import type { EventFileHandle, EventLogIO } from '../../src/events/index.js';
import { nodeEventLogIO } from '../../src/testing.js';
import { errnoError, type FaultInjector, type FaultKind, type IOCall, SimulatedCrash } from './faulty-io.js';

/** `log` for a run's NDJSON file, `idx` for its index, the base name otherwise. */
function role(file: string): string {
  if (file.endsWith('.ndjson')) return 'log';
  if (file.endsWith('.idx')) return 'idx';
  return path.basename(file);
}

/**
 * What a disk does to a write besides failing it, silently: `short` takes part of the bytes and
 * says so (the caller must write the rest), `zero` stores a range of them as zeros (a block lost
 * in a crash reads back as zeros), `flip` changes one bit of them (bit rot, a bad cable). The
 * write reports success in each case.
 */
export type SilentFault = 'short' | 'zero' | 'flip';

export const SILENT_FAULTS: readonly SilentFault[] = ['short', 'zero', 'flip'];

/** A fault this seam can inject. */
export type EventFaultKind = FaultKind | SilentFault;

/**
 * An {@link EventLogIO} that forwards to the real one, records every call (of the seam and of
 * the file handles it opened, named like `log.write`, `idx.write`, `log.datasync`) and fails the
 * n-th call from now when armed.
 *
 * A `crash` is a process dying: a `write` it hits puts the first half of its bytes on disk (a torn
 * line) and throws, and every later call fails too until {@link FaultyEventLogIO.heal}, so the
 * code cannot clean up after itself as it could after an errno. What is left is what a reopened
 * log must repair. `ENOSPC` on a write behaves as a kernel does when the disk fills: the write
 * takes what fits and returns that short count, and the next write to the file fails with ENOSPC.
 * The {@link SilentFault}s change what a write stores without an error.
 */
export class FaultyEventLogIO implements EventLogIO, FaultInjector {
  readonly #inner: EventLogIO;
  readonly #armed: { at: number; kind: EventFaultKind }[] = [];
  #dead = false;
  readonly calls: IOCall[] = [];
  readonly fired: (IOCall & { kind: FaultKind })[] = [];

  constructor(inner: EventLogIO = nodeEventLogIO) {
    this.#inner = inner;
  }

  get count(): number {
    return this.calls.length;
  }

  failAt(offset: number, kind: EventFaultKind): this {
    this.#armed.push({ at: this.calls.length + offset, kind });
    return this;
  }

  heal(): this {
    this.#armed.length = 0;
    this.#dead = false;
    return this;
  }

  /** Records the call; returns the fault to inject, if any. */
  enter(step: string, file: string): EventFaultKind | undefined {
    const seq = this.calls.length;
    this.calls.push({ step, file });
    if (this.#dead) throw new SimulatedCrash(`${step} (after the crash)`, file);
    const index = this.#armed.findIndex((fault) => fault.at === seq);
    if (index < 0) return undefined;
    const kind = this.#armed[index]!.kind;
    this.#armed.splice(index, 1);
    // The sweep only counts what fired; a silent fault is recorded under its own name.
    this.fired.push({ step, file, kind: kind as FaultKind });
    if (kind === 'crash') this.#dead = true;
    return kind;
  }

  fail(kind: EventFaultKind, step: string, file: string): never {
    if (kind === 'crash') throw new SimulatedCrash(step, file);
    throw errnoError(kind, step, file);
  }

  #guard(step: string, file: string): void {
    const fault = this.enter(step, file);
    if (fault) this.fail(fault, step, file);
  }

  open(file: string, mode: 'read' | 'write' | 'create'): EventFileHandle | undefined {
    this.#guard(`open-${mode}`, file);
    const handle = this.#inner.open(file, mode);
    return handle && new FaultyHandle(handle, this);
  }

  exists(file: string): boolean {
    this.#guard('exists', file);
    return this.#inner.exists(file);
  }

  remove(file: string): void {
    this.#guard('remove', file);
    this.#inner.remove(file);
  }

  mkdirp(dir: string): void {
    this.#guard('mkdirp', dir);
    this.#inner.mkdirp(dir);
  }

  list(dir: string): string[] {
    this.#guard('list', dir);
    return this.#inner.list(dir);
  }

  syncDir(dir: string): void {
    this.#guard('syncDir', dir);
    this.#inner.syncDir(dir);
  }
}

class FaultyHandle implements EventFileHandle {
  /** The disk filled during a write: the next write fails with ENOSPC. */
  #full = false;

  constructor(
    readonly inner: EventFileHandle,
    readonly io: FaultyEventLogIO,
  ) {}

  get file(): string {
    return this.inner.file;
  }

  #guard(op: string): void {
    const step = `${role(this.inner.file)}.${op}`;
    const fault = this.io.enter(step, this.inner.file);
    if (fault) this.io.fail(fault, step, this.inner.file);
  }

  size(): number {
    this.#guard('size');
    return this.inner.size();
  }

  read(buffer: Buffer, offset: number, length: number, position: number): number {
    this.#guard('read');
    return this.inner.read(buffer, offset, length, position);
  }

  write(buffer: Buffer, offset: number, length: number, position: number): number {
    const step = `${role(this.inner.file)}.write`;
    const fault = this.io.enter(step, this.inner.file);
    const half = Math.floor(length / 2);
    if (this.#full && fault === undefined) {
      this.#full = false;
      this.io.fail('ENOSPC', step, this.inner.file);
    }
    if ((fault === 'ENOSPC' || fault === 'short') && half > 0) {
      // A disk that fills takes what fits and says how much; ENOSPC comes with the next write.
      if (fault === 'ENOSPC') this.#full = true;
      return writeAll(this.inner, buffer, offset, half, position);
    }
    if (fault === 'crash' && half > 0) writeAll(this.inner, buffer, offset, half, position);
    if (fault === 'zero' || fault === 'flip') {
      const stored = Buffer.from(buffer.subarray(offset, offset + length));
      if (fault === 'zero') stored.fill(0, Math.floor(length / 4), Math.max(half, Math.floor(length / 4) + 1));
      else stored[half]! ^= 0x10;
      return writeAll(this.inner, stored, 0, length, position);
    }
    if (fault && fault !== 'short') this.io.fail(fault, step, this.inner.file);
    return writeAll(this.inner, buffer, offset, length, position);
  }

  datasync(): void {
    this.#guard('datasync');
    this.inner.datasync();
  }

  truncate(length: number): void {
    this.#guard('truncate');
    this.inner.truncate(length);
  }

  close(): void {
    // Closing never fails the caller's operation (handles are closed in cleanup paths), but a
    // dead process closes nothing: the descriptor would be released by the kernel anyway.
    this.inner.close();
  }
}

/** Writes every byte through the real handle (which may itself write short) and returns the count. */
function writeAll(handle: EventFileHandle, buffer: Buffer, offset: number, length: number, position: number): number {
  writeFully(handle, buffer, offset, length, position);
  return length;
}
