import { z } from 'zod';

/** Epoch milliseconds. Fractions are allowed so that any injected clock can be stored as is. */
const EpochMs = z.number().finite().nonnegative();

/** An entry id: any non-blank string up to 256 characters (it names no file). */
export const MemoryEntryIdSchema = z.string().min(1).max(256).regex(/\S/, { error: 'entryId must not be blank' });

/** Every scope a memory can be promoted between. Session memory is kept elsewhere, never in this store. */
export const MemoryScopeSchema = z.enum(['session', 'project', 'world']);
export type MemoryScope = z.infer<typeof MemoryScopeSchema>;

/** The scopes an entry of {@link ProjectMemoryEntrySchema} can have. */
export const StoredMemoryScopeSchema = z.enum(['project', 'world'], {
  error: "scope must be 'project' or 'world' (session memory is not kept in this store)",
});
export type StoredMemoryScope = z.infer<typeof StoredMemoryScopeSchema>;

/** The five states of the feedback machine (see `feedback-status.ts`). */
export const MemoryStatusSchema = z.enum(['provisional', 'confirmed', 'rejected', 'disputed', 'disputed_late']);
export type MemoryStatus = z.infer<typeof MemoryStatusSchema>;

/** What may justify a promotion. Anything else is refused. */
export const PromotionTriggerSchema = z.enum(['user_feedback', 'reviewer_approval', 'skill_eval_pass'], {
  error: "trigger must be one of 'user_feedback', 'reviewer_approval', 'skill_eval_pass'",
});
export type PromotionTrigger = z.infer<typeof PromotionTriggerSchema>;

/** A rating given to an entry by {@link ProjectMemoryStore.applyFeedback}. */
export const FeedbackRatingSchema = z.enum(['positive', 'negative']);
export type FeedbackRating = z.infer<typeof FeedbackRatingSchema>;

/** A non-blank name, stored trimmed. */
const ReviewerSchema = z.string().trim().min(1, { error: 'reviewer must not be blank' });

/** Where an insight came from: a skill step, an artifact, a query, a span of the trace. */
export const MemoryEvidenceSchema = z.object({
  skillId: z.string().optional(),
  stepId: z.string().optional(),
  artifactId: z.string().optional(),
  sql: z.string().optional(),
  externalRef: z.string().optional(),
  description: z.string().optional(),
  /** A time range of the analysed trace, in nanoseconds; `endNs` is not before `startNs`. */
  range: z
    .object({ startNs: z.number().finite().nonnegative(), endNs: z.number().finite().nonnegative() })
    .refine((range) => range.endNs >= range.startNs, { error: 'range.endNs must not be before range.startNs' })
    .optional(),
});
export type MemoryEvidence = z.infer<typeof MemoryEvidenceSchema>;

const PolicyShape = {
  fromScope: MemoryScopeSchema,
  toScope: MemoryScopeSchema,
  trigger: PromotionTriggerSchema,
  reviewer: ReviewerSchema.optional(),
  promotedAt: EpochMs,
  evalCaseId: z.string().min(1).optional(),
};

/** Why and by whom an entry was promoted, as stored on the entry and in the audit log. */
export const MemoryPromotionPolicySchema = z.object(PolicyShape);
export type MemoryPromotionPolicy = z.infer<typeof MemoryPromotionPolicySchema>;

/**
 * The policy passed to {@link ProjectMemoryStore.promote}: `promotedAt` may be left out (the
 * store's clock fills it in), and the promotion rules are checked:
 * - `toScope: 'session'` is refused (session memory lives elsewhere);
 * - `toScope: 'world'` needs the trigger `reviewer_approval`;
 * - `reviewer_approval` needs a `reviewer`; `skill_eval_pass` needs an `evalCaseId`.
 */
export const MemoryPromotionRequestSchema = z
  .object({ ...PolicyShape, promotedAt: EpochMs.optional() })
  .superRefine((policy, ctx) => {
    if (policy.toScope === 'session') {
      ctx.addIssue({
        code: 'custom',
        path: ['toScope'],
        message: "toScope 'session' is refused: session memory lives elsewhere",
      });
    }
    if (policy.toScope === 'world' && policy.trigger !== 'reviewer_approval') {
      ctx.addIssue({
        code: 'custom',
        path: ['trigger'],
        message: "promotion to 'world' needs the trigger 'reviewer_approval'",
      });
    }
    if (policy.trigger === 'reviewer_approval' && policy.reviewer === undefined) {
      ctx.addIssue({ code: 'custom', path: ['reviewer'], message: "the trigger 'reviewer_approval' needs a reviewer" });
    }
    if (policy.trigger === 'skill_eval_pass' && policy.evalCaseId === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['evalCaseId'],
        message: "the trigger 'skill_eval_pass' needs an evalCaseId",
      });
    }
  });
