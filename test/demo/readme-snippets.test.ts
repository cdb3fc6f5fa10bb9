// The README's quick-start snippets are programs a new user will paste and run: each one marked
// `<!-- snippet: name -->` is run here, against this repository's source, in a fresh directory.
// The SSE snippets are servers: each is started on a free port and a client streams a run from it.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { EventSource } from 'eventsource';
import { describe, expect, it, vi } from 'vitest';
import { createStores } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';

const README = path.join(import.meta.dirname, '../../README.md');
const ENTRY = pathToFileURL(path.join(import.meta.dirname, '../../src/index.ts')).href;
const SSE_ENTRY = pathToFileURL(path.join(import.meta.dirname, '../../src/sse/index.ts')).href;
/** Packages the SSE snippets import; resolved from this repository, since the snippet runs elsewhere. */
const SERVER_PACKAGES = ['express', 'fastify', 'hono', '@hono/node-server'];

function snippets(): [string, string][] {
  const text = fs.readFileSync(README, 'utf8');
  return [...text.matchAll(/<!-- snippet: ([\w-]+) -->\n```ts\n([\s\S]*?)```/g)].map((m) => [m[1]!, m[2]!]);
}

function start(code: string, cwd: string) {
  let source = code.replaceAll("from 'agent-stores'", `from '${ENTRY}'`);
  source = source.replaceAll("from 'agent-stores/sse'", `from '${SSE_ENTRY}'`);
  for (const name of SERVER_PACKAGES)
    source = source.replaceAll(`from '${name}'`, `from '${import.meta.resolve(name)}'`);
  // .mts: the snippets use top-level await, which needs an ES module.
  const file = path.join(cwd, 'snippet.mts');
  fs.writeFileSync(file, source);
  return spawn(process.execPath, ['--import', import.meta.resolve('tsx'), file], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function run(code: string, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = start(code, cwd);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exit) => resolve({ code: exit, stdout, stderr }));
  });
}

describe('the README quick start', () => {
  it('has a runnable snippet for every store', () => {
    expect(snippets().map(([name]) => name)).toEqual([
      'create-stores',
      'event-log',
      'sse-node-http',
      'sse-express',
      'sse-fastify',
      'sse-fetch',
      'runs',
      'memory',
      'pipeline',
      'in-memory',
    ]);
  });

  it.each(snippets().filter(([name]) => !name.startsWith('sse-')))(
    'snippet %s runs and exits 0, twice on one root',
    async (_name, code) => {
      // A user runs a snippet again in the same folder: it must not trip over what its first run left.
      const cwd = tempDir();
      for (const round of [1, 2]) {
        const result = await run(code, cwd);
        expect({ round, stderr: result.stderr, code: result.code }).toEqual({ round, stderr: '', code: 0 });
        expect(result.stdout).not.toBe('');
      }
    },
  );
});

describe('the README SSE server snippets', () => {
  const servers = snippets().filter(([name]) => name.startsWith('sse-'));

  it.each(servers)(
    'snippet %s streams a run a client opened before its first event, through its end',
    async (_name, code) => {
      const cwd = tempDir();
      // The snippet's createStores() opens ./logs; this process plays the agent on the same root.
      const stores = createStores({ root: path.join(cwd, 'logs') });
      const run = await stores.runs.create({ sessionId: 's-1', question: 'why?' });
      await stores.runs.start(run.runId);
      const port = await freePort();
      const child = start(code.replaceAll('3000', String(port)), cwd);
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const base = `http://localhost:${port}/runs`;
      try {
        // Up once it answers; an invalid id gets 400 with the id rule.
        const invalid = await vi.waitFor(() => fetch(`${base}/${encodeURIComponent('../x')}/events`), {
          timeout: 30_000,
          interval: 100,
        });
        expect(invalid.status).toBe(400);
        expect(((await invalid.json()) as { error: { message: string } }).error.message).toContain('use 1 to 128');
        expect((await fetch(`${base}/run-nobody-started/events`)).status).toBe(404);

        const client = new EventSource(`${base}/${run.runId}/events`);
        const seen: string[] = [];
        for (const type of ['analysis_started', 'analysis_completed']) {
          client.addEventListener(type, (event) => seen.push(`${event.lastEventId} ${event.type}`));
        }
        await vi.waitFor(() => expect(client.readyState).toBe(EventSource.OPEN), { timeout: 10_000 });
        await stores.events.append(run.runId, { type: 'analysis_started', payload: {} });
        await stores.runs.complete(run.runId, {});
        // The server ends the stream after the terminal event; the reconnect gets 204 and stops.
        await vi.waitFor(() => expect(client.readyState).toBe(EventSource.CLOSED), { timeout: 10_000 });
        expect(seen).toEqual(['1 analysis_started', '2 analysis_completed']);
      } finally {
        child.kill();
        await stores.close();
      }
      expect(stderr).toBe('');
    },
  );
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
