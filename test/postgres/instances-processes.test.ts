// Several instances of a backend on one database, as behind a load balancer: three real processes,
// each with its own createPostgresStores, append to one run, follow it, heartbeat their own run and
// run cleanup, all at once; one of them is killed (kill -9) while appending.
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../src/index.js';
import { createPostgresStores } from '../../src/postgres/public.js';
import { usePostgres } from '../helpers/postgres.js';

const db = usePostgres();
const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'instance.ts');
const STALE_MS = 1_500;

interface Instance {
  name: string;
  child: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
  /** Resolves with the first line that `match` accepts (also one already printed). */
  waitFor(
    match: (line: Record<string, unknown>) => boolean,
    what: string,
    ms?: number,
  ): Promise<Record<string, unknown>>;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

function startInstance(name: string, args: string[]): Instance {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const part of parts) if (part.trim()) lines.push(JSON.parse(part));
    for (const wake of waiters.splice(0)) wake();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitFor: Instance['waitFor'] = async (match, what, ms = 30_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = lines.find(match);
      if (found) return found;
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        throw new Error(`instance ${name}: no ${what} (exit ${child.exitCode ?? child.signalCode}): ${stderr}`);
      }
      await new Promise<void>((wake) => {
        waiters.push(wake);
        setTimeout(wake, 50);
      });
    }
  };
  return { name, child, lines, exited, waitFor };
}

describe('three instances on one database', () => {
  it('lose no acknowledged event, leave no gap or duplicate, and fail the killed instance’s run exactly once', async () => {
    const schema = db.freshSchema();
    const shared = 'shared-run';
    const args = (name: string, batches: number) => [
      db.url,
      schema,
      name,
      shared,
      String(batches),
      '20',
      String(STALE_MS),
    ];
    const a = startInstance('a', args('a', 30));
    const b = startInstance('b', args('b', 100_000));
    const c = startInstance('c', args('c', 30));
    await Promise.all([a, b, c].map((i) => i.waitFor((line) => 'ready' in line, 'ready line')));

    // b is killed while it appends: some of its batch may be acknowledged, the rest never was.
    await b.waitFor(() => b.lines.filter((line) => 'ack' in line).length >= 100, '100 acknowledged appends');
    b.child.kill('SIGKILL');
    await b.exited;
    await Promise.all([a, c].map((i) => i.waitFor((line) => 'appended' in line, 'end of appends')));

    // The surviving instances' cleanup fails b's run once its heartbeat is stale.
    const stores = createPostgresStores({ pool: db.pool, schema });
    const deadline = Date.now() + 20_000;
    while ((await stores.runs.get('run-b'))?.status !== 'failed' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const runB = await stores.runs.get('run-b');
    expect(runB?.status).toBe('failed');
    expect(runB?.error?.code).toBe('heartbeat_stale');
    expect((await stores.runs.get('run-a'))?.status).toBe('running');
    expect((await stores.runs.get('run-c'))?.status).toBe('running');

    await stores.events.append(shared, { type: 'end' });
    for (const i of [a, c]) i.child.stdin!.end('stop\n');
    const [doneA, doneC] = await Promise.all([a, c].map((i) => i.waitFor((line) => line.done === true, 'done line')));
    expect(await a.exited).toBe(0);
    expect(await c.exited).toBe(0);

    // The shared run: cursors 1..n, no gap, no duplicate, ending with the terminal event.
    const events: AgentEvent[] = [];
    for await (const event of stores.events.read(shared)) events.push(event);
    const n = events.length;
    expect(events.map((event) => event.cursor)).toEqual(Array.from({ length: n }, (_, k) => k + 1));
    expect(events.at(-1)?.type).toBe('end');

    // Every acknowledged append, from all three (b's too), is there with its own payload.
    for (const instance of [a, b, c]) {
      const acks = instance.lines.filter((line) => 'ack' in line);
      for (const ack of acks) {
        expect(events[(ack.ack as number) - 1]?.payload).toEqual({ name: instance.name, batch: ack.batch, i: ack.i });
      }
    }
    const mine = (name: string) => events.filter((event) => (event.payload as { name?: string })?.name === name).length;
    expect([mine('a'), mine('c')]).toEqual([600, 600]);
    expect(mine('b')).toBeGreaterThanOrEqual(b.lines.filter((line) => 'ack' in line).length);

    // Both followers saw every event once, in order, across the switch from replay to live.
    expect(doneA!.followed).toEqual(events.map((event) => event.cursor));
    expect(doneC!.followed).toEqual(events.map((event) => event.cursor));

    // b's run was failed by exactly one cleanup pass, with exactly one terminal error event.
    const abandoned = [a, c].flatMap((i) => i.lines.flatMap((line) => (line.abandoned as string[] | undefined) ?? []));
    expect(abandoned.filter((runId) => runId === 'run-b')).toHaveLength(1);
    expect(abandoned.filter((runId) => runId !== 'run-b')).toEqual([]);
    const runBEvents: AgentEvent[] = [];
    for await (const event of stores.events.read('run-b')) runBEvents.push(event);
    expect(runBEvents.filter((event) => event.type === 'error')).toHaveLength(1);
    await stores.close();
  }, 90_000);
});
