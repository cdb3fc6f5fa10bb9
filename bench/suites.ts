import { eventsSuite } from './events.js';
import { handlesSuite } from './handles.js';
import type { BenchSuite } from './harness.js';
import { jsonStoresSuite } from './json-stores.js';
import { postgresSuite } from './postgres.js';
import { runsSuite } from './runs.js';
import { sseFanoutSuite } from './sse-fanout.js';
import { startupSuite } from './startup.js';

/** Every benchmark suite, in the order the table prints them. Each issue adds its own. */
export const suites: BenchSuite[] = [
  jsonStoresSuite,
  eventsSuite,
  handlesSuite,
  runsSuite,
  startupSuite,
  sseFanoutSuite,
  postgresSuite,
];
