// The agent-stores demo: `npm run demo` (or `npm run demo -- --root /some/dir`).
//
// 1. A simulated agent in a child process runs an analysis: progress events, heartbeats.
// 2. An HTTP server serves the run's events as Server-Sent Events; a real SSE client follows them.
// 3. The server is stopped mid-run and restarted; the client reconnects with Last-Event-ID and
//    gets every event exactly once, through `analysis_completed` with the report link.
// 4. A second agent is killed with SIGKILL; cleanup marks its run failed with a terminal `error` event.
// 5. Project memory: entries saved, recalled by tags, one promoted with an audit row.
// 6. The feedback pipeline: one entry walks from feedback to merged.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { EventSource } from 'eventsource';
// In your own code: import { createStores } from 'agent-stores' and '…/sse'.
import { createStores, type Stores } from '../src/index.js';
import { streamRunEvents } from '../src/sse/index.js';

const { values } = parseArgs({ options: { root: { type: 'string', default: 'logs' } } });
const root = path.resolve(values.root);
const startedAt = Date.now();
const tag = startedAt.toString(36);
const children = new Set<ChildProcess>();
const sockets: { close(): void }[] = [];

const heading = (n: number, title: string) => console.log(`\n${n}. ${title}`);
const line = (text: string) => console.log(`   ${text}`);
const elapsed = () => `${((Date.now() - startedAt) / 1000).toFixed(1)} s`;

// --- the simulated agent, in its own process ---------------------------------------------------

interface Agent {
  child: ChildProcess;
  /** Resolves when the agent has printed `text` as a line. */
  waitFor(text: string): Promise<void>;
  exited: Promise<number | null>;
}

function startAgent(runId: string, args: string[]): Agent {
  const script = path.join(import.meta.dirname, 'simulated-agent.ts');
  // Resolve tsx from here so the demo works whatever the current directory is.
  const child = spawn(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), script, '--root', root, '--run', runId, ...args],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  const seen = new Set<string>();
  const waiters = new Map<string, () => void>();
  let buffer = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      seen.add(text);
      waiters.get(text)?.();
    }
  });
  const waitFor = (text: string) =>
    seen.has(text)
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
          waiters.set(text, resolve);
          void exited.then((code) => reject(new Error(`the agent exited (${code}) before printing '${text}'`)));
        });
  return { child, waitFor, exited };
}

// --- the HTTP server that serves the SSE stream ---------------------------------------------------

interface Server {
  http: http.Server;
  stores: Stores;
  port: number;
}

