import { expect } from 'vitest';
import { CorruptStoreError, StoreError } from '../../src/storage/index.js';
import { tempDir } from '../helpers/tmp.js';
import {
  DAMAGE_KINDS,
  FAULT_KINDS,
  type FaultInjector,
  type FaultKind,
  filesWithoutStrays,
  type IOCall,
  isDamage,
  WRITE_FAULT_KINDS,
} from './faulty-io.js';

/**
 * One operation of one store, described so that {@link sweepFaults} can replay it with a fault at
 * every step of its write path. Everything must be deterministic (inject a clock, give ids), so
 * that a fresh root prepared the same way makes the same calls.
 */
export interface FaultCase<S, T, I extends FaultInjector = FaultInjector> {
  /** Brings a fresh root to the starting state, with the real file system. */
  prepare(root: string): Promise<void>;
  /** Opens the store on `root` over `io` (the only file access the test controls). */
  open(root: string, io: I): S | Promise<S>;
  /** A fresh fault-injecting seam over the real file system. */
  injector(): I;
  /** The operation under test. */
  run(store: S): Promise<unknown>;
  /** Everything a user can see of the store, in a form `toEqual` compares. */
  observe(store: S): Promise<T>;
  /** A different, small operation that must succeed once the disk works again. */
  probe(store: S): Promise<unknown>;
  close?(store: S): Promise<void> | void;
  /**
   * Steps after which the change is already committed (the final rename): a fault there may
   * reject the operation although the change persisted ("in doubt"). Anywhere else a rejected
   * operation must leave the state as it was. `'*'`: the commit point lies outside the traced
   * seam (another store's write), so any step may be in doubt.
   */
  committedAfter?: readonly IOCall['step'][];
  /**
   * States other than before and after that a fault of `kind` may leave: a prefix of a group
   * commit torn by a crash in an append-only log (each event complete, none acknowledged), or an
   * operation over several records that is atomic per record only.
   */
  partial?(seen: T, before: T, after: T, kind: FaultKind): boolean;
  /**
   * The store checks its file's bytes (a checksum): sweep {@link DAMAGE_KINDS} at every
   * `writeAtomic` too, and require a fresh store to refuse the damaged file with
   * CorruptStoreError (or, where the damage missed every byte that matters, to show the new state).
   */
  detectsDamage?: boolean;
}

/** What one injected fault did. */
export interface FaultOutcome {
  index: number;
  step: IOCall['step'];
  file: string;
  kind: FaultKind;
  /**
   * `unchanged`: rejected, old state; `in-doubt`: rejected but the change persisted; `absorbed`:
   * resolved; `detected`: the disk damaged the bytes and a fresh store refused them (CORRUPT).
   */
  result: 'unchanged' | 'in-doubt' | 'absorbed' | 'not-reached' | 'detected';
  /** The files were byte-for-byte as before (ignoring stray temp files and lock dirs). */
  bytesUnchanged: boolean;
  errorCode?: string;
}

const ERRNO_KINDS: readonly FaultKind[] = ['ENOSPC', 'EIO', 'EACCES'];

/**
 * Every step gets a crash and one errno fault, the errno rotating over the steps (the store
 * handles ENOSPC, EIO and EACCES alike, and this halves the suite's time); a file write also gets
 * a short write. `FAULTS_ALL=1`: every kind at every step.
 */
function defaultKinds(index: number, call: IOCall): readonly FaultKind[] {
  const writes = call.step === 'writeAtomic' ? WRITE_FAULT_KINDS : [];
  if (process.env.FAULTS_ALL) return [...FAULT_KINDS, ...writes];
  return [ERRNO_KINDS[index % ERRNO_KINDS.length]!, 'crash', ...writes];
}

async function settle(promise: Promise<unknown>): Promise<{ ok: true } | { ok: false; error: unknown }> {
  try {
    await promise;
    return { ok: true };
  } catch (error) {
    return { ok: false, error };
  }
}

/**
 * Records the calls `run` makes on a clean root, then for each call and each fault kind replays
 * the operation on a fresh root with that call failing, and checks the promises of the contract:
 * the operation rejects with a typed {@link StoreError}; a reopened store shows the state before
 * or (only once the change was committed) after, never anything else; the same store instance
 * works again once the fault is gone. Returns what each fault did, for the report.
 */
