import * as path from 'node:path';
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
 * An {@link EventLogIO} that forwards to the real one, records every call (of the seam and of
 * the file handles it opened, named like `log.write`, `idx.write`, `log.datasync`) and fails the
 * n-th call from now when armed.
 *
 * A `crash` is a process dying: a `write` it hits puts the first half of its bytes on disk (a torn
 * line) and throws, and every later call fails too until {@link FaultyEventLogIO.heal}, so the
 * code cannot clean up after itself as it could after an errno. What is left is what a reopened
 * log must repair.
 */
export class FaultyEventLogIO implements EventLogIO, FaultInjector {
  readonly #inner: EventLogIO;
  readonly #armed: { at: number; kind: FaultKind }[] = [];
  #dead = false;
  readonly calls: IOCall[] = [];
  readonly fired: (IOCall & { kind: FaultKind })[] = [];

  constructor(inner: EventLogIO = nodeEventLogIO) {
    this.#inner = inner;
  }

  get count(): number {
    return this.calls.length;
  }

  failAt(offset: number, kind: FaultKind): this {
    this.#armed.push({ at: this.calls.length + offset, kind });
    return this;
  }

  heal(): this {
    this.#armed.length = 0;
    this.#dead = false;
    return this;
  }

  /** Records the call; returns the fault to inject, if any. */
  enter(step: string, file: string): FaultKind | undefined {
    const seq = this.calls.length;
    this.calls.push({ step, file });
    if (this.#dead) throw new SimulatedCrash(`${step} (after the crash)`, file);
    const index = this.#armed.findIndex((fault) => fault.at === seq);
    if (index < 0) return undefined;
    const kind = this.#armed[index]!.kind;
    this.#armed.splice(index, 1);
    this.fired.push({ step, file, kind });
    if (kind === 'crash') this.#dead = true;
    return kind;
  }

  fail(kind: FaultKind, step: string, file: string): never {
    if (kind === 'crash') throw new SimulatedCrash(step, file);
    throw errnoError(kind, step, file);
  }

  #guard(step: string, file: string): void {
    const fault = this.enter(step, file);
    if (fault) this.fail(fault, step, file);
  }

  open(file: string, mode: 'read' | 'write'): EventFileHandle | undefined {
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

  write(buffer: Buffer, offset: number, length: number, position: number): void {
    const step = `${role(this.inner.file)}.write`;
    const fault = this.io.enter(step, this.inner.file);
    if (fault === 'crash' || fault === 'ENOSPC') {
      // A crash tears the write; a full disk takes what fits. Either way part of it is there.
      const half = Math.floor(length / 2);
      if (half > 0) this.inner.write(buffer, offset, half, position);
    }
    if (fault) this.io.fail(fault, step, this.inner.file);
    this.inner.write(buffer, offset, length, position);
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
