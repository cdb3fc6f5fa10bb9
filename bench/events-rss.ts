/**
 * Child process of the event-log bench: replays one run and reports how far its resident set grew.
 * Run in its own process so that the parent's fixtures and heap do not hide or inflate the figure.
 *
 * Usage: `node --import tsx bench/events-rss.ts <ours|sqlite> <dir-or-db-file> <runId>`; prints one
 * JSON line `{ events, baselineRss, peakRss, maxRssGrowth }` (bytes).
 */
import { AgentEventLog } from '../src/events/index.js';
import { SqliteEventPeer } from './events-sqlite.js';
import { peakRssKb } from './peak-rss.mjs';

const [mode, location, runId] = process.argv.slice(2);
if ((mode !== 'ours' && mode !== 'sqlite') || location === undefined || runId === undefined) {
  throw new Error('usage: events-rss.ts <ours|sqlite> <dir-or-db-file> <runId>');
}

// Sample often enough to catch a peak between two chunks of the log, rarely enough to cost nothing.
const SAMPLE_EVERY = 1024;

async function replay(): Promise<{ events: number; baselineRss: number; peakRss: number; maxRssGrowth: number }> {
  const log = mode === 'ours' ? new AgentEventLog({ dir: location! }) : undefined;
  const peer = mode === 'sqlite' ? new SqliteEventPeer(location!) : undefined;
  // Let start-up garbage settle so the baseline is the process at rest, ready to read.
  await new Promise((resolve) => setTimeout(resolve, 50));
  global.gc?.();
  const baselineRss = process.memoryUsage.rss();
  const maxRssBefore = peakRssKb() * 1024;
  let peakRss = baselineRss;
  let events = 0;
  const iterable: AsyncIterable<unknown> | Iterable<unknown> = log ? log.read(runId!) : peer!.read(runId!);
  for await (const event of iterable) {
    if (event === undefined) throw new Error('replay yielded nothing');
    if (++events % SAMPLE_EVERY === 0) peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  // The process's own peak since it started (peak-rss.mjs); it only counts when replay pushed it higher.
  const maxRssAfter = peakRssKb() * 1024;
  await log?.close();
  peer?.close();
  return { events, baselineRss, peakRss, maxRssGrowth: Math.max(0, maxRssAfter - Math.max(maxRssBefore, baselineRss)) };
}

process.stdout.write(`${JSON.stringify(await replay())}\n`);
