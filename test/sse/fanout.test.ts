// Many clients of one run in one server process: they share one follow of the run.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type StreamRunEventsResult, streamRunEvents } from '../../src/sse/index.js';
import { FANOUT_MAX_FRAMES } from '../../src/sse/run-fanout.js';
import { MemoryEventSource } from './memory-event-source.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function serve(events: MemoryEventSource): Promise<{ url: string; results: Promise<StreamRunEventsResult>[] }> {
  const results: Promise<StreamRunEventsResult>[] = [];
  const server = http.createServer((req, res) => {
    const runId = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
    results.push(streamRunEvents(req, res, { events, runId, keepAliveMs: null, retryMs: null }));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, results };
}

/** A client that records the ids it got, in order; `ended` resolves when the server ends the response. */
function client(url: string, headers: Record<string, string> = {}) {
  const ids: number[] = [];
  let request!: http.ClientRequest;
  const ended = new Promise<void>((resolve, reject) => {
    request = http.get(url, { headers }, (res) => {
      let rest = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const text = rest + chunk;
        const cut = text.lastIndexOf('\n\n') + 2;
        for (const match of text.slice(0, cut).matchAll(/^id:(\d+)$/gm)) ids.push(Number(match[1]));
        rest = text.slice(cut);
      });
      res.on('end', resolve);
    });
    request.on('error', reject);
  });
  return { ids, ended, request };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const follows = (events: MemoryEventSource) => events.calls.filter((call) => call.startsWith('follow '));

