import { NotFoundError } from '../storage/errors.js';
import { type Beat, FENCED, type RunBackend } from './run-backend.js';
import type { AnalysisRun } from './schemas.js';

/**
 * The in-memory twin of `FileRunBackend`, behind `AnalysisRunStore.inMemory()`: the same rules,
 * no disk. Everything runs on one thread, so a beat can never interleave with a completion; the
 * per-run lock still serialises the store's multi-step status changes.
 */
export class MemoryRunBackend implements RunBackend {
  readonly #active = new Map<string, AnalysisRun>();
  readonly #done = new Map<string, AnalysisRun>();
  readonly #locks = new Map<string, Promise<void>>();

  get(runId: string): AnalysisRun | undefined {
    return this.#done.get(runId) ?? this.#active.get(runId);
  }

  async lock(runId: string): Promise<() => Promise<void>> {
    const previous = this.#locks.get(runId) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.#locks.set(runId, tail);
    await previous;
    return async () => {
      release();
      if (this.#locks.get(runId) === tail) this.#locks.delete(runId);
    };
  }

  async create(run: AnalysisRun): Promise<void> {
    this.#active.set(run.runId, run);
  }

  async update(runId: string, build: (latest: AnalysisRun) => AnalysisRun): Promise<AnalysisRun> {
    const latest = this.#active.get(runId);
    if (!latest) throw new NotFoundError('run', runId);
    const next = build(latest);
    this.#active.set(runId, next);
    return next;
  }

  beat(runId: string, next: (current: AnalysisRun | undefined) => Beat): AnalysisRun | typeof FENCED {
    const current = this.#active.get(runId);
    const beat = next(this.get(runId));
    if (!current) return FENCED;
    const updated: AnalysisRun = Object.assign({}, current, beat);
    this.#active.set(runId, updated);
    return updated;
  }

  async restoreBeat(): Promise<void> {}

  async finish(runId: string, build: (latest: AnalysisRun) => AnalysisRun): Promise<AnalysisRun> {
    const latest = this.#active.get(runId);
    if (!latest) throw new NotFoundError('run', runId);
    const final = build(latest);
    this.#done.set(runId, final);
    this.#active.delete(runId);
    return final;
  }

  async remove(runId: string): Promise<void> {
    this.#done.delete(runId);
    this.#active.delete(runId);
  }

  listActive(): AnalysisRun[] {
    return [...this.#active.values()];
  }

  listDone(): AnalysisRun[] {
    return [...this.#done.values()];
  }

  leftovers(): string[] {
    return [];
  }

  async tidy(): Promise<void> {}

  async close(): Promise<void> {}
}
