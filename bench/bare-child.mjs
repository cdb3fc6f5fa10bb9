// The bare-node peer of the startup bench: a fresh process that does nothing but report
// `[ms since process start at its first line, its own peak RSS in KiB]`. The helper is loaded
// after the first line is timed.
const firstLineMs = performance.now();
const { peakRssKb } = await import('./peak-rss.mjs');
process.stdout.write(JSON.stringify([firstLineMs, peakRssKb()]));