export type MemoryPromotionRequest = z.input<typeof MemoryPromotionRequestSchema>;

const EntryShape = {
  entryId: MemoryEntryIdSchema,
  scope: StoredMemoryScopeSchema,
  projectKey: z.string().min(1).optional(),
  tags: z.array(z.string().min(1)),
  insight: z.string().min(1),
  confidence: z.number().min(0).max(1),
  status: MemoryStatusSchema,
  promotionLevel: z.number().int().nonnegative().optional(),
  promotionPolicy: MemoryPromotionPolicySchema.optional(),
  evidence: z.array(MemoryEvidenceSchema).optional(),
  createdAt: EpochMs,
  lastSeenAt: EpochMs.optional(),
  firstFeedbackAt: EpochMs.optional(),
  lastFeedbackAt: EpochMs.optional(),
  unsupportedReason: z.string().min(1).optional(),
};

/**
 * A world entry got there by a recorded promotion. (A `project` entry may leave out its
 * `projectKey`, as the implementation agent-stores replaces allows: `recall({ projectKey })` and
 * `list({ projectKey })` then never match it.)
 */
function checkScopeRules(entry: { scope: string; promotionPolicy?: unknown }, ctx: z.RefinementCtx) {
  if (entry.scope === 'world' && entry.promotionPolicy === undefined) {
    ctx.addIssue({ code: 'custom', path: ['promotionPolicy'], message: "a 'world' entry needs a promotionPolicy" });
  }
}

/**
 * A project- or world-scope memory: an insight with its tags, confidence, evidence, feedback
 * status and promotion record. A `world` entry needs a `promotionPolicy`; `projectKey` is
 * optional (an entry without one matches no `projectKey` filter).
 */
export const ProjectMemoryEntrySchema = z.object(EntryShape).superRefine(checkScopeRules);
export type ProjectMemoryEntry = z.infer<typeof ProjectMemoryEntrySchema>;

/**
 * What {@link ProjectMemoryStore.save} accepts: a {@link ProjectMemoryEntry} whose `tags` default
 * to `[]`, and whose `status` and `createdAt` may be left out (the store fills them in: for a new
 * entry `provisional` and its clock's time, for an existing one the stored values).
 */
export const ProjectMemoryInputSchema = z
  .object({
    ...EntryShape,
    tags: EntryShape.tags.default([]),
    status: MemoryStatusSchema.optional(),
    createdAt: EpochMs.optional(),
  })
  .superRefine(checkScopeRules);
export type ProjectMemoryInput = z.input<typeof ProjectMemoryInputSchema>;

/**
 * What {@link ProjectMemoryStore.update} accepts: only the fields it may change, each optional.
 * A key it does not know (`scope`, `status`, `promotionPolicy`, a typo) is refused. `null` removes
 * an optional field (`evidence`, `lastSeenAt`, `unsupportedReason`).
 */
export const ProjectMemoryPatchSchema = z.strictObject({
  tags: EntryShape.tags.optional(),
  insight: EntryShape.insight.optional(),
  confidence: EntryShape.confidence.optional(),
  evidence: EntryShape.evidence.unwrap().nullable().optional(),
  lastSeenAt: EpochMs.nullable().optional(),
  unsupportedReason: z.string().min(1).nullable().optional(),
});
export type ProjectMemoryPatch = z.input<typeof ProjectMemoryPatchSchema>;

/** One row of the promotion audit log. Rows outlive the entries they name. */
export const MemoryAuditRowSchema = z.object({
  entryId: MemoryEntryIdSchema,
  policy: MemoryPromotionPolicySchema,
  auditedAt: EpochMs,
});
export type MemoryAuditRow = z.infer<typeof MemoryAuditRowSchema>;

/** Filter of {@link ProjectMemoryStore.list}. */
export const MemoryListQuerySchema = z.object({
  scope: StoredMemoryScopeSchema.optional(),
  projectKey: z.string().min(1).optional(),
  anyOfTags: z.array(z.string()).optional(),
});
export type MemoryListQuery = z.input<typeof MemoryListQuerySchema>;

/** Query of {@link ProjectMemoryStore.recall}. `topK` is a positive integer, 5 when left out. */
export const MemoryRecallQuerySchema = z.object({
  scope: StoredMemoryScopeSchema.optional(),
  projectKey: z.string().min(1).optional(),
  tags: z.array(z.string()).optional(),
  topK: z.number().int().positive().default(5),
});
export type MemoryRecallQuery = z.input<typeof MemoryRecallQuerySchema>;

/** One result of {@link ProjectMemoryStore.recall}: a copy of the entry and its score in 0..1. */
export interface MemoryRecallHit {
  entry: ProjectMemoryEntry;
  score: number;
}
