import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseStoredRun } from '../../src/runs/parse-stored-run.js';
import { AnalysisRunSchema } from '../../src/runs/schemas.js';

const base = {
  runId: 'run-1',
  sessionId: 'session-1',
  question: 'Why?',
  status: 'completed',
  createdAt: 1,
  updatedAt: 2,
};

/** The verdict, the output and the first issue, as decodeRunFile uses them. */
function outcome(parse: (run: unknown) => ReturnType<typeof AnalysisRunSchema.safeParse>, run: unknown) {
  const parsed = parse(run);
  return parsed.success ? { data: parsed.data } : { issue: parsed.error.issues[0] };
}

describe('parseStoredRun', () => {
  it('gives what AnalysisRunSchema gives for any JSON in result, heartbeatDetails and error.details', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), fc.jsonValue(), (result, heartbeatDetails, details) => {
        const run = JSON.parse(
          JSON.stringify({ ...base, result, heartbeatDetails, error: { code: 'E', message: 'm', details } }),
        );
        expect(outcome(parseStoredRun, run)).toEqual(outcome((r) => AnalysisRunSchema.safeParse(r), run));
      }),
    );
  });

  it('refuses with the schema message what is not plain JSON', () => {
    const cases = [
      { ...base, result: { n: Number.POSITIVE_INFINITY } },
      { ...base, heartbeatDetails: [1, Number.NaN] },
      { ...base, result: { at: new Date(0) } },
      { ...base, result: { f: undefined } },
      { ...base, error: { code: 'E', message: 'm', details: () => 1 } },
      { ...base, status: 'lost', result: { ok: true } },
    ];
    for (const run of cases) {
      expect(outcome(parseStoredRun, run)).toEqual(outcome((r) => AnalysisRunSchema.safeParse(r), run));
    }
  });

  it('gives what the schema gives for a __proto__ key and for deep nesting', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 300; i++) deep = [deep];
    for (const text of ['{"__proto__":{"x":1},"y":2}', JSON.stringify(deep)]) {
      const run = { ...base, result: JSON.parse(text) };
      expect(outcome(parseStoredRun, run)).toEqual(outcome((r) => AnalysisRunSchema.safeParse(r), run));
    }
  });
});
