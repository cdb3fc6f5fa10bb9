// The SSE reconnect test on PostgreSQL: a real EventSource client, a writer in this process, and
// the server restarted as a different instance (a second process) on the same database.
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { EventSource } from 'eventsource';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createPostgresStores } from '../../src/postgres/public.js';
import { usePostgres } from '../helpers/postgres.js';

const db = usePostgres();
const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'sse-server.ts');

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Starts a server instance in its own process; resolves with its port once it listens. */
async function startServer(schema: string, port = 0): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, db.url, schema, String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
  });
  return { port: (JSON.parse(line) as { port: number }).port, child };
}

interface Seen {
  cursor: number;
  type: string;
  payload: unknown;
}

describe('streamRunEvents on PostgreSQL', () => {
  it('delivers every event exactly once, in order, through the terminal one, when a different instance takes over', async () => {
    const schema = db.freshSchema();
    const writer = createPostgresStores({ pool: db.pool, schema });
    cleanups.push(() => writer.close());
    const appended: Seen[] = [];
    const append = async (type: string, payload: unknown) => {
      const event = await writer.events.append('run-1', { type, payload });
      appended.push({ cursor: event.cursor, type, payload });
    };
    await append('analysis_started', { question: 'why?' });
    await append('progress', { step: 1, note: 'two\nlines' });
    await append('progress', { step: 2, note: 'cr\r\nlf and \u2028 separator' });

    const first = await startServer(schema);
    const client = new EventSource(`http://127.0.0.1:${first.port}/runs/run-1/events`);
    cleanups.push(() => client.close());
    const seen: Seen[] = [];
    for (const type of ['analysis_started', 'progress', 'analysis_completed']) {
      client.addEventListener(type, (event: MessageEvent) => {
        seen.push({ cursor: Number(event.lastEventId), type: event.type, payload: JSON.parse(String(event.data)) });
      });
    }
    await vi.waitFor(() => expect(seen).toHaveLength(3), { timeout: 15_000 });

    first.child.kill('SIGKILL'); // the instance dies; the client reconnects wherever it lands
    await append('progress', { step: 3 });
    await append('progress', { step: 4 });
    await startServer(schema, first.port);
    await vi.waitFor(() => expect(seen).toHaveLength(5), { timeout: 15_000 });
    await append('progress', { step: 5 });
    await append('analysis_completed', { reportUrl: '/reports/run-1.html' });
    await vi.waitFor(() => expect(seen.at(-1)?.type).toBe('analysis_completed'), { timeout: 15_000 });
    client.close();
    expect(seen).toEqual(appended);
  }, 60_000);
});
