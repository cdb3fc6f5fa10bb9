// Child process of the startup bench, plain JavaScript so that Node runs it as an app would, with
// no transpiler in the way. It imports the BUILT package, opens the default stores on the root
// given, lists the running runs and prints one JSON line:
// `{ running, importedMs, listedMs, maxRssKb }`, where the times are ms since the process started
// (performance.now()'s origin), so they include Node's own start-up.
//
// Usage: node bench/startup-child.mjs <url of dist/index.js> <root>
const [entry, root] = process.argv.slice(2);
if (entry === undefined || root === undefined) throw new Error('usage: startup-child.mjs <entry-url> <root>');
const { createStores } = await import(entry);
const importedMs = performance.now();
const stores = createStores({ root });
const running = await stores.runs.list({ status: 'running' });
const listedMs = performance.now();
await stores.close();
process.stdout.write(
  `${JSON.stringify({ running: running.length, importedMs, listedMs, maxRssKb: process.resourceUsage().maxRSS })}\n`,
);
