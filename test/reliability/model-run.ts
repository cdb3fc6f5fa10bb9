import fc from 'fast-check';
import { expect } from 'vitest';
import { StoreError } from '../../src/storage/index.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * What an operation did, in a form both the store and the model produce: a value, or the `code`
 * of the typed error it threw. Errors that are not {@link StoreError}s keep their name, so that a
 * store throwing a bare `TypeError` where the model expects a typed error shows up as a mismatch.
 */
export type Outcome = { ok: unknown } | { error: string };

/** Runs `f` and reports its {@link Outcome}. */
export async function outcomeOf(f: () => unknown): Promise<Outcome> {
  try {
    return { ok: await f() };
  } catch (error) {
    if (error instanceof StoreError) return { error: error.code };
    if (error instanceof ModelError) return { error: error.code };
    return { error: `untyped ${(error as Error)?.name}: ${(error as Error)?.message}` };
  }
}

/** What a model throws: only the code matters. */
export class ModelError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

/**
 * A model-based test of one store: `Op`s drawn at random are applied to the real store and to a
 * plain model of DESIGN.md's contract; results, errors (by code) and the observable state must
 * agree after every step and after reopening the store on the same files.
 */
export interface ModelSpec<Op, Real, Model> {
  /** The operations, drawn at random. */
  op: fc.Arbitrary<Op>;
  /** The real store: on `root` (file backend) or in memory when `root` is undefined. */
  open(root: string | undefined): Real | Promise<Real>;
  close?(real: Real): Promise<void> | void;
  model(): Model;
  /** Applies `op` to the real store; returns what the caller would compare. */
  run(op: Op, real: Real): Promise<unknown>;
  /** Applies `op` to the model; throws {@link ModelError} where the store must throw. */
  apply(op: Op, model: Model): unknown;
  /** Everything a user can see of the store. */
  observe(real: Real): Promise<unknown>;
  /** The same, computed from the model. */
  view(model: Model): unknown;
  /**
   * The operations that may be issued together without awaiting (to exercise group commit): only
   * writes, since a read issued alongside may legitimately see the state before or after them.
   * Omitted: no batches.
   */
  batchOp?: fc.Arbitrary<Op>;
  /** Overrides how a batch is drawn (say, operations on distinct records only). */
  batch?: fc.Arbitrary<Op[]>;
  /** @defaultValue 3 */
  maxBatch?: number;
}

/** How many runs, from the environment (`FC_RUNS`, `FC_FILE_RUNS`) or the given default. */
export function runsFromEnv(name: 'FC_RUNS' | 'FC_FILE_RUNS' | 'FC_PG_RUNS', fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

/** fast-check parameters: a failing seed and path are printed and can be replayed with `FC_SEED` / `FC_PATH`. */
export function checkParameters(numRuns: number): fc.Parameters<unknown> {
  const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
  const replayPath = process.env.FC_PATH;
  return {
    numRuns: seed !== undefined ? Math.max(numRuns, 1) : numRuns,
    ...(seed !== undefined ? { seed } : {}),
    ...(replayPath ? { path: replayPath } : {}),
    // endOnFailure keeps shrinking short on a slow file backend; the seed still replays the case.
    endOnFailure: false,
    verbose: 1,
  };
}

/** With `FC_STATS=1`: how often each operation kind ended in each outcome, to show the sequences reach the interesting cases. */
const tally = new Map<string, number>();
function count(op: unknown, outcome: Outcome): void {
  if (!process.env.FC_STATS) return;
  const kind = (op as { t?: string }).t ?? '?';
  const key = `${kind} → ${'error' in outcome ? outcome.error : 'ok'}`;
  tally.set(key, (tally.get(key) ?? 0) + 1);
}

/** Prints and clears the tally collected with `FC_STATS=1`. */
export function printTally(label: string): void {
  if (!process.env.FC_STATS) return;
  console.log(
    `${label}\n${[...tally]
      .sort()
      .map(([key, n]) => `  ${key}: ${n}`)
      .join('\n')}`,
  );
  tally.clear();
}

type Step<Op> = { kind: 'one'; op: Op } | { kind: 'batch'; ops: Op[] } | { kind: 'reopen' };

function steps<Op>(
  op: fc.Arbitrary<Op>,
  batch: fc.Arbitrary<Op[]> | undefined,
  file: boolean,
  maxLength: number,
): fc.Arbitrary<Step<Op>[]> {
  const options: fc.Arbitrary<Step<Op>>[] = [op.map((o) => ({ kind: 'one' as const, op: o }))];
  if (batch) options.push(batch.map((ops) => ({ kind: 'batch', ops })));
  const weighted: fc.WeightedArbitrary<Step<Op>>[] = options.map((arbitrary, i) => ({
    arbitrary,
    weight: i === 0 ? 6 : 2,
  }));
  if (file) weighted.push({ arbitrary: fc.constant({ kind: 'reopen' as const }), weight: 1 });
  return fc.array(fc.oneof(...weighted), { minLength: 1, maxLength });
}

/**
 * Runs `numRuns` random sequences against the store (`file`: a fresh temp root per sequence;
 * otherwise its in-memory twin) and the model. Fails with fast-check's report, which names the
 * seed and path to replay.
 */
export async function checkModel<Op, Real, Model>(
  spec: ModelSpec<Op, Real, Model>,
  options: {
    file: boolean;
    numRuns: number;
    maxLength?: number;
    /**
     * Where each sequence's store lives, in place of a fresh temp root: a database schema, say.
     * The store is reopened on it, as on files.
     */
    place?: () => string;
  },
): Promise<void> {
  const durable = options.file || options.place !== undefined;
  const maxLength = options.maxLength ?? 12;
  await fc.assert(
    fc.asyncProperty(
      steps(
        spec.op,
        spec.batch ??
          (spec.batchOp && (spec.maxBatch ?? 3) > 1
            ? fc.array(spec.batchOp, { minLength: 2, maxLength: spec.maxBatch ?? 3 })
            : undefined),
        durable,
        maxLength,
      ),
      async (sequence) => {
        const root = options.place ? options.place() : options.file ? tempDir('agent-stores-model-') : undefined;
        let real = await spec.open(root);
        const model = spec.model();
        try {
          for (const [index, step] of sequence.entries()) {
            const where = `step ${index} ${JSON.stringify(step)}`;
            if (step.kind === 'reopen') {
              await spec.close?.(real);
              real = await spec.open(root);
            } else if (step.kind === 'one') {
              const got = await outcomeOf(() => spec.run(step.op, real));
              const want = await outcomeOf(() => spec.apply(step.op, model));
              count(step.op, want);
              expect(got, where).toEqual(want);
            } else {
              // Issued together: the store may commit them as one batch, but in order.
              const got = await Promise.all(step.ops.map((op) => outcomeOf(() => spec.run(op, real))));
              const want: Outcome[] = [];
              for (const op of step.ops) {
                want.push(await outcomeOf(() => spec.apply(op, model)));
                count(op, want[want.length - 1] as Outcome);
              }
              expect(got, where).toEqual(want);
            }
            expect(await spec.observe(real), `${where}: state`).toEqual(spec.view(model));
          }
          if (root !== undefined) {
            await spec.close?.(real);
            real = await spec.open(root);
            expect(await spec.observe(real), 'state after reopening').toEqual(spec.view(model));
          }
        } finally {
          await spec.close?.(real);
        }
      },
    ),
    checkParameters(options.numRuns),
  );
  printTally(
    `model run (${options.place ? 'placed' : options.file ? 'file' : 'memory'}, ${options.numRuns} sequences)`,
  );
}
