/** The stages a soak worker walks a pipeline entry through, in order. */
export const PIPELINE_PATH = ['feedback', 'case_draft', 'skill_draft', 'reviewed', 'merged'] as const;

/** The terminal event each terminal run status is announced by. */
export const TERMINAL_OF: Record<string, string> = {
  completed: 'analysis_completed',
  failed: 'error',
  cancelled: 'end',
};

/** One line of a worker's ack file: something a store acknowledged (or refused, or repaired). */
export type Ack =
  | { op: 'started' | 'stopped'; worker: number; incarnation: number; pid?: number }
  | { op: 'run-created' | 'run-started'; runId: string }
  | { op: 'event'; runId: string; cursor: number; type: string; seq: number }
  | { op: 'beat'; runId: string; at: number }
  | { op: 'run-finished'; runId: string; status: string; type: string }
  | { op: 'mem-saved'; entryId: string; insight: string }
  | { op: 'mem-recalled'; count: number }
  | { op: 'mem-feedback'; entryId: string; status: string }
  | { op: 'mem-promoted' | 'mem-removing' | 'mem-removed'; entryId: string }
  | { op: 'pipe-created'; entryId: string }
  | { op: 'pipe-advanced'; entryId: string; stage: string }
  | { op: 'cleanup'; abandoned: string[] }
  | { op: 'followed'; runId: string; upTo: number; gap: boolean; seen?: number[] }
  | { op: 'repair'; code: string; runId?: string }
  | { op: 'error'; what: string; code: string; runId?: string };

/** A small seeded generator (mulberry32): the same seed makes the same choices. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
