import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type StreamRunEventsOptions, type StreamRunEventsResult, streamRunEvents } from '../../src/sse/index.js';
import { MemoryEventSource } from './memory-event-source.js';

interface Harness {
  url: string;
  results: Promise<StreamRunEventsResult>[];
}

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function serve(events: MemoryEventSource, extra: Partial<StreamRunEventsOptions> = {}): Promise<Harness> {
  const results: Promise<StreamRunEventsResult>[] = [];
  const server = http.createServer((req, res) => {
    const runId = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
    results.push(streamRunEvents(req, res, { events, runId, ...extra }));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, results };
}

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** GETs the url and collects the body until the server ends it. */
function get(url: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

/** GETs the url and resolves, with the request still open, once the body so far satisfies `until`. */
function getUntil(
  url: string,
  until: (body: string) => boolean,
): Promise<{ body: string; request: http.ClientRequest }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (until(body)) resolve({ body, request });
      });
    });
    request.on('error', reject);
  });
}

function running(events: MemoryEventSource, runId = 'run-1'): void {
  events.append(runId, 'analysis_started', { question: 'why?' });
  events.append(runId, 'progress', { step: 1 });
}

describe('streamRunEvents', () => {
  it('answers 400 for an invalid run id without touching the event log', async () => {
    const events = new MemoryEventSource();
    const { url, results } = await serve(events);
    const res = await get(`${url}/${encodeURIComponent('../etc')}`);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error.code).toBe('INVALID_ID');
    expect(events.calls).toEqual([]);
    expect((await results[0])?.outcome).toBe('invalid_run_id');
  });

  it('answers 404 for a run that has no event log', async () => {
    const events = new MemoryEventSource();
    running(events, 'other');
    const { url, results } = await serve(events);
    const res = await get(`${url}/missing`);
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body).error.code).toBe('NOT_FOUND');
    expect((await results[0])?.outcome).toBe('not_found');
  });

  it('sends the event-stream headers, a retry line, and each event as id, event and data', async () => {
    const events = new MemoryEventSource();
    running(events);
    events.append('run-1', 'analysis_completed', { reportUrl: '/reports/run-1' });
    const { url } = await serve(events, { retryMs: 1234 });
    const res = await get(`${url}/run-1`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(res.body).toBe(
      [
        'retry:1234',
        '',
        'event:analysis_started',
        'id:1',
        'data:{"question":"why?"}',
        '',
        'event:progress',
        'id:2',
        'data:{"step":1}',
        '',
        'event:analysis_completed',
        'id:3',
        'data:{"reportUrl":"/reports/run-1"}',
        '',
        '',
      ].join('\n'),
    );
  });

  it('ends the response after the terminal event and reports what it sent', async () => {
    const events = new MemoryEventSource();
    running(events);
    events.append('run-1', 'error', { code: 'boom' });
    const { url, results } = await serve(events);
    await get(`${url}/run-1`);
    expect(await results[0]).toEqual({ outcome: 'terminal', status: 200, sent: 3, after: 0, lastSent: 3 });
  });

  it('replays only the events after the Last-Event-ID header', async () => {
    const events = new MemoryEventSource();
    running(events);
    events.append('run-1', 'end', null);
    const { url } = await serve(events);
    const res = await get(`${url}/run-1`, { 'Last-Event-ID': '2' });
    expect(res.body).not.toContain('id:1\n');
    expect(res.body).not.toContain('id:2\n');
    expect(res.body).toContain('id:3\n');
    expect(events.calls).toContain('follow run-1 after 2');
  });

  it('replays after the legacy lastEventId query value when there is no header', async () => {
    const events = new MemoryEventSource();
    running(events);
    events.append('run-1', 'end', null);
    const { url } = await serve(events);
    await get(`${url}/run-1?lastEventId=1`);
    expect(events.calls).toContain('follow run-1 after 1');
  });

  it('streams events appended after the client connected, on the same response', async () => {
    const events = new MemoryEventSource();
    running(events);
    const { url } = await serve(events);
    const done = getUntil(`${url}/run-1`, (body) => body.includes('event:analysis_completed'));
    await vi.waitFor(() => expect(events.activeFollows).toBe(1));
    events.append('run-1', 'progress', { step: 2 });
    events.append('run-1', 'analysis_completed', {});
    const { body, request } = await done;
    request.destroy();
    expect(body).toContain('event:progress\nid:3\n');
    expect(body).toContain('event:analysis_completed\nid:4\n');
  });

  it('answers 204 to a client that already has the terminal event, so EventSource stops retrying', async () => {
    const events = new MemoryEventSource();
    running(events);
    events.append('run-1', 'end', null);
    const { url, results } = await serve(events);
    const res = await get(`${url}/run-1`, { 'Last-Event-ID': '3' });
    expect(res.status).toBe(204);
    expect((await results[0])?.outcome).toBe('nothing_new');
  });

  it('sends keep-alive comments while no event arrives', async () => {
    const events = new MemoryEventSource();
    running(events);
    const { url } = await serve(events, { keepAliveMs: 10 });
    const { body, request } = await getUntil(`${url}/run-1`, (text) => text.includes('\n:\n'));
    request.destroy();
    expect(body.split('\n\n').slice(3, 4)).toEqual([':']);
  });

  it('stops following and releases its timers when the client disconnects', async () => {
    const events = new MemoryEventSource();
    running(events);
    const timersBefore = process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    const { url, results } = await serve(events, { keepAliveMs: 60_000 });
    const { request } = await getUntil(`${url}/run-1`, (body) => body.includes('id:2\n'));
    expect(events.activeFollows).toBe(1);
    request.destroy();
    const result = await results[0];
    expect(result).toMatchObject({ outcome: 'client_closed', sent: 2, lastSent: 2 });
    expect(events.activeFollows).toBe(0);
    expect(process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length).toBe(timersBefore);
  });

  it('answers 500 and reports the error when the log cannot be read', async () => {
    const events = new MemoryEventSource();
    const failure = new Error('disk on fire');
    events.lastCursor = async () => {
      throw failure;
    };
    const { url, results } = await serve(events);
    const res = await get(`${url}/run-1`);
    expect(res.status).toBe(500);
    expect(res.body).not.toContain('disk on fire');
    expect(await results[0]).toMatchObject({ outcome: 'error', error: failure });
  });

  it('ends the response early when the log fails mid-stream, after the events already sent', async () => {
    const events = new MemoryEventSource();
    running(events);
    const failure = new Error('log went away');
    const follow = events.follow.bind(events);
    events.follow = async function* (runId, options) {
      for await (const event of follow(runId, options)) {
        yield event;
        if (event.cursor === 1) throw failure;
      }
    };
    const { url, results } = await serve(events);
    const res = await get(`${url}/run-1`);
    // An SSE client reconnects after an ended stream and resumes after cursor 1.
    expect(res.body).toContain('id:1\n');
    expect(res.body).not.toContain('id:2\n');
    expect(await results[0]).toMatchObject({ outcome: 'error', sent: 1, lastSent: 1, error: failure });
  });
});
