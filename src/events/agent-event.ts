import { z } from 'zod';

/** One event of an agent run, as `read` and `follow` return it and `append` acknowledges it. */
export const AgentEventSchema = z.object({
  runId: z.string(),
  /** 1, 2, 3… per run, no gaps. Doubles as the SSE event id. */
  cursor: z.number().int().positive(),
  /** The event's name (`analysis_completed`, `tool_call`, …). Becomes the SSE `event:` field. */
  type: z.string(),
  /** When it was appended, epoch ms (the log's clock). */
  at: z.number(),
  /** Any JSON value. */
  payload: z.unknown(),
});

/** One event of an agent run. */
export type AgentEvent = z.infer<typeof AgentEventSchema>;

/**
 * Event types: 1–200 characters, no control characters (a newline would break the SSE framing of
 * `event: <type>`).
 */
export const EventTypeSchema = z
  .string()
  .min(1, 'type must not be empty')
  .max(200, 'type is longer than 200 characters')
  .refine((type) => !CONTROL_CHARACTER.test(type), 'type must not contain control characters (newlines, NUL…)');

// biome-ignore lint/suspicious/noControlCharactersInRegex: that is exactly what it looks for
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/** The fast check behind {@link EventTypeSchema}, for the append path. */
export function isValidEventType(type: unknown): type is string {
  return typeof type === 'string' && type.length > 0 && type.length <= 200 && !CONTROL_CHARACTER.test(type);
}

/** What `append` takes. A missing `payload` is stored as `null`. */
export const AppendEventSchema = z.object({
  type: EventTypeSchema,
  payload: z.unknown().optional(),
});

/** What `append` takes. */
export type AppendEventInput = z.infer<typeof AppendEventSchema>;

/** Options of `read`. */
export const ReadEventsOptionsSchema = z.object({
  /** Return events with a cursor greater than this (an SSE `Last-Event-ID`). */
  after: z.number().int().nonnegative().optional(),
  /** Return at most this many events. */
  limit: z.number().int().nonnegative().optional(),
});

/** Options of `read`. */
export type ReadEventsOptions = z.infer<typeof ReadEventsOptionsSchema>;

/** What `verify` found in a run's files, and what it fixed when asked to. */
export interface EventLogVerifyReport {
  runId: string;
  /** False when the run has no log file. */
  exists: boolean;
  /** Complete events in the log. */
  events: number;
  /** Cursor of the last complete event (0 when there is none). */
  lastCursor: number;
  /** The last event is terminal. */
  sealed: boolean;
  /** Size of the log file in bytes, as found. */
  logBytes: number;
  /** Bytes after the last intact event that a crash left (an incomplete last line, or zeros). Moved aside and cut when repairing. */
  tornTailBytes: number;
  /**
   * What is wrong with the derived index (`missing`, `short by 3 entries`, `entry 17 points at
   * byte 900, the event is at 850`…). Empty when it is sound.
   */
  indexProblems: string[];
  /**
   * Damage that is not a torn tail: a complete line that is not the next intact event (changed
   * bytes, a checksum that does not match, a wrong cursor), with its byte offset. Appends to the
   * run are refused and reads through it fail until it is repaired (moved aside) or fixed by hand.
   */
  corruption?: string | undefined;
  /**
   * What a repair removed from the log, kept intact first: the bytes from `fromByte` to the end
   * (a torn tail, or everything from the first damaged line on) were copied to `file` (next to the
   * log, named `<runId>.ndjson.corrupt-<epoch ms>-<random>`) before the log was cut there.
   */
  movedAside?: { file: string; fromByte: number; bytes: number } | undefined;
  /** True when `repair` was asked and something was changed (tail cut, index rebuilt). */
  repaired: boolean;
  /** True when nothing was wrong (before any repair). */
  ok: boolean;
}

/** Something the log fixed on its own, for the owner to know (a crash left a torn tail, say). */
export interface EventLogWarning {
  code: 'TORN_TAIL_CUT' | 'INDEX_REBUILT';
  runId: string;
  file: string;
  message: string;
}
