/**
 * Child processes of the SSE fan-out bench, one role each (first argument):
 *
 * - `server <dir> <shared|naive>`: serves `/<runId>` from the event log in `<dir>` and prints its
 *   port. `shared` is `streamRunEvents`; `naive` is what it did before the follow was shared: one
 *   follow of the log per client, each event serialised per client and written per socket, waiting
 *   for `drain` (the preflight checks are left out, which only favours it). When its stdin ends it
 *   prints the CPU time it used, as JSON, and exits.
 * - `writer <dir> <runId> <events> <perSecond>`: appends the run's first event, prints `ready`,
 *   and on `go` (stdin) appends `<events>` more at `<perSecond>`, each stamped with the wall time
 *   just before its append, then a terminal `end`.
 * - `clients <port> <runId> <count> <events>`: opens `<count>` SSE connections (plain sockets), prints `connected`
 *   once each has the run's first event, then, when every response has ended (or after a timeout),
 *   prints the delivery latencies' percentiles and how many clients got every event in order.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { createSession } from 'better-sse';
import { AgentEventLog } from '../src/events/index.js';
import { streamRunEvents } from '../src/sse/index.js';

const [role, ...args] = process.argv.slice(2);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function stdinLines(onLine: (line: string) => void, onEnd?: () => void): void {
  let rest = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  process.stdin.on('end', () => onEnd?.());
}

async function server(dir: string, mode: string): Promise<void> {
  const events = new AgentEventLog({ dir });
  const naive = async (req: http.IncomingMessage, res: http.ServerResponse, runId: string) => {
    const stop = new AbortController();
    res.once('close', () => stop.abort());
    const session = await createSession(req, res, { keepAlive: null, trustClientEventId: false });
    for await (const event of events.follow(runId, { signal: stop.signal })) {
      session.push(event.payload, event.type, String(event.cursor));
      if (res.writableNeedDrain) await new Promise((resolve) => res.once('drain', resolve));
    }
    res.end();
  };
  const srv = http.createServer((req, res) => {
    const runId = new URL(req.url ?? '/', 'http://x').pathname.slice(1);
    if (mode === 'naive') void naive(req, res, runId).catch(() => res.destroy());
    else void streamRunEvents(req, res, { events, runId, keepAliveMs: null });
  });
  await new Promise<void>((resolve) => srv.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  process.stdout.write(`${(srv.address() as AddressInfo).port}\n`);
  // CPU is counted from `go` (the writer starts appending) on: start-up and connecting are left out.
  let from = process.cpuUsage();
  stdinLines(
    (text) => {
      if (text === 'go') from = process.cpuUsage();
    },
    () => {
      const { user, system } = process.cpuUsage(from);
      process.stdout.write(`${JSON.stringify({ cpuMs: (user + system) / 1000, userMs: user / 1000 })}\n`);
      process.exit(0);
    },
  );
}

async function writer(dir: string, runId: string, count: number, perSecond: number): Promise<void> {
  const events = new AgentEventLog({ dir, durability: 'flush' });
  const note = 'x'.repeat(120);
  await events.append(runId, { type: 'analysis_started', payload: { sentAt: now(), note } });
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => stdinLines((line) => line === 'go' && resolve()));
  const start = now();
  for (let step = 1; step <= count; step++) {
    const wait = start + (step * 1000) / perSecond - now();
    if (wait > 0) await sleep(wait);
    await events.append(runId, { type: 'progress', payload: { step, sentAt: now(), note } });
  }
  await events.append(runId, { type: 'end', payload: { sentAt: now() } });
  await events.close();
  process.exit(0);
}

async function clients(port: number, runId: string, count: number, appended: number): Promise<void> {
  // Every event after the first (which is replayed at connect) is timed: `appended` plus `end`.
  const timed = appended + 1;
  const total = timed + 1;
  const latencies = new Float64Array(count * timed);
  let samples = 0;
  let inOrder = 0;
  let ended = 0;
  let connected = 0;
  // Plain sockets that scan the stream for `id:` and the writer's stamp: a client as light as it
  // can be, so that the machine's two cores go to the server being measured.
  const request = `GET /${runId} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`;
  const done = new Promise<void>((resolve) => {
    const finish = () => {
      ended += 1;
      if (ended === count) resolve();
    };
    const open = (i: number) =>
      new Promise<void>((opened) => {
        let expected = 1;
        let ok = true;
        let rest = '';
        let over = false;
        const socket = net.connect(port, '127.0.0.1', () => {
          socket.write(request);
          opened();
        });
        socket.on('data', (chunk: Buffer) => {
          const at = now();
          const text = rest + chunk.toString('latin1');
          let from = 0;
          for (let cut = text.indexOf('\n\n', from); cut !== -1; cut = text.indexOf('\n\n', from)) {
            const idAt = text.indexOf('\nid:', from);
            from = cut + 2;
            if (idAt === -1 || idAt > cut) continue;
            const id = Number.parseInt(text.slice(idAt + 4, idAt + 24), 10);
            if (id !== expected) ok = false;
            expected = id + 1;
            if (id === 1) {
              connected += 1;
              if (connected === count) process.stdout.write('connected\n');
              continue;
            }
            const stampAt = text.indexOf('"sentAt":', idAt);
            if (stampAt !== -1 && stampAt < cut && samples < latencies.length) {
              latencies[samples++] = at - Number.parseFloat(text.slice(stampAt + 9, stampAt + 40));
            }
            if (id === total && !over) {
              over = true;
              if (ok) inOrder += 1;
              socket.destroy();
              finish();
            }
          }
          rest = text.slice(from);
        });
        socket.on('close', () => {
          if (over) return;
          over = true;
          finish();
        });
        socket.on('error', (error) => {
          process.stderr.write(`client ${i}: ${error.message}\n`);
          opened();
        });
      });
    void (async () => {
      // In batches, so the listen backlog never overflows.
      for (let i = 0; i < count; i += 100) {
        await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, k) => open(i + k)));
      }
    })();
  });
  await Promise.race([done, sleep(120_000)]);
  const sorted = latencies.slice(0, samples).sort();
  const at = (q: number) => (samples === 0 ? Number.NaN : sorted[Math.min(samples - 1, Math.floor(q * samples))]!);
  const { user, system } = process.cpuUsage();
  process.stdout.write(
    `${JSON.stringify({ clientCpuMs: (user + system) / 1000, p50: at(0.5), p99: at(0.99), max: at(1), samples, expected: count * timed, inOrder, ended })}\n`,
  );
  process.exit(0);
}

if (role === 'server') await server(args[0]!, args[1]!);
else if (role === 'writer') await writer(args[0]!, args[1]!, Number(args[2]), Number(args[3]));
else if (role === 'clients') await clients(Number(args[0]), args[1]!, Number(args[2]), Number(args[3]));
else throw new Error(`unknown role ${role}`);
