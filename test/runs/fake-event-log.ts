import type { RunEventSink } from '../../src/runs/index.js';
import { SealedLogError } from '../../src/storage/errors.js';

/** One event as the fake keeps it. */
export interface FakeEvent {
  runId: string;
  cursor: number;
  type: string;
  payload: unknown;
  at: number;
}

const TERMINAL = new Set(['analysis_completed', 'error', 'end']);

/** An in-memory event log with the semantics the run store relies on: cursors 1, 2, 3…, sealed by a terminal event. */
export class FakeEventLog implements RunEventSink {
  readonly logs = new Map<string, FakeEvent[]>();
  /** Called on every append, before it is stored: lets a test look at the run at that moment. */
  onAppend: ((runId: string, type: string) => void | Promise<void>) | undefined;

  constructor(readonly clock: () => number = () => 0) {}

  async append(runId: string, event: { type: string; payload?: unknown }): Promise<FakeEvent> {
    await this.onAppend?.(runId, event.type);
    if (await this.isSealed(runId)) throw new SealedLogError(runId);
    const log = this.logs.get(runId) ?? [];
    const stored = {
      runId,
      cursor: log.length + 1,
      type: event.type,
      payload: event.payload ?? null,
      at: this.clock(),
    };
    log.push(stored);
    this.logs.set(runId, log);
    return stored;
  }

  async isSealed(runId: string): Promise<boolean> {
    const last = this.logs.get(runId)?.at(-1);
    return last !== undefined && TERMINAL.has(last.type);
  }

  async lastCursor(runId: string): Promise<number> {
    return this.logs.get(runId)?.length ?? 0;
  }

  async *read(runId: string, options: { after?: number; limit?: number } = {}): AsyncIterable<FakeEvent> {
    const events = (this.logs.get(runId) ?? []).filter((event) => event.cursor > (options.after ?? 0));
    yield* events.slice(0, options.limit ?? events.length);
  }

  async delete(runId: string): Promise<void> {
    this.logs.delete(runId);
  }

  types(runId: string): string[] {
    return (this.logs.get(runId) ?? []).map((event) => event.type);
  }
}
