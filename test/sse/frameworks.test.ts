// The SSE helpers behind the frameworks users serve from — Express 5 and Fastify 5 with
// streamRunEvents, Hono (on @hono/node-server) with runEventsResponse — each with its usual CORS
// middleware, real stores from createStores, and the `eventsource` client. Each server is wired
// the way the README shows.
import { once } from 'node:events';
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import fastifyCors from '@fastify/cors';
import { serve } from '@hono/node-server';
import cors from 'cors';
import { EventSource } from 'eventsource';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { cors as honoCors } from 'hono/cors';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createStores, type Stores } from '../../src/index.js';
import { runEventsResponse, type StreamRunEventsResult, streamRunEvents } from '../../src/sse/index.js';
import { tempDir } from '../helpers/tmp.js';
import { connect, get, trackHandlesFromOurCode } from './sse-helpers.js';

const ORIGIN = 'https://app.example';
const TYPES = ['analysis_started', 'progress', 'analysis_completed'];

interface Running {
  url: string;
  server: http.Server;
  /** How each stream ended, as the helper reported it, in the order they ended. */
  ended: StreamRunEventsResult[];
  close(): Promise<void>;
}

type Start = (stores: Stores) => Promise<Running>;

async function startExpress(stores: Stores): Promise<Running> {
  const ended: StreamRunEventsResult[] = [];
  const app = express();
  app.use(cors({ origin: ORIGIN }));
  app.get('/runs/:runId/events', (req, res) => {
    void streamRunEvents(req, res, { ...stores, runId: req.params.runId, retryMs: 20 }).then((r) => ended.push(r));
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return running(server, ended, async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
}

async function startFastify(stores: Stores): Promise<Running> {
  const ended: StreamRunEventsResult[] = [];
  const app = Fastify();
  await app.register(fastifyCors, { origin: ORIGIN });
  app.get<{ Params: { runId: string } }>('/runs/:runId/events', (request, reply) => {
    reply.hijack();
    const options = { ...stores, runId: request.params.runId, headers: reply.getHeaders(), retryMs: 20 };
    void streamRunEvents(request.raw, reply.raw, options).then((r) => ended.push(r));
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return running(app.server, ended, async () => {
    app.server.closeAllConnections();
    await app.close();
  });
}

async function startHono(stores: Stores): Promise<Running> {
  const ended: StreamRunEventsResult[] = [];
  const app = new Hono();
  app.use(honoCors({ origin: ORIGIN }));
  app.get('/runs/:runId/events', (c) =>
    runEventsResponse(c.req.raw, {
      ...stores,
      runId: c.req.param('runId'),
      retryMs: 20,
      onEnd: (r) => ended.push(r),
    }),
  );
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as http.Server;
  if (!server.listening) await once(server, 'listening');
  return running(server, ended, async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
}

function running(server: http.Server, ended: StreamRunEventsResult[], close: () => Promise<void>): Running {
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const handle = { url, server, ended, close };
  cleanups.push(close);
  return handle;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function openStores(): Stores {
  const stores = createStores({ root: tempDir() });
  cleanups.push(() => stores.close());
  return stores;
}

async function startedRun(stores: Stores): Promise<string> {
  const run = await stores.runs.create({ sessionId: 's-1', question: 'why?' });
  await stores.runs.start(run.runId);
  return run.runId;
}

const frameworks: [string, Start][] = [
  ['Express 5 (streamRunEvents)', startExpress],
  ['Fastify 5 (streamRunEvents after reply.hijack())', startFastify],
  ['Hono on @hono/node-server (runEventsResponse)', startHono],
];

describe.each(frameworks)('%s', (_name, start) => {
  it('streams a run opened before its first event, with the CORS header of the middleware, through its end', async () => {
    const stores = openStores();
    const runId = await startedRun(stores);
    const server = await start(stores);
    const { client, seen, responses } = connect(`${server.url}/runs/${runId}/events`, TYPES);
    cleanups.push(() => client.close());
    await vi.waitFor(() => expect(responses).toHaveLength(1), { timeout: 10_000 });
    expect(responses[0]?.status).toBe(200);
    expect(responses[0]?.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(responses[0]?.headers.get('content-type')).toMatch(/^text\/event-stream/);

    await stores.events.append(runId, { type: 'analysis_started', payload: { question: 'why?' } });
    await stores.runs.complete(runId, { reportUrl: '/r.html' });
    // The stream ends after the terminal event; the client reconnects and gets 204, which stops it.
    await vi.waitFor(() => expect(client.readyState).toBe(EventSource.CLOSED), { timeout: 10_000 });
    expect(seen.map((event) => [event.cursor, event.type])).toEqual([
      [1, 'analysis_started'],
      [2, 'analysis_completed'],
    ]);
    expect(responses.map((response) => [response.status, response.lastEventId])).toEqual([
      [200, null],
      [204, '2'],
    ]);
    await vi.waitFor(() => expect(server.ended.map((r) => r.outcome)).toEqual(['terminal', 'nothing_new']));
  });

  it('resumes after the last event a client saw when its connection drops', async () => {
    const stores = openStores();
    const runId = await startedRun(stores);
    for (const step of [1, 2]) await stores.events.append(runId, { type: 'progress', payload: { step } });
    const server = await start(stores);
    const { client, seen, responses } = connect(`${server.url}/runs/${runId}/events`, TYPES);
    cleanups.push(() => client.close());
    await vi.waitFor(() => expect(seen).toHaveLength(2), { timeout: 10_000 });

    server.server.closeAllConnections();
    await stores.events.append(runId, { type: 'progress', payload: { step: 3 } });
    await stores.runs.complete(runId, {});
    await vi.waitFor(() => expect(seen.at(-1)?.type).toBe('analysis_completed'), { timeout: 10_000 });
    client.close();
    expect(seen.map((event) => event.cursor)).toEqual([1, 2, 3, 4]);
    expect(responses[1]?.lastEventId).toBe('2');
  });

  it('answers 204 after the end, 400 with the id rule and 404, each with the CORS header', async () => {
    const stores = openStores();
    const runId = await startedRun(stores);
    await stores.runs.complete(runId, {});
    const server = await start(stores);
    const origin = { origin: ORIGIN };
    const gone = await get(`${server.url}/runs/${runId}/events`, { ...origin, 'last-event-id': '1' });
    const invalid = await get(`${server.url}/runs/${encodeURIComponent('../x')}/events`, origin);
    const missing = await get(`${server.url}/runs/run-nobody-started/events`, origin);
    expect([gone.status, invalid.status, missing.status]).toEqual([204, 400, 404]);
    expect(JSON.parse(invalid.body).error.message).toMatch(/^run id "..\/x" is not valid: use 1 to 128 characters/);
    expect(JSON.parse(missing.body).error.code).toBe('NOT_FOUND');
    for (const res of [gone, invalid, missing]) expect(res.headers['access-control-allow-origin']).toBe(ORIGIN);
  });

  it.each([
    ['a run with events', true],
    ['a run waiting for its first event', false],
  ])('leaves no follow, watcher or timer behind when the client of %s disconnects', async (_case, withEvent) => {
    const stores = openStores();
    const runId = await startedRun(stores);
    if (withEvent) await stores.events.append(runId, { type: 'progress', payload: { step: 1 } });
    const server = await start(stores);
    const held = trackHandlesFromOurCode();
    cleanups.push(() => held.stop());
    const { client, seen, responses } = connect(`${server.url}/runs/${runId}/events`, TYPES);
    await vi.waitFor(() => expect(withEvent ? seen.length : responses.length).toBe(1), { timeout: 10_000 });
    // The follow holds the poll timer (and the file watcher, once the log exists).
    await vi.waitFor(() => expect(held.kinds()).toContain('Timeout'));
    client.close();
    await vi.waitFor(() => expect(server.ended.map((r) => r.outcome)).toEqual(['client_closed']), { timeout: 10_000 });
    // A closed handle goes away on a later turn of the event loop; a leaked one stays.
    await vi.waitFor(() => expect(held.kinds()).toEqual([]), { timeout: 5_000 });
  });
});
