/**
 * Child process of the runs bench: what a fresh process pays to answer "which runs are running?".
 * It imports the library, opens the default stores on the root given and lists running runs,
 * then prints `{ running, maxRssKb, loadedMs, listedMs }`: the process's own peak resident set in KiB (see peak-rss.mjs), and
 * the ms since process start when the library was loaded and when the list was done.
 *
 * The bench bundles this file with esbuild first, so the wall time is the library's, not tsx's.
 */
import { createStores } from '../src/index.js';
import { peakRssKb } from './peak-rss.mjs';

// Bundled, the library is evaluated before this line runs: time since process start so far is
// Node's start-up plus loading the library.
const loadedMs = performance.now();
const root = process.argv[2];
if (root === undefined) throw new Error('usage: runs-list-child <root>');
const stores = createStores({ root });
const running = await stores.runs.list({ status: 'running' });
await stores.close();
const listedMs = performance.now();
process.stdout.write(`${JSON.stringify({ running: running.length, maxRssKb: peakRssKb(), loadedMs, listedMs })}\n`);
