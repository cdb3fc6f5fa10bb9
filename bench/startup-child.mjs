// Child process of the startup bench, plain JavaScript so that Node runs it as an app would, with
// no transpiler in the way. It imports the BUILT package, opens the default stores on the root
// given, lists the running runs and prints one JSON line:
// `{ running, firstLineMs, importedMs, listedMs, maxRssKb }`, where the times are ms since the
// process started (performance.now()'s origin): `firstLineMs` is Node's own start-up, the rest is
// what the script did after it.
//
// Usage: node bench/startup-child.mjs <url of dist/index.js> <root>
const firstLineMs = performance.now();
const [entry, root] = process.argv.slice(2);
if (entry === undefined || root === undefined) throw new Error('usage: startup-child.mjs <entry-url> <root>');
const { createStores } = await import(entry);
const importedMs = performance.now();
const stores = createStores({ root });
const running = await stores.runs.list({ status: 'running' });
const listedMs = performance.now();
await stores.close();
// Loaded after the timing, so it is not part of it (see the file for why not resourceUsage()).
const { peakRssKb } = await import('./peak-rss.mjs');
process.stdout.write(
  `${JSON.stringify({ running: running.length, firstLineMs, importedMs, listedMs, maxRssKb: peakRssKb() })}\n`,
);