async function startServer(port: number): Promise<Server> {
  // A restarted server is a new process in real life: it opens the stores afresh from disk.
  const stores = await createStores({ root });
  const server = http.createServer((req, res) => {
    const match = /^\/runs\/([^/]+)\/events$/.exec(new URL(req.url ?? '/', 'http://localhost').pathname);
    if (!match) {
      res.writeHead(404).end();
      return;
    }
    const lastId = req.headers['last-event-id'];
    line(`server: GET ${match[0]}  ${lastId ? `Last-Event-ID: ${lastId}` : '(no Last-Event-ID: from the start)'}`);
    void streamRunEvents(req, res, { events: stores.events, runId: decodeURIComponent(match[1]!), retryMs: 250 });
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return { http: server, stores, port: (server.address() as AddressInfo).port };
}

async function stopServer(server: Server): Promise<void> {
  // Cut open SSE connections too, as a crash or a deploy would.
  server.http.closeAllConnections();
  await new Promise((resolve) => server.http.close(resolve));
  await server.stores.close();
}

// --- the steps ---------------------------------------------------------------------------------

interface Received {
  cursor: number;
  type: string;
  payload: { [key: string]: unknown };
}

async function streamWithRestart(stores: Stores): Promise<void> {
  heading(1, 'A simulated agent runs an analysis in a child process');
  const runId = `demo-${tag}-1`;
  await stores.runs.create({ runId, sessionId: 'demo-session', question: 'Why did checkout get slower?' });
  const agent = startAgent(runId, ['--steps', '10', '--step-ms', '150', '--complete']);
  line(`run ${runId} created; agent pid ${agent.child.pid} writes progress events and heartbeats`);
  await agent.waitFor('started');

  heading(2, 'An HTTP server streams the run as Server-Sent Events; a real SSE client follows it');
  let server = await startServer(0);
  const url = `http://127.0.0.1:${server.port}/runs/${runId}/events`;
  line(`SSE endpoint: ${url}`);

  const received: Received[] = [];
  const client = new EventSource(url);
  sockets.push(client);
  let cutOff: Promise<void> | undefined;
  const completed = new Promise<Received>((resolve) => {
    const onEvent = (event: MessageEvent) => {
      const item = { cursor: Number(event.lastEventId), type: event.type, payload: JSON.parse(String(event.data)) };
      received.push(item);
      // `analysis_completed` carries { status, result }: the run's result, with its report link.
      const { step, of, message, question, result } = item.payload as {
        step?: number;
        of?: number;
        message?: string;
        question?: string;
        result?: { reportUrl?: string };
      };
      const what =
        item.type === 'progress'
          ? `step ${step}/${of}: ${message}`
          : item.type === 'analysis_started'
            ? `"${question}"`
            : `report: ${result?.reportUrl}`;
      line(`client: #${item.cursor} ${item.type} ${what}`.trimEnd());
      if (received.length === 3 && !cutOff) cutOff = restart();
      if (item.type === 'analysis_completed') {
        client.close();
        resolve(item);
      }
    };
    for (const type of ['analysis_started', 'progress', 'analysis_completed']) client.addEventListener(type, onEvent);
  });

  // The cut: stop the server mid-run, leave it down while the agent keeps writing, start it again.
  const restart = async () => {
    heading(3, 'The server goes down mid-run, and comes back');
    await stopServer(server);
    line(`server stopped after cursor ${received.at(-1)?.cursor}; the agent keeps writing, the client retries`);
    await sleep(700);
    server = await startServer(server.port);
    line(`server restarted on port ${server.port} with freshly opened stores`);
  };

  const last = await completed;
  await cutOff;
  const cursors = received.map((r) => r.cursor);
  const exactlyOnce = cursors.every((cursor, i) => cursor === i + 1);
  if (!exactlyOnce) throw new Error(`the client saw cursors ${cursors.join(',')}`);
  line(`client: ${received.length} events, cursors 1..${last.cursor}, in order, none twice, none missing`);
  const code = await agent.exited;
  if (code !== 0) throw new Error(`the agent exited with code ${code}`);
  const run = await stores.runs.get(runId);
  line(`run ${runId} is ${run?.status}; result: ${JSON.stringify(run?.result)}`);
  await stopServer(server);
}

async function killedRun(stores: Stores): Promise<void> {
  heading(4, 'A second agent is killed mid-run (SIGKILL); cleanup notices its heartbeat stopped');
  const runId = `demo-${tag}-2`;
  await stores.runs.create({ runId, sessionId: 'demo-session', question: 'Which tenant drives the error spike?' });
  const agent = startAgent(runId, ['--steps', '1000', '--step-ms', '100']);
  await agent.waitFor('progress 2');
  agent.child.kill('SIGKILL');
  await agent.exited;
  line(
    `agent pid ${agent.child.pid} killed after 2 progress events; run status: ${(await stores.runs.get(runId))?.status}`,
  );

  // Production would use the default 90 s; the demo shortens it to stay quick.
  const staleAfterMs = 300;
  await sleep(staleAfterMs + 150);
  const report = await stores.runs.cleanup({ retentionMs: 7 * 86_400_000, staleAfterMs });
  line(`cleanup({ staleAfterMs: ${staleAfterMs} }): abandoned ${report.abandoned.join(', ') || 'none'}`);
  const run = await stores.runs.get(runId);
  line(`run ${runId} is ${run?.status}: ${run?.error?.code} (${run?.error?.message})`);
  const lastCursor = await stores.events.lastCursor(runId);
  for await (const event of stores.events.read(runId, { after: lastCursor - 1 })) {
    line(`its event log ends with #${event.cursor} ${event.type}: a replaying client sees how it ended`);
  }
}

async function memory(stores: Stores): Promise<void> {
  heading(5, 'Project memory: save, recall by tags, promote with an audit row');
  const entries = [
    { insight: 'Checkout p95 doubles when the price cache is cold', tags: ['checkout', 'latency', 'cache'] },
    { insight: 'Search timeouts come from one slow shard', tags: ['search', 'latency'] },
    { insight: 'Checkout errors spike during payment provider deploys', tags: ['checkout', 'errors'] },
  ];
  for (const [i, entry] of entries.entries()) {
    await stores.memory.save({
      entryId: `demo-mem-${i + 1}`,
      scope: 'project',
      projectKey: 'shop',
      confidence: 0.6 + i * 0.1,
      status: 'provisional',
      createdAt: Date.now(),
      ...entry,
    });
  }
  line(`saved ${entries.length} project entries`);
  const hits = await stores.memory.recall({ tags: ['checkout', 'latency'], topK: 3 });
  for (const hit of hits) line(`recall [checkout, latency]: ${hit.score.toFixed(2)}  ${hit.entry.insight}`);
  await stores.memory.promote('demo-mem-1', {
    fromScope: 'project',
    toScope: 'world',
    trigger: 'reviewer_approval',
    reviewer: 'dana',
  });
  const audit = (await stores.memory.promotionAudit()).at(-1);
  line(
    `promoted demo-mem-1 to world; audit row: ${audit?.entryId} ${audit?.policy.fromScope}→${audit?.policy.toScope} by ${audit?.policy.reviewer}`,
  );
}

async function feedback(stores: Stores): Promise<void> {
  heading(6, 'Feedback pipeline: one entry walks to merged');
  const entryId = `demo-fb-${tag}`;
  await stores.pipeline.create({ entryId, feedbackId: `fb-${tag}` });
  await stores.pipeline.advance(entryId, { stage: 'case_draft', case: { caseId: `case-${tag}`, status: 'draft' } });
  await stores.pipeline.advance(entryId, { stage: 'skill_draft', skillDraftId: `skill-${tag}` });
  await stores.pipeline.advance(entryId, { stage: 'reviewed', reviewer: 'dana' });
  const entry = await stores.pipeline.advance(entryId, { stage: 'merged', reviewer: 'dana' });
  line(`${entryId}: ${entry.history.map((h) => h.stage).join(' → ')} (case ${entry.case?.caseId} carried along)`);
}

async function main(): Promise<void> {
  console.log(`agent-stores demo, data in ${root}`);
  const stores = await createStores({ root });
  try {
    await streamWithRestart(stores);
    await killedRun(stores);
    await memory(stores);
    await feedback(stores);
  } finally {
    await stores.close();
  }
  const relative = path.relative(process.cwd(), root);
  const shown = relative === '' ? '.' : relative.startsWith('..') ? root : relative;
  // In this repository the tool runs from source; where the package is installed it is `npx agent-stores`.
  const main = path.relative(process.cwd(), path.join(import.meta.dirname, '../src/cli/main.ts'));
  // From the repository's root, `npm run cli --` is the short way; elsewhere name the file.
  const tool = main === path.join('src', 'cli', 'main.ts') ? 'npm run cli --' : `npx tsx ${main}`;
  console.log(`\nDone in ${elapsed()}. Everything is plain JSON and NDJSON under ${shown}/. Look around:`);
  console.log(`   ${tool} runs list --root ${shown}`);
  console.log(`   ${tool} events tail demo-${tag}-1 --root ${shown}`);
  console.log(`   ${tool} memory recall --tags checkout,latency --root ${shown}`);
  console.log(`   ${tool} verify --root ${shown}`);
  console.log('   (with the package installed: npx agent-stores …)');
}

try {
  await main();
} catch (error) {
  console.error(`\ndemo failed after ${elapsed()}: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  for (const socket of sockets) socket.close();
  for (const child of children) child.kill('SIGKILL');
  // Nothing should keep the process alive now; if something does, do not hang a new user's terminal.
  setTimeout(() => {
    console.error('demo: a handle was left open; exiting anyway');
    process.exit(process.exitCode ?? 1);
  }, 3_000).unref();
}
