import { z } from 'zod';
import { type AnalysisRun, AnalysisRunSchema, RunErrorSchema } from './schemas.js';

// Past this nesting a value goes to the full schema, which gives the verdict it always gave.
const MAX_DEPTH = 256;

/**
 * True when `value` is, plainly, what `z.json()` accepts: a string, a finite number, a boolean,
 * null, or an array or plain object of those. Anything less plain (a non-finite number, a
 * `__proto__` key, deep nesting) answers false, and the caller asks the full schema instead.
 */
function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if (depth >= MAX_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!isPlainJson(value[i], depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      if (Object.hasOwn(value, '__proto__')) return false;
      for (const key in value) if (!isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

const PlainJson = z.custom<z.core.util.JSONType>((value) => isPlainJson(value, 0));

let quickSchema: z.ZodType<AnalysisRun> | undefined;

/**
 * `AnalysisRunSchema.safeParse(run)` for a run read from a file, with the same verdict and output.
 * A run file is `JSON.parse`d, so its JSON fields (`result`, `heartbeatDetails`, `error.details`)
 * are checked by a plain walk first: `z.json()` is a recursive union, and answering it costs
 * most of the time of listing thousands of runs. A run the walk does not pass plainly is parsed
 * by the full schema, so a refusal and its message are exactly the schema's.
 */
export function parseStoredRun(run: unknown): z.ZodSafeParseResult<AnalysisRun> {
  quickSchema ??= AnalysisRunSchema.extend({
    heartbeatDetails: PlainJson.optional(),
    result: PlainJson.optional(),
    error: RunErrorSchema.extend({ details: PlainJson.optional() }).optional(),
  }) as z.ZodType<AnalysisRun>;
  const quick = quickSchema.safeParse(run);
  return quick.success ? quick : AnalysisRunSchema.safeParse(run);
}
