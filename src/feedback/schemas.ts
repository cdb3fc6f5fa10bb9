import { z } from 'zod';

/** Epoch milliseconds (or a monotonic stamp derived from them). */
const EpochMs = z.number().finite().nonnegative();

/** A non-blank id of up to 256 characters (it names no file). */
const NonBlankId = z.string().min(1).max(256).regex(/\S/, { error: 'must not be blank' });

/** An entry id of the pipeline. */
export const PipelineEntryIdSchema = NonBlankId;

/** The stages an entry goes through: feedback → case_draft → skill_draft → reviewed → merged, or rejected. */
export const PipelineStageSchema = z.enum(['feedback', 'case_draft', 'skill_draft', 'reviewed', 'merged', 'rejected']);
export type PipelineStage = z.infer<typeof PipelineStageSchema>;

/** A non-blank reviewer name, stored trimmed. */
export const ReviewerNameSchema = z.string().trim().min(1, { error: 'reviewer must not be blank' });

/** The evaluation case drafted from the feedback. */
export const PipelineCaseSchema = z.object({
  caseId: NonBlankId,
  status: z.enum(['draft', 'reviewed', 'published', 'private']).optional(),
  citationReason: z.string().optional(),
});
export type PipelineCase = z.infer<typeof PipelineCaseSchema>;

/**
 * One row of an entry's history: the stage it reached, when (`at` is the entry's `updatedAt` of that
 * move, so rows are strictly increasing too), and who reviewed it when a reviewer was given.
 */
export const PipelineHistoryRowSchema = z.object({
  stage: PipelineStageSchema,
  at: EpochMs,
  reviewer: ReviewerNameSchema.optional(),
});
export type PipelineHistoryRow = z.infer<typeof PipelineHistoryRowSchema>;

/**
 * A piece of user feedback on its way to a merged skill (or its rejection).
 *
 * `history` has a row for every stage the entry reached through agent-stores, oldest first. An
 * entry taken over from a file of the implementation agent-stores replaces (which kept no history)
 * starts with an empty history: its `stage`, `reviewer` and `updatedAt` are on the entry itself,
 * and the rows begin with its next move; no stage time or reviewer is made up.
 */
export const FeedbackPipelineEntrySchema = z.object({
  entryId: PipelineEntryIdSchema,
  feedbackId: NonBlankId,
  stage: PipelineStageSchema,
  case: PipelineCaseSchema.optional(),
  skillDraftId: NonBlankId.optional(),
  /** The latest reviewer named on the way. */
  reviewer: ReviewerNameSchema.optional(),
  /** Strictly greater than every `updatedAt` the file has held before. */
  updatedAt: EpochMs,
  history: z.array(PipelineHistoryRowSchema),
});
export type FeedbackPipelineEntry = z.infer<typeof FeedbackPipelineEntrySchema>;

/** What {@link FeedbackPipeline.create} takes. */
export const PipelineCreateInputSchema = z.object({
  entryId: PipelineEntryIdSchema,
  feedbackId: NonBlankId,
});
export type PipelineCreateInput = z.input<typeof PipelineCreateInputSchema>;

/** Stages that a person must sign: moving to them needs a `reviewer`. */
export const REVIEWED_STAGES: readonly PipelineStage[] = ['reviewed', 'merged', 'rejected'];

/**
 * What {@link FeedbackPipeline.advance} takes: the target stage, the reviewer (required, non-blank,
 * for `reviewed`, `merged` and `rejected`), and optionally a new `case` or `skillDraftId`.
 */
export const PipelineAdvanceInputSchema = z
  .object({
    stage: PipelineStageSchema,
    reviewer: ReviewerNameSchema.optional(),
    case: PipelineCaseSchema.optional(),
    skillDraftId: NonBlankId.optional(),
  })
  .superRefine((input, ctx) => {
    if (REVIEWED_STAGES.includes(input.stage) && input.reviewer === undefined) {
      ctx.addIssue({ code: 'custom', path: ['reviewer'], message: `moving to '${input.stage}' needs a reviewer` });
    }
  });
export type PipelineAdvanceInput = z.input<typeof PipelineAdvanceInputSchema>;

/** Filter of {@link FeedbackPipeline.list}. */
export const PipelineListQuerySchema = z.object({ stage: PipelineStageSchema.optional() });
export type PipelineListQuery = z.input<typeof PipelineListQuerySchema>;

/** The pipeline file's `meta`: the highest `updatedAt` ever issued, re-read under the lock on every write. */
export const PipelineMetaSchema = z.object({ highWater: EpochMs });
export type PipelineMeta = z.infer<typeof PipelineMetaSchema>;

/** Entries per stage, as returned by {@link FeedbackPipeline.stats}; every stage is present. */
export type PipelineStats = Record<PipelineStage, number>;
