// The SSE helper with a real EventSource client (which reconnects on its own and sends
// Last-Event-ID) and a real AgentEventLog on disk, written by a separate log instance as an agent
// process would.
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventSource } from 'eventsource';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AgentEventLog } from '../../src/events/index.js';
import { type StreamRunEventsResult, streamRunEvents } from '../../src/sse/index.js';
import { tempDir } from '../helpers/tmp.js';
import { trackHandlesFromOurCode } from './sse-helpers.js';

interface Server {
  http: http.Server;
  events: AgentEventLog;
  port: number;
  lastEventIds: (string | undefined)[];
  results: Promise<StreamRunEventsResult>[];
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(dir: string, port = 0): Promise<Server> {
  const events = new AgentEventLog({ dir });
  const lastEventIds: (string | undefined)[] = [];
  const results: Promise<StreamRunEventsResult>[] = [];
  const server = http.createServer((req, res) => {
    lastEventIds.push(req.headers['last-event-id'] as string | undefined);
    results.push(streamRunEvents(req, res, { events, runId: 'run-1', retryMs: 20 }));
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const handle = { http: server, events, port: (server.address() as AddressInfo).port, lastEventIds, results };
  cleanups.push(() => stopServer(handle));
  return handle;
}

async function stopServer(server: Server): Promise<void> {
  if (!server.http.listening) return;
  server.http.closeAllConnections();
  await new Promise((resolve) => server.http.close(resolve));
  await server.events.close();
}

interface Seen {
  cursor: number;
  type: string;
  payload: unknown;
}

function connect(url: string): { client: EventSource; seen: Seen[] } {
  const client = new EventSource(url);
  cleanups.push(() => client.close());
  const seen: Seen[] = [];
  for (const type of ['analysis_started', 'progress', 'analysis_completed']) {
    client.addEventListener(type, (event: MessageEvent) => {
      seen.push({ cursor: Number(event.lastEventId), type: event.type, payload: JSON.parse(String(event.data)) });
    });
  }
  return { client, seen };
}

describe('streamRunEvents with a real EventSource client', () => {
  it('delivers every event exactly once, in order, through the terminal one, across a server restart', async () => {
    const dir = tempDir();
    const writer = new AgentEventLog({ dir });
    cleanups.push(() => writer.close());
    const appended: Seen[] = [];
    const append = async (type: string, payload: unknown) => {
      const event = await writer.append('run-1', { type, payload });
      appended.push({ cursor: event.cursor, type, payload });
    };
    await append('analysis_started', { question: 'why?' });
    await append('progress', { step: 1, note: 'two\nlines' });
    await append('progress', { step: 2, note: 'cr\r\nlf and \u2028 separator' });

    const first = await startServer(dir);
    const { client, seen } = connect(`http://127.0.0.1:${first.port}/runs/run-1/events`);
    await vi.waitFor(() => expect(seen).toHaveLength(3), { timeout: 10_000 });

    await stopServer(first);
    await append('progress', { step: 3 });
    await append('progress', { step: 4 });
    const second = await startServer(dir, first.port);
    await vi.waitFor(() => expect(seen).toHaveLength(5), { timeout: 10_000 });
    await append('progress', { step: 5 });
    await append('analysis_completed', { reportUrl: '/reports/run-1.html' });
    await vi.waitFor(() => expect(seen.at(-1)?.type).toBe('analysis_completed'), { timeout: 10_000 });
    client.close();

    expect(seen).toEqual(appended);
    expect(second.lastEventIds[0]).toBe('3');
  });

  it('stops a client that reconnects after the terminal event with 204, so it does not loop', async () => {
    const dir = tempDir();
    const writer = new AgentEventLog({ dir });
    cleanups.push(() => writer.close());
    await writer.append('run-1', { type: 'progress', payload: { step: 1 } });
    await writer.append('run-1', { type: 'analysis_completed', payload: {} });
    const server = await startServer(dir);
    // This client does not close itself on the terminal event; the server's 204 must stop it.
    const { client, seen } = connect(`http://127.0.0.1:${server.port}/runs/run-1/events`);
    await vi.waitFor(() => expect(client.readyState).toBe(EventSource.CLOSED), { timeout: 10_000 });
    expect(seen.map((event) => event.cursor)).toEqual([1, 2]);
    expect(server.lastEventIds).toEqual([undefined, '2']);
  });

  it('releases the file watcher and timers of a follow when the client disconnects', async () => {
    const dir = tempDir();
    const writer = new AgentEventLog({ dir });
    cleanups.push(() => writer.close());
    await writer.append('run-1', { type: 'progress', payload: { step: 1 } });
    const server = await startServer(dir);
    const held = trackHandlesFromOurCode();
    cleanups.push(() => held.stop());
    const { client, seen } = connect(`http://127.0.0.1:${server.port}/runs/run-1/events`);
    await vi.waitFor(() => expect(seen).toHaveLength(1), { timeout: 10_000 });
    expect(held.kinds()).toContain('FSEVENTWRAP');
    client.close();
    expect(await server.results[0]).toMatchObject({ outcome: 'client_closed', sent: 1 });
    // A closed handle goes away on a later turn of the event loop; a leaked one stays.
    await vi.waitFor(() => expect(held.kinds()).toEqual([]), { timeout: 2_000 });
  });
});
