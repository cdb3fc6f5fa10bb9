import type { AgentEvent, EventLogVerifyReport } from './agent-event.js';
import type { EventBackend, PreparedEvent, RunTail } from './event-backend.js';
import { parseLine } from './line-scanner.js';

interface MemoryRun {
  /** The stored lines, so reads return fresh parsed copies exactly as the file backend does. */
  lines: string[];
  lastType: string | undefined;
}

/** The in-memory twin of the file backend, behind `AgentEventLog.inMemory()`: same rules, no disk. */
export class MemoryEventBackend implements EventBackend {
  readonly #runs = new Map<string, MemoryRun>();

  constructor(readonly terminalTypes: ReadonlySet<string>) {}

  async openForAppend(runId: string): Promise<RunTail> {
    let run = this.#runs.get(runId);
    if (!run) this.#runs.set(runId, (run = { lines: [], lastType: undefined }));
    return { lastCursor: run.lines.length, lastType: run.lastType };
  }

  write(runId: string, events: readonly PreparedEvent[]): void {
    const run = this.#runs.get(runId);
    if (!run) throw new Error(`run '${runId}' is not open`);
    for (const event of events) run.lines.push(`{"cursor":${event.cursor}${event.tail}`);
    run.lastType = parseLine(run.lines[run.lines.length - 1]!)?.type;
  }

  async closeRun(): Promise<void> {}

  *read(runId: string, after: number, limit: number): Iterable<AgentEvent> {
    const run = this.#runs.get(runId);
    if (!run) return;
    const end = Math.min(run.lines.length, after + limit);
    for (let i = after; i < end; i++) {
      const line = parseLine(run.lines[i]!)!;
      yield { runId, cursor: line.cursor, type: line.type, at: line.at, payload: line.payload };
    }
  }

  tail(runId: string): RunTail | undefined {
    const run = this.#runs.get(runId);
    return run && { lastCursor: run.lines.length, lastType: run.lastType };
  }

  exists(runId: string): boolean {
    return this.#runs.has(runId);
  }

  watch(): () => void {
    // Only this process can append to memory; the log notifies its followers directly.
    return () => {};
  }

  runIds(): string[] {
    return [...this.#runs.keys()].sort();
  }

  async delete(runId: string): Promise<boolean> {
    return this.#runs.delete(runId);
  }

  async verify(runId: string): Promise<EventLogVerifyReport> {
    const run = this.#runs.get(runId);
    const lastCursor = run?.lines.length ?? 0;
    return {
      runId,
      exists: run !== undefined,
      events: lastCursor,
      lastCursor,
      sealed: run?.lastType !== undefined && this.terminalTypes.has(run.lastType),
      logBytes: run?.lines.reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0) ?? 0,
      tornTailBytes: 0,
      indexProblems: [],
      repaired: false,
      ok: true,
    };
  }

  async close(): Promise<void> {}
}
