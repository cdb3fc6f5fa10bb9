// A minimal in-memory event source for the SSE helper's unit tests: the shape of AgentEventLog's
// read side, with a record of how follow() was called and whether it was released.
import { EventEmitter } from 'node:events';
import type { RunEventSource, StreamableEvent } from '../../src/sse/index.js';

const TERMINAL = new Set(['analysis_completed', 'error', 'end']);

export class MemoryEventSource implements RunEventSource {
  readonly logs = new Map<string, StreamableEvent[]>();
  readonly calls: string[] = [];
  activeFollows = 0;
  readonly #appended = new EventEmitter();

  append(runId: string, type: string, payload: unknown): StreamableEvent {
    const log = this.logs.get(runId) ?? [];
    this.logs.set(runId, log);
    const event = { cursor: log.length + 1, type, payload };
    log.push(event);
    this.#appended.emit(runId);
    return event;
  }

  async lastCursor(runId: string): Promise<number> {
    this.calls.push(`lastCursor ${runId}`);
    return this.logs.get(runId)?.length ?? 0;
  }

  async isSealed(runId: string): Promise<boolean> {
    this.calls.push(`isSealed ${runId}`);
    const last = this.logs.get(runId)?.at(-1);
    return last !== undefined && TERMINAL.has(last.type);
  }

  async runIds(): Promise<string[]> {
    this.calls.push('runIds');
    return [...this.logs.keys()];
  }

  async *follow(runId: string, options: { after?: number; signal?: AbortSignal } = {}): AsyncIterable<StreamableEvent> {
    this.calls.push(`follow ${runId} after ${options.after ?? 0}`);
    this.activeFollows += 1;
    let next = (options.after ?? 0) + 1;
    try {
      while (!options.signal?.aborted) {
        const event = this.logs.get(runId)?.[next - 1];
        if (event) {
          yield event;
          next += 1;
          if (TERMINAL.has(event.type)) return;
          continue;
        }
        await new Promise<void>((resolve) => {
          const done = () => {
            this.#appended.off(runId, done);
            options.signal?.removeEventListener('abort', done);
            resolve();
          };
          this.#appended.on(runId, done);
          options.signal?.addEventListener('abort', done);
        });
      }
    } finally {
      this.activeFollows -= 1;
    }
  }
}

/** The read side of AnalysisRunStore the SSE helper uses: a run's status, or undefined. */
export class MemoryRunSource {
  readonly #runs: Map<string, string>;

  constructor(statuses: Record<string, string> = {}) {
    this.#runs = new Map(Object.entries(statuses));
  }

  async get(runId: string): Promise<{ runId: string; status: string } | undefined> {
    const status = this.#runs.get(runId);
    return status === undefined ? undefined : { runId, status };
  }
}
