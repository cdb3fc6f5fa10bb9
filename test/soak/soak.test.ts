import { describe, expect, it } from 'vitest';
import { formatReport, runSoak } from './soak.js';

// The CI-sized soak: a few real processes on one root, SIGKILLed at random for a few seconds,
// then the checker. `npm run soak` runs the full one (8 workers, minutes).
const seconds = Number(process.env.SOAK_SECONDS) || 8;

describe('soak (CI size)', () => {
  it(
    'loses no acknowledged event or mutation while workers are killed and restarted',
    async () => {
      const report = await runSoak({
        workers: Number(process.env.SOAK_WORKERS) || 3,
        durationMs: seconds * 1000,
        killMinMs: 700,
        killMaxMs: 1_500,
        staleAfterMs: 4_000,
        ...(process.env.SOAK_SEED ? { seed: Number(process.env.SOAK_SEED) } : {}),
      });
      const text = formatReport(report);
      expect(report.problems, text).toEqual([]);
      // The run did something worth checking: kills happened and work was acknowledged.
      expect(report.kills, text).toBeGreaterThan(0);
      expect(report.operations, text).toBeGreaterThan(20);
      expect(report.runs, text).toBeGreaterThan(0);
    },
    (seconds + 90) * 1000,
  );
});
