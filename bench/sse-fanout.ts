import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type BenchRow, type BenchSuite, note, row } from './harness.js';

const CLIENTS = 1_000;
/** A smaller audience, to show how the server's CPU per event grows with the number of clients. */
const FEW_CLIENTS = 100;
const PER_SECOND = 200;
const SECONDS = 10;
/** Sockets the server and the clients each need, with room for the log's files. */
const FDS = 4_096;

const child = path.join(import.meta.dirname, 'sse-fanout-child.ts');

/** Starts a role of sse-fanout-child.ts under a raised open-files limit (1,000 sockets need it). */
function start(args: string[]): ChildProcess {
  const script = `ulimit -n ${FDS} 2>/dev/null || ulimit -n hard; exec "$0" "$@"`;
  return spawn('sh', ['-c', script, process.execPath, '--import', 'tsx', child, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

/** Resolves with the first line of `proc`'s stdout that `match` accepts. */
function line(proc: ChildProcess, match: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let rest = '';
    const onData = (chunk: Buffer) => {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      const found = lines.find(match);
      if (found !== undefined) {
        proc.stdout?.off('data', onData);
        resolve(found);
      }
    };
    proc.stdout?.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`child exited (${code}) before printing what was expected`)));
  });
}

interface Delivery {
  p50: number;
  p99: number;
  max: number;
  samples: number;
  expected: number;
  inOrder: number;
  ended: number;
  cpuMsPerEvent: number;
}

/** One server (`shared` or `naive`), `count` clients, a writer appending for {@link SECONDS} s. */
async function deliver(dir: string, mode: 'shared' | 'naive', count: number): Promise<Delivery> {
  const runId = `fanout-${mode}-${count}`;
  const appended = PER_SECOND * SECONDS;
  const server = start(['server', dir, mode]);
  const writer = start(['writer', dir, runId, String(appended), String(PER_SECOND)]);
  try {
    const port = await line(server, (text) => /^\d+$/.test(text));
    await line(writer, (text) => text === 'ready');
    const viewers = start(['clients', port, runId, String(count), String(appended)]);
    const report = line(viewers, (text) => text.startsWith('{'));
    await line(viewers, (text) => text === 'connected');
    server.stdin?.write('go\n');
    writer.stdin?.write('go\n');
    const delivery = JSON.parse(await report) as Omit<Delivery, 'cpuMsPerEvent'>;
    const usage = line(server, (text) => text.startsWith('{'));
    server.stdin?.end();
    const { cpuMs, userMs } = JSON.parse(await usage) as { cpuMs: number; userMs: number };
    note(
      `${mode} ${count}: server CPU ${cpuMs.toFixed(0)} ms (user ${userMs.toFixed(0)}), clients ${JSON.stringify(delivery)}`,
    );
    return { ...delivery, cpuMsPerEvent: cpuMs / (appended + 2) };
  } finally {
    server.kill();
    writer.kill();
  }
}

function describe(mode: string, count: number, d: Delivery): string {
  return (
    `${mode}, ${count} clients: p50 ${d.p50.toFixed(1)} ms, p99 ${d.p99.toFixed(1)} ms, max ${d.max.toFixed(1)} ms; ` +
    `${d.inOrder}/${count} clients got every event in order; ${d.samples}/${d.expected} deliveries; ` +
    `server CPU ${d.cpuMsPerEvent.toFixed(2)} ms per event`
  );
}

/**
 * Issue 14, "many viewers of one run": a server process streams one run with `streamRunEvents` to
 * 1,000 SSE clients (another process) over loopback while a writer process appends 200 events/s
 * for 10 s. The peer is the same server with one follow of the log per client, as
 * `streamRunEvents` did before its follow was shared.
 */
export const sseFanoutSuite: BenchSuite = {
  name: 'sse-fanout',
  async run(): Promise<BenchRow[]> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-stores-bench-fanout-'));
    try {
      const ours = await deliver(dir, 'shared', CLIENTS);
      note(describe('shared follow', CLIENTS, ours));
      const peer = await deliver(dir, 'naive', CLIENTS);
      note(describe('per-client follow', CLIENTS, peer));
      const few = await deliver(dir, 'shared', FEW_CLIENTS);
      note(describe('shared follow', FEW_CLIENTS, few));
      const growth = ours.cpuMsPerEvent / few.cpuMsPerEvent;
      const complete = (d: Delivery) => d.inOrder === CLIENTS && d.samples === d.expected;
      return [
        row(
          `SSE: ${CLIENTS} clients of one run, writer ${PER_SECOND} events/s for ${SECONDS} s, p99 delivery (shared follow vs per-client follow)`,
          'ms',
          ours.p99,
          peer.p99,
          '<= 50 ms',
          (_ratio, value) => value <= 50 && complete(ours),
        ),
        row(
          `SSE: ${CLIENTS} clients of one run, clients that got every event in order (shared vs per-client follow)`,
          'clients',
          ours.inOrder,
          peer.inOrder,
          `${CLIENTS} of ${CLIENTS}`,
          () => complete(ours),
        ),
        row(
          `SSE: server CPU per event, ${CLIENTS} clients vs ${FEW_CLIENTS} (shared follow)`,
          'ms',
          ours.cpuMsPerEvent,
          few.cpuMsPerEvent,
          `< ${CLIENTS / FEW_CLIENTS}x (sub-linear)`,
          () => growth < CLIENTS / FEW_CLIENTS,
        ),
      ];
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};
