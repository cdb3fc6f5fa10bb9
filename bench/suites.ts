import type { BenchSuite } from './harness.js';

/** Every benchmark suite, in the order the table prints them. Each issue adds its own. */
export const suites: BenchSuite[] = [];