describe('streamRunEvents with many clients of one run', () => {
  it('gives each of many clients every event, in order, exactly once', async () => {
    const events = new MemoryEventSource();
    events.append('run-1', 'analysis_started', {});
    const { url } = await serve(events);
    const clients = Array.from({ length: 40 }, () => client(`${url}/run-1`));
    await vi.waitFor(() => expect(clients.every((c) => c.ids.length === 1)).toBe(true));
    for (let step = 1; step <= 200; step++) {
      events.append('run-1', 'progress', { step });
      if (step % 20 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    events.append('run-1', 'end', null);
    await Promise.all(clients.map((c) => c.ended));
    for (const c of clients) expect(c.ids).toEqual(range(1, 202));
  });

  it('follows the run once, however many clients stream it', async () => {
    const events = new MemoryEventSource();
    events.append('run-1', 'analysis_started', {});
    const { url } = await serve(events);
    const clients = Array.from({ length: 25 }, () => client(`${url}/run-1`));
    await vi.waitFor(() => expect(clients.every((c) => c.ids.length === 1)).toBe(true));
    for (let step = 1; step <= 10; step++) events.append('run-1', 'progress', { step });
    events.append('run-1', 'end', null);
    await Promise.all(clients.map((c) => c.ended));
    expect(follows(events)).toEqual(['follow run-1 after 0']);
  });

  it('gives a client that joins mid-stream with Last-Event-ID the events after it, with no gap and no duplicate', async () => {
    const events = new MemoryEventSource();
    events.append('run-1', 'analysis_started', {});
    const { url } = await serve(events);
    const first = client(`${url}/run-1`);
    for (let step = 1; step <= 30; step++) events.append('run-1', 'progress', { step });
    await vi.waitFor(() => expect(first.ids.length).toBe(31));
    const late = client(`${url}/run-1`, { 'Last-Event-ID': '12' });
    await vi.waitFor(() => expect(late.ids.length).toBeGreaterThan(0));
    for (let step = 31; step <= 60; step++) events.append('run-1', 'progress', { step });
    events.append('run-1', 'end', null);
    await Promise.all([first.ended, late.ended]);
    expect(late.ids).toEqual(range(13, 62));
    expect(follows(events)).toEqual(['follow run-1 after 0']);
  });

  it('catches a client up from the log when it joins behind what the shared follow holds, then switches over with no gap and no duplicate', async () => {
    const events = new MemoryEventSource();
    const total = FANOUT_MAX_FRAMES + 200;
    for (let step = 1; step <= total; step++) events.append('run-1', 'progress', { step });
    const { url } = await serve(events);
    const first = client(`${url}/run-1`);
    await vi.waitFor(() => expect(first.ids.length).toBe(total));
    const late = client(`${url}/run-1`, { 'Last-Event-ID': '5' });
    await vi.waitFor(() => expect(late.ids.length).toBe(total - 5));
    for (let step = 1; step <= 20; step++) events.append('run-1', 'progress', { step });
    events.append('run-1', 'end', null);
    await Promise.all([first.ended, late.ended]);
    expect(late.ids).toEqual(range(6, total + 21));
    // One shared follow, and the late client's own until it reached what the shared one holds.
    expect(follows(events)).toEqual(['follow run-1 after 0', 'follow run-1 after 5']);
    expect(events.activeFollows).toBe(0);
  });

  it('keeps delivering to the other clients while one client reads nothing', async () => {
    const events = new MemoryEventSource();
    events.append('run-1', 'analysis_started', {});
    const { url, results } = await serve(events);
    const { port } = new URL(url);
    const stalled = net.connect(Number(port), '127.0.0.1');
    stalled.write('GET /run-1 HTTP/1.1\r\nHost: x\r\n\r\n');
    stalled.pause();
    await vi.waitFor(() => expect(results.length).toBe(1));
    const reader = client(`${url}/run-1`);
    // Far more than the stalled socket's buffers and what the shared follow keeps for it.
    const blob = 'x'.repeat(256 * 1024);
    for (let step = 1; step <= 80; step++) events.append('run-1', 'progress', { step, blob });
    events.append('run-1', 'end', null);
    await reader.ended;
    expect(reader.ids).toEqual(range(1, 82));
    expect(await Promise.race([results[0], 'still streaming'])).toBe('still streaming');
    stalled.destroy();
  });

  it('stops the shared follow when the last client leaves', async () => {
    const events = new MemoryEventSource();
    events.append('run-1', 'analysis_started', {});
    const { url, results } = await serve(events);
    const clients = Array.from({ length: 3 }, () => client(`${url}/run-1`));
    await vi.waitFor(() => expect(clients.every((c) => c.ids.length === 1)).toBe(true));
    expect(events.activeFollows).toBe(1);
    clients[0]!.request.destroy();
    clients[1]!.request.destroy();
    await Promise.all(results.slice(0, 2));
    expect(events.activeFollows).toBe(1);
    clients[2]!.request.destroy();
    await Promise.all(results);
    expect(events.activeFollows).toBe(0);
  });

  it('gets every event, in order, to a client that stopped reading and then reads again', async () => {
    const events = new MemoryEventSource();
    events.append('run-1', 'analysis_started', {});
    const { url } = await serve(events);
    const ids: number[] = [];
    let response!: http.IncomingMessage;
    const ended = new Promise<void>((resolve) => {
      http.get(`${url}/run-1`, (res) => {
        response = res;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          for (const match of text.matchAll(/^id:(\d+)$/gm)) ids.push(Number(match[1]));
          resolve();
        });
      });
    });
    await vi.waitFor(() => expect(response).toBeDefined());
    response.pause();
    // Far more than the socket's buffers hold, so that the server has to wait for it to drain.
    const blob = 'x'.repeat(256 * 1024);
    for (let step = 1; step <= 40; step++) {
      events.append('run-1', 'progress', { step, blob });
      await new Promise((resolve) => setImmediate(resolve));
    }
    events.append('run-1', 'end', null);
    response.resume();
    await ended;
    expect(ids).toEqual(range(1, 42));
  });

  it('sends every event through res.write when a middleware replaced it, as a compression middleware does', async () => {
    const events = new MemoryEventSource();
    events.append('run-1', 'analysis_started', {});
    const through: string[] = [];
    const server = http.createServer((req, res) => {
      const write = res.write.bind(res) as (chunk: unknown) => boolean;
      res.write = ((chunk: unknown) => {
        through.push(Buffer.from(chunk as Uint8Array | string).toString('utf8'));
        return write(chunk);
      }) as typeof res.write;
      void streamRunEvents(req, res, { events, runId: 'run-1', keepAliveMs: null, retryMs: null });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const viewer = client(`http://127.0.0.1:${(server.address() as AddressInfo).port}/run-1`);
    await vi.waitFor(() => expect(viewer.ids.length).toBe(1));
    for (let step = 1; step <= 10; step++) {
      events.append('run-1', 'progress', { step });
      await new Promise((resolve) => setImmediate(resolve));
    }
    events.append('run-1', 'end', null);
    await viewer.ended;
    expect(viewer.ids).toEqual(range(1, 12));
    expect([...through.join('').matchAll(/^id:(\d+)$/gm)].map((match) => Number(match[1]))).toEqual(range(1, 12));
  });

  it('queues less than a megabyte for a client that reads nothing while megabytes of events go out', async () => {
    const events = new MemoryEventSource();
    events.append('run-1', 'analysis_started', {});
    const responses: http.ServerResponse[] = [];
    const server = http.createServer((req, res) => {
      responses.push(res);
      void streamRunEvents(req, res, { events, runId: 'run-1', keepAliveMs: null, retryMs: null });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const stalled = net.connect(port, '127.0.0.1');
    stalled.write('GET /run-1 HTTP/1.1\r\nHost: x\r\n\r\n');
    stalled.pause();
    const reader = client(`http://127.0.0.1:${port}/run-1`);
    await vi.waitFor(() => expect(reader.ids.length).toBe(1));
    const blob = 'x'.repeat(256 * 1024);
    for (let step = 1; step <= 80; step++) {
      events.append('run-1', 'progress', { step, blob });
      await new Promise((resolve) => setImmediate(resolve));
    }
    events.append('run-1', 'end', null);
    await reader.ended;
    // 20 MB went out; the kernel's socket buffers take a few of them, the server queues the rest.
    expect(responses[0]!.writableLength).toBeLessThan(1024 * 1024);
    stalled.destroy();
  });
});
