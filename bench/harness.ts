/** One line of the benchmark table and of `bench/results.json`. */
export interface BenchRow {
  /** What is measured, as a sentence fragment. */
  figure: string;
  /** Unit of `ours` and `peer`, e.g. `ops/s`, `µs`, `MB`. */
  unit: string;
  ours: number;
  /** The peer's figure measured in the same run on the same data, or `null` where there is none. */
  peer: number | null;
  /** `ours / peer` (or the figure the target is stated on, when it is not against a peer). */
  ratio: number | null;
  /** The target as stated in the issue, e.g. `>= 10x lowdb`, `<= 50 µs`. */
  target: string;
  met: boolean;
}

/** A group of figures, run in its own process-free async function. */
export interface BenchSuite {
  name: string;
  run(): Promise<BenchRow[]>;
}

/** Runs `fn` `iterations` times (after `warmup` runs) and returns operations per second. */
export async function opsPerSecond(iterations: number, fn: (i: number) => unknown, warmup = 0): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await fn(i);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return iterations / seconds;
}

/** Median of `samples` timings of `fn`, in microseconds. */
export async function medianMicros(samples: number, fn: (i: number) => unknown): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = process.hrtime.bigint();
    await fn(i);
    times.push(Number(process.hrtime.bigint() - start) / 1e3);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export function row(
  figure: string,
  unit: string,
  ours: number,
  peer: number | null,
  target: string,
  met: (ratio: number | null, ours: number) => boolean,
): BenchRow {
  const ratio = peer === null ? null : ours / peer;
  return { figure, unit, ours, peer, ratio, target, met: met(ratio, ours) };
}

/** Microseconds since `start` (a `process.hrtime.bigint()` reading). */
export const hrMicros = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e3;

/** The middle value (the upper one of the two middles for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Prints an indented line under the suite's name. */
export const note = (text: string): void => {
  process.stdout.write(`  ${text}\n`);
};
