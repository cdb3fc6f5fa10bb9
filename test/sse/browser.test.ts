// A real browser's EventSource (Debian's `chromium`, driven by playwright-core) against
// streamRunEvents wired as the README shows (`{ ...stores, runId }`): the page opens its stream
// right after the run was started, before the agent's first event, and keeps it across a server
// restart. A browser's EventSource gives up for good on any answer but 200, so a 404 for a run
// with no event yet would leave the page blank for the whole run.
//
// Needs a Chromium on PATH (`apt-get install chromium`; .ci/run installs it); skipped, saying so,
// where there is none. playwright-core never downloads a browser here.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createStores, type Stores } from '../../src/index.js';
import { streamRunEvents } from '../../src/sse/index.js';
import { tempDir } from '../helpers/tmp.js';

function findOnPath(names: readonly string[]): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    for (const name of names) {
      const candidate = path.join(dir, name);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

const executablePath = process.env.CHROMIUM_PATH || findOnPath(['chromium', 'chromium-browser']);
if (!executablePath) {
  console.warn('browser.test.ts: SKIPPED, no chromium on PATH (apt-get install chromium, or set CHROMIUM_PATH)');
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>run</title><script>
  window.seen = [];
  const source = new EventSource('/runs/' + location.hash.slice(1) + '/events');
  for (const type of ['analysis_started', 'progress', 'analysis_completed']) {
    source.addEventListener(type, (event) => window.seen.push([Number(event.lastEventId), event.type]));
  }
  window.source = source;
</script>`;

interface Server {
  port: number;
  /** Status of each answer to the event stream, in order. */
  statuses: number[];
  close(): Promise<void>;
}

async function startServer(stores: Stores, port = 0): Promise<Server> {
  const statuses: number[] = [];
  const server = http.createServer((req, res) => {
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    const match = /^\/runs\/([^/]+)\/events$/.exec(pathname);
    if (!match) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      return;
    }
    res.once('finish', () => statuses.push(res.statusCode));
    res.once('close', () => res.writableFinished || statuses.push(res.statusCode));
    void streamRunEvents(req, res, { ...stores, runId: decodeURIComponent(match[1]!), retryMs: 200 });
  });
  server.listen(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  cleanups.push(close);
  return { port: (server.address() as AddressInfo).port, statuses, close };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let browser: Browser | undefined;
beforeAll(async () => {
  if (executablePath) browser = await chromium.launch({ executablePath, args: ['--no-sandbox'], timeout: 60_000 });
}, 90_000);
afterAll(async () => {
  await browser?.close();
});

const slow = { timeout: 20_000, interval: 50 };

describe('streamRunEvents with Chromium’s own EventSource', () => {
  const title = 'streams a run the page connected to before its first event, across a server restart, through its end';
  it.skipIf(!executablePath)(
    executablePath ? title : `${title} (SKIPPED: no chromium on PATH)`,
    async () => {
      const stores = createStores({ root: tempDir() });
      cleanups.push(() => stores.close());
      const run = await stores.runs.create({ sessionId: 's-1', question: 'why?' });
      await stores.runs.start(run.runId);
      const first = await startServer(stores);

      const page = await browser!.newPage();
      cleanups.push(() => page.close());
      await page.goto(`http://127.0.0.1:${first.port}/#${run.runId}`);
      const seen = () => page.evaluate(() => (globalThis as unknown as { seen: [number, string][] }).seen);
      const readyState = () =>
        page.evaluate(() => (globalThis as unknown as { source: EventSource }).source.readyState);
      // Connected (readyState OPEN) while the run has no event at all.
      await vi.waitFor(async () => expect(await readyState()).toBe(1), slow);

      await stores.events.append(run.runId, { type: 'analysis_started', payload: { question: run.question } });
      await vi.waitFor(async () => expect(await seen()).toEqual([[1, 'analysis_started']]), slow);

      await first.close();
      await stores.events.append(run.runId, { type: 'progress', payload: { step: 1 } });
      const second = await startServer(stores, first.port);
      await vi.waitFor(async () => expect((await seen()).length).toBe(2), slow);

      await stores.runs.complete(run.runId, { reportUrl: '/r.html' });
      // After the terminal event the browser reconnects once, gets 204 and stops (readyState CLOSED).
      await vi.waitFor(async () => expect(await readyState()).toBe(2), slow);
      expect(await seen()).toEqual([
        [1, 'analysis_started'],
        [2, 'progress'],
        [3, 'analysis_completed'],
      ]);
      expect(first.statuses).toEqual([200]);
      expect(second.statuses).toEqual([200, 204]);
    },
    120_000,
  );
});
