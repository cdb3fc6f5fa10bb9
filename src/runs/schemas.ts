import { z } from 'zod';
import { ID_PATTERN } from '../storage/ids.js';

/** Epoch milliseconds (or a strictly increasing stamp derived from them). */
const EpochMs = z.number().int().nonnegative();

/** A non-blank label of up to 256 characters (it names no file). */
const Label = z.string().min(1).max(256).regex(/\S/, { error: 'must not be blank' });

/** A run id: it names files, so it follows the id rule (1–128 of `A-Z a-z 0-9 . _ -`, a letter or digit first). */
export const RunIdSchema = z.string().regex(ID_PATTERN, { error: 'runId does not match the id rule' });

/** Where a run is in its life. `completed`, `failed` and `cancelled` are terminal. */
export const AnalysisRunStatusSchema = z.enum(['pending', 'running', 'completed', 'failed', 'cancelled']);
export type AnalysisRunStatus = z.infer<typeof AnalysisRunStatusSchema>;

/** The statuses a run ends in; a run reaches one of them exactly once. */
export const TERMINAL_RUN_STATUSES: readonly AnalysisRunStatus[] = ['completed', 'failed', 'cancelled'];

/** True for `completed`, `failed` and `cancelled`. */
export function isTerminalStatus(status: AnalysisRunStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

/**
 * Why a run failed or was cancelled. `code` is machine-readable: `heartbeat_stale` when cleanup
 * abandoned it, `cancelled` for `cancel()`, `failed` when `fail()` was given none.
 */
export const RunErrorSchema = z.object({
  code: Label,
  message: z.string(),
  details: z.json().optional(),
});
export type RunError = z.infer<typeof RunErrorSchema>;

/** One analysis run: its status, liveness (`heartbeatAt`) and outcome. */
export const AnalysisRunSchema = z.object({
  runId: RunIdSchema,
  tenantId: Label.optional(),
  workspaceId: Label.optional(),
  sessionId: Label,
  mode: Label.optional(),
  question: z.string(),
  status: AnalysisRunStatusSchema,
  createdAt: EpochMs,
  startedAt: EpochMs.optional(),
  completedAt: EpochMs.optional(),
  /** The latest persisted heartbeat. Staleness counts from the latest of this, `startedAt`, `createdAt`. */
  heartbeatAt: EpochMs.optional(),
  /** What the latest heartbeat said (progress, step…); kept until a heartbeat brings new details. */
  heartbeatDetails: z.json().optional(),
  /** Strictly greater on every change of the record (see the store's notes on heartbeats). */
  updatedAt: EpochMs,
  /** What `complete()` was given. */
  result: z.json().optional(),
  /** Set by `fail()`, `cancel()` and by cleanup (`code: 'heartbeat_stale'`). */
  error: RunErrorSchema.optional(),
});
export type AnalysisRun = z.infer<typeof AnalysisRunSchema>;

/** What {@link AnalysisRunStore.create} takes. Without `runId` the store generates a sortable one. */
export const CreateRunInputSchema = z.strictObject({
  runId: RunIdSchema.optional(),
  sessionId: Label,
  question: z.string(),
  tenantId: Label.optional(),
  workspaceId: Label.optional(),
  mode: Label.optional(),
});
export type CreateRunInput = z.input<typeof CreateRunInputSchema>;

/** What {@link AnalysisRunStore.fail} takes: a message, an `Error`, or `{ code?, message, details? }`. */
export const FailRunInputSchema = z.union([
  z.string(),
  z.strictObject({ code: Label.optional(), message: z.string(), details: z.json().optional() }),
]);
export type FailRunInput = z.input<typeof FailRunInputSchema> | Error;

/** The filter fields of {@link AnalysisRunStore.list} and {@link AnalysisRunStore.page}; all given ones must match. */
const RunFilterFields = {
  status: AnalysisRunStatusSchema.optional(),
  sessionId: Label.optional(),
  tenantId: Label.optional(),
  workspaceId: Label.optional(),
  /** By `createdAt`, then `runId`: `newest` first (the default, as the CLI shows them) or `oldest` first. */
  order: z.enum(['newest', 'oldest']).optional(),
};

/** Filters of {@link AnalysisRunStore.list}; all given ones must match. */
export const ListRunsFilterSchema = z.strictObject({
  ...RunFilterFields,
  /** At most this many runs (the first ones in `order`). @defaultValue all */
  limit: z.number().int().positive().optional(),
});
export type ListRunsFilter = z.input<typeof ListRunsFilterSchema>;

/** Options of {@link AnalysisRunStore.page}: the filters of `list`, a page size, and where to go on. */
export const PageRunsOptionsSchema = z.strictObject({
  ...RunFilterFields,
  /** Runs per page. */
  limit: z.number().int().positive(),
  /** The `nextCursor` of the previous page, with the same filters and order. @defaultValue the first page */
  cursor: z.string().min(1).optional(),
});
export type PageRunsOptions = z.input<typeof PageRunsOptionsSchema>;

/** One page of {@link AnalysisRunStore.page}. */
export interface RunPage {
  runs: AnalysisRun[];
  /** Pass it as `cursor` to get the next page; absent on the last page. Opaque. */
  nextCursor?: string;
}

/** Options of {@link AnalysisRunStore.delete}. */
export const DeleteRunOptionsSchema = z.strictObject({
  /** Delete a pending or running run even while its heartbeat is fresh. @defaultValue false */
  force: z.boolean().optional(),
});
export type DeleteRunOptions = z.input<typeof DeleteRunOptionsSchema>;

/** Options of {@link AnalysisRunStore.cleanup}. */
export const CleanupOptionsSchema = z.strictObject({
  /** Terminal runs that ended more than this many ms before `now` are deleted with their event log. */
  retentionMs: z.number().nonnegative(),
  /** Overrides the store's `staleAfterMs` for this pass. */
  staleAfterMs: z.number().positive().optional(),
  /** The time the pass judges by. @defaultValue the store's clock */
  now: EpochMs.optional(),
  /** Judge every run and report what would happen, changing nothing. @defaultValue false */
  dryRun: z.boolean().optional(),
  /**
   * Called after each run is judged with how many are done and how many the pass has found so far
   * (the finished runs are counted once their directory is read, so `total` may grow once).
   */
  onProgress: z.custom<(judged: number, total: number) => void>((value) => typeof value === 'function').optional(),
});
export type CleanupOptions = z.input<typeof CleanupOptionsSchema>;

/** What {@link AnalysisRunStore.cleanup} did, as run ids. Each run seen is in exactly one list. */
export interface CleanupReport {
  /** Runs left in place: live ones with a fresh heartbeat, and finished ones within retention. */
  kept: string[];
  /** Pending or running runs whose heartbeat was stale: now `failed` with `error.code = 'heartbeat_stale'`. */
  abandoned: string[];
  /** Finished runs past retention, removed with their event log. */
  deleted: string[];
  /** Run files the pass could not read and left untouched (also reported to `onWarning`). */
  unreadable: UnreadableRun[];
}

/** A run file a listing or cleanup pass skipped because it could not be read. */
export interface UnreadableRun {
  runId: string;
  /** The file, left as it is. */
  file: string;
  /** Why it could not be read (the error's message). */
  reason: string;
}

/** Options of {@link AnalysisRunStore.startHeartbeat}. */
export const StartHeartbeatOptionsSchema = z.object({
  /** Ms between beats; keep it well under `staleAfterMs` (a third of it is a good choice). */
  intervalMs: z.number().int().positive(),
  onError: z.custom<(error: unknown) => void>((value) => typeof value === 'function').optional(),
});
export type StartHeartbeatOptions = z.input<typeof StartHeartbeatOptionsSchema>;

/** Options of {@link AnalysisRunStore.startCleanup}. */
export const StartCleanupOptionsSchema = z.strictObject({
  /** Ms between passes (the first pass runs at once). */
  everyMs: z.number().int().positive(),
  /** As in {@link CleanupOptions}: finished runs older than this are deleted. */
  retentionMs: z.number().nonnegative(),
  /** As in {@link CleanupOptions}. @defaultValue the store's `staleAfterMs` */
  staleAfterMs: z.number().positive().optional(),
  /** Gets the report of each pass. */
  onResult: z.custom<(report: CleanupReport) => void>((value) => typeof value === 'function').optional(),
  /** Gets the error of a pass that failed (the timer goes on). @defaultValue a process warning */
  onError: z.custom<(error: unknown) => void>((value) => typeof value === 'function').optional(),
});
export type StartCleanupOptions = z.input<typeof StartCleanupOptionsSchema>;
