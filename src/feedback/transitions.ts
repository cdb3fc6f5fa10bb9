import type { PipelineStage } from './schemas.js';

/** Where each stage may go next. `merged` and `rejected` are terminal. */
export const PIPELINE_TRANSITIONS: Readonly<Record<PipelineStage, readonly PipelineStage[]>> = {
  feedback: ['case_draft', 'rejected'],
  case_draft: ['skill_draft', 'rejected'],
  skill_draft: ['reviewed', 'rejected'],
  reviewed: ['merged', 'rejected'],
  merged: [],
  rejected: [],
};

/** True when the transition table allows `from` → `to`. */
export function canAdvance(from: PipelineStage, to: PipelineStage): boolean {
  return PIPELINE_TRANSITIONS[from].includes(to);
}

/** Why a move is refused, for the error message: what the entry could do instead. */
export function transitionHint(from: PipelineStage): string {
  const next = PIPELINE_TRANSITIONS[from];
  return next.length
    ? `from '${from}' the next stage is ${next.map((s) => `'${s}'`).join(' or ')}`
    : `'${from}' is terminal`;
}