export async function sweepFaults<S, T, I extends FaultInjector>(
  c: FaultCase<S, T, I>,
  kindsAt: (index: number, call: IOCall) => readonly FaultKind[] = defaultKinds,
): Promise<FaultOutcome[]> {
  // Dry run: the trace of calls, and the states before and after.
  const root0 = tempDir('agent-stores-fault-');
  await c.prepare(root0);
  const probeIO = c.injector();
  const first = await c.open(root0, probeIO);
  const before = await c.observe(first);
  const mark = probeIO.count;
  await c.run(first);
  const trace = probeIO.calls.slice(mark);
  await c.close?.(first);
  const reopened = await c.open(root0, c.injector());
  const after = await c.observe(reopened);
  await c.close?.(reopened);
  expect(trace.length, 'the operation touches the disk through the seam').toBeGreaterThan(0);

  const outcomes: FaultOutcome[] = [];
  for (const [index, call] of trace.entries()) {
    const damage = c.detectsDamage && call.step === 'writeAtomic' ? DAMAGE_KINDS : [];
    for (const kind of [...kindsAt(index, call), ...damage]) {
      const where = `fault ${kind} at step ${index} (${call.step} ${call.file})`;
      const root = tempDir('agent-stores-fault-');
      await c.prepare(root);
      const io = c.injector();
      const store = await c.open(root, io);
      await c.observe(store);
      const filesBefore = filesWithoutStrays(root);
      io.failAt(index, kind);
      const outcome = await settle(c.run(store));
      const fired = io.fired.length > 0;
      io.heal();

      if (isDamage(kind)) {
        // Every call reported success, so the operation may resolve; what matters is what a
        // reader makes of the bytes: refused as corrupt, or (damage that missed) the new state.
        const fresh = await c.open(root, c.injector());
        const read = await settle(c.observe(fresh));
        await c.close?.(fresh);
        const refused = !read.ok && read.error instanceof CorruptStoreError;
        let intact = false;
        if (read.ok) intact = isDeepEqual(await c.observe(await c.open(root, c.injector())), after);
        expect(refused || intact, `${where}: damaged bytes were served as data`).toBe(true);
        if (!read.ok && !refused) throw read.error;
        await c.close?.(store);
        outcomes.push({
          index,
          step: call.step,
          file: call.file,
          kind,
          result: refused ? 'detected' : outcome.ok ? 'absorbed' : 'unchanged',
          bytesUnchanged: false,
          ...(refused ? { errorCode: 'CORRUPT' } : {}),
        });
        continue;
      }

      // A fresh process opening the root sees all or nothing of the change.
      const fresh = await c.open(root, c.injector());
      const seen = await c.observe(fresh);
      await c.close?.(fresh);
      const isBefore = isDeepEqual(seen, before);
      const isAfter = isDeepEqual(seen, after);
      const isPartial = !isBefore && !isAfter && (c.partial?.(seen, before, after, kind) ?? false);
      expect(isBefore || isAfter || isPartial, `${where}: reopened state is neither the old nor the new one`).toBe(
        true,
      );

      let result: FaultOutcome['result'];
      let errorCode: string | undefined;
      if (!fired) result = 'not-reached';
      else if (outcome.ok) {
        result = 'absorbed';
        expect(isAfter, `${where}: the operation resolved, so its change must be there`).toBe(true);
      } else {
        expect(outcome.error, `${where}: rejects with a typed StoreError`).toBeInstanceOf(StoreError);
        errorCode = (outcome.error as StoreError).code;
        result = isBefore ? 'unchanged' : 'in-doubt';
        if (result === 'in-doubt') {
          // A crash tears the step it hits, so part of that step may have landed too.
          const landed = trace.slice(0, kind === 'crash' ? index + 1 : index);
          expect(
            c.committedAfter?.includes('*') || landed.some((prior) => c.committedAfter?.includes(prior.step)),
            `${where}: a rejected operation persisted its change before its commit point`,
          ).toBe(true);
        }
      }
      const bytesUnchanged = isDeepEqual(filesWithoutStrays(root), filesBefore);

      // The same instance sees what a fresh one sees, and keeps working.
      expect(await c.observe(store), `${where}: the faulted instance shows the state on disk`).toEqual(seen);
      if (isBefore) {
        await c.run(store);
        expect(await c.observe(store), `${where}: the retried operation succeeds`).toEqual(after);
      }
      await c.probe(store);
      await c.close?.(store);
      outcomes.push({ index, step: call.step, file: call.file, kind, result, bytesUnchanged, errorCode });
    }
  }
  return outcomes;
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    expect(a).toEqual(b);
    return true;
  } catch {
    return false;
  }
}

/** A short table of outcomes, for a failing assertion's message or the docs. */
export function describeOutcomes(outcomes: readonly FaultOutcome[]): string {
  return outcomes
    .map(
      (o) =>
        `${o.index}\t${o.step}\t${o.kind}\t${o.result}\t${o.errorCode ?? '-'}\tbytes ${o.bytesUnchanged ? '=' : '≠'}`,
    )
    .join('\n');
}
