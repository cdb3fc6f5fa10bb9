// The rules of the feedback pipeline as pure functions: the entry a create makes, the entry an
// advance makes (the transition table in transitions.ts decides whether it may), the order of
// list() and the counts of stats(). Every backend calls these, so the rules are written once.
import { ConflictError, IllegalTransitionError, NotFoundError } from '../storage/errors.js';
import { parseInput } from '../storage/validate.js';
import {
  type FeedbackPipelineEntry,
  FeedbackPipelineEntrySchema,
  type PipelineAdvanceInputSchema,
  PipelineEntryIdSchema,
  type PipelineHistoryRow,
  PipelineStageSchema,
  type PipelineStats,
} from './schemas.js';
import { canAdvance, transitionHint } from './transitions.js';

/** What `advance()` takes once validated (reviewer trimmed). */
export type AdvanceInput = ReturnType<typeof PipelineAdvanceInputSchema.parse>;

/**
 * An entry as a backend reads it back: one without `history` (an entry of the implementation
 * agent-stores replaces, which kept none) gets `[]`.
 */
export const StoredPipelineEntrySchema = FeedbackPipelineEntrySchema.extend({
  history: FeedbackPipelineEntrySchema.shape.history.default(() => []),
});

/** A deep copy by hand: `get()` is a hot path and this is several times faster than `structuredClone`. */
export function copyPipelineEntry(entry: FeedbackPipelineEntry): FeedbackPipelineEntry {
  const copy = { ...entry, history: entry.history.map((row) => ({ ...row })) };
  if (entry.case) copy.case = { ...entry.case };
  return copy;
}

/** A new entry at stage `feedback`, stamped `updatedAt`, with a history of that one stage. */
export function createdEntry(entryId: string, feedbackId: string, updatedAt: number): FeedbackPipelineEntry {
  return { entryId, feedbackId, stage: 'feedback', updatedAt, history: [{ stage: 'feedback', at: updatedAt }] };
}

/** The error for a create of an id that is taken. */
export function duplicateEntry(entryId: string): ConflictError {
  return new ConflictError(`pipeline entry '${entryId}' already exists; advance it, or pick another entryId`);
}

/** The error for an operation on an entry that is not there. */
export function pipelineEntryNotFound(entryId: string): NotFoundError {
  return new NotFoundError('pipeline entry', entryId);
}

/**
 * Checks that the transition table lets `entry` move to `input.stage`. Called before the move is
 * stamped, so that a refused move uses no stamp.
 * @throws IllegalTransitionError when it does not (terminal stages allow no move).
 */
export function checkAdvance(entry: FeedbackPipelineEntry, input: AdvanceInput): void {
  if (!canAdvance(entry.stage, input.stage)) {
    throw new IllegalTransitionError(entry.entryId, entry.stage, input.stage, transitionHint(entry.stage));
  }
}

/**
 * The entry after a move checked by {@link checkAdvance}, stamped `updatedAt`: a history row
 * `{ stage, at, reviewer? }` appended, the reviewer (trimmed) stored as the entry's latest, and a
 * `case` / `skillDraftId` given replacing the previous one (left out, the previous one is kept).
 */
export function advancedEntry(
  entry: FeedbackPipelineEntry,
  input: AdvanceInput,
  updatedAt: number,
): FeedbackPipelineEntry {
  const row: PipelineHistoryRow = { stage: input.stage, at: updatedAt };
  const next: FeedbackPipelineEntry = { ...entry, stage: input.stage, updatedAt, history: [...entry.history, row] };
  if (input.reviewer !== undefined) row.reviewer = next.reviewer = input.reviewer;
  if (input.case !== undefined) next.case = input.case;
  if (input.skillDraftId !== undefined) next.skillDraftId = input.skillDraftId;
  return next;
}

/** `list()`'s order: newest `updatedAt` first. */
export function newestFirst(a: FeedbackPipelineEntry, b: FeedbackPipelineEntry): number {
  return b.updatedAt - a.updatedAt;
}

/** How many entries are at each stage; every stage is present, with 0 when none. */
export function countByStage(stages: Iterable<{ stage: FeedbackPipelineEntry['stage'] }>): PipelineStats {
  const stats = Object.fromEntries(PipelineStageSchema.options.map((stage) => [stage, 0])) as PipelineStats;
  for (const { stage } of stages) stats[stage]++;
  return stats;
}

/** Cheap check on the hot path; zod only runs to explain a bad id. */
export function checkPipelineEntryId(entryId: unknown): asserts entryId is string {
  if (typeof entryId === 'string' && entryId.length > 0 && entryId.length <= 256 && /\S/.test(entryId)) return;
  parseInput(PipelineEntryIdSchema, entryId, 'entryId');
}
