import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type RunEventsError,
  type StreamRunEventsOptions,
  type StreamRunEventsResult,
  streamRunEvents,
} from '../../src/sse/index.js';
import { MemoryEventSource, MemoryRunSource } from './memory-event-source.js';

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

  it('gives the id rule in the body of a 400', async () => {
    const { url } = await serve(new MemoryEventSource());
    const res = await get(`${url}/${encodeURIComponent('../x')}`);
    expect(JSON.parse(res.body).error.message).toBe(
      'run id "../x" is not valid: use 1 to 128 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit',
    );
  });

  it('sends the body errorBody returns for a 400, 404 and 500, with the status unchanged', async () => {
    const events = new MemoryEventSource();
    const seen: RunEventsError[] = [];
    const errorBody = (error: RunEventsError) => {
      seen.push(error);
      return { ok: false, problem: { kind: error.code, detail: error.message } };
    };
    const { url } = await serve(events, { errorBody });
    const invalid = await get(`${url}/${encodeURIComponent('../x')}`);
    const missing = await get(`${url}/missing`);
    events.isSealed = async () => {
      throw new Error('disk on fire');
    };
    running(events);
    const failed = await get(`${url}/run-1`);
    expect([invalid.status, missing.status, failed.status]).toEqual([400, 404, 500]);
    expect(JSON.parse(missing.body)).toEqual({
      ok: false,
      problem: { kind: 'NOT_FOUND', detail: 'run "missing" has no events' },
    });
    expect(JSON.parse(invalid.body).problem.kind).toBe('INVALID_ID');
    expect(JSON.parse(failed.body).problem.kind).toBe('INTERNAL');
    expect(failed.headers['content-type']).toMatch(/^application\/json/);
    expect(seen[2]?.cause).toEqual(new Error('disk on fire'));
  });

  it('sends the default error body when errorBody throws', async () => {
    const { url } = await serve(new MemoryEventSource(), {
      errorBody: () => {
        throw new Error('bad hook');
      },
    });
    const res = await get(`${url}/missing`);
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body).error.code).toBe('NOT_FOUND');
  });

  it('streams a run the run store knows but that has no event yet, from its first event', async () => {
    const events = new MemoryEventSource();
    const runs = new MemoryRunSource({ 'run-1': 'pending' });
    const { url, results } = await serve(events, { runs });
    const done = get(`${url}/run-1`);
    await vi.waitFor(() => expect(events.activeFollows).toBe(1));
    events.append('run-1', 'analysis_started', {});
    events.append('run-1', 'analysis_completed', {});
    const res = await done;
    expect(res.status).toBe(200);
    expect(res.body).toContain('event:analysis_started\nid:1\n');
    expect(await results[0]).toMatchObject({ outcome: 'terminal', sent: 2 });
  });

  it('answers 404 for a run that neither the event log nor the run store knows', async () => {
    const events = new MemoryEventSource();
    const runs = new MemoryRunSource({ 'run-1': 'running' });
    const { url, results } = await serve(events, { runs });
    const res = await get(`${url}/run-2`);
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body).error.message).toBe('run "run-2" is not known');
    expect((await results[0])?.outcome).toBe('not_found');
  });

  it('answers 204 for a run that ended without any event, since none will come', async () => {
    const runs = new MemoryRunSource({ 'run-1': 'cancelled' });
    const { url, results } = await serve(new MemoryEventSource(), { runs });
    const res = await get(`${url}/run-1`);
    expect(res.status).toBe(204);
    expect((await results[0])?.outcome).toBe('nothing_new');
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

  it('keeps the headers middleware set on res and adds those of the headers option', async () => {
    const events = new MemoryEventSource();
    running(events);
    events.append('run-1', 'end', null);
    const server = http.createServer((req, res) => {
      res.setHeader('access-control-allow-origin', 'https://app.example');
      void streamRunEvents(req, res, { events, runId: 'run-1', headers: { 'x-request-id': 'r-7', vary: undefined } });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const res = await get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(res.headers['x-request-id']).toBe('r-7');
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
  });

  it('adds the headers option to the 204 and the error answers too', async () => {
    const events = new MemoryEventSource();
    running(events);
    events.append('run-1', 'end', null);
    const headers = { 'access-control-allow-origin': '*' };
    const { url } = await serve(events, { headers });
    const gone = await get(`${url}/run-1`, { 'Last-Event-ID': '3' });
    const missing = await get(`${url}/missing`);
    expect([gone.status, missing.status]).toEqual([204, 404]);
    expect(gone.headers['access-control-allow-origin']).toBe('*');
    expect(missing.headers['access-control-allow-origin']).toBe('*');
  });

  it('answers 500 without streaming when a header of the headers option is not valid', async () => {
    const events = new MemoryEventSource();
    running(events);
    const { url, results } = await serve(events, { headers: { 'x-bad': 'line\nbreak' } });
    const res = await get(`${url}/run-1`);
    expect(res.status).toBe(500);
    expect(events.calls).toEqual([]);
    expect((await results[0])?.outcome).toBe('error');
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
    // The keep-alive interval is watched by its handle: a count of the process's timers also moves
    // when a timer of an earlier test (a socket's, a server's) runs out meanwhile.
    const setSpy = vi.spyOn(globalThis, 'setInterval');
    const clearSpy = vi.spyOn(globalThis, 'clearInterval');
    try {
      const { url, results } = await serve(events, { keepAliveMs: 60_000 });
      const { request } = await getUntil(`${url}/run-1`, (body) => body.includes('id:2\n'));
      expect(events.activeFollows).toBe(1);
      const keepAlives = setSpy.mock.calls.flatMap((call, index) =>
        call[1] === 60_000 ? [setSpy.mock.results[index]?.value] : [],
      );
      expect(keepAlives).toHaveLength(1);
      request.destroy();
      const result = await results[0];
      expect(result).toMatchObject({ outcome: 'client_closed', sent: 2, lastSent: 2 });
      expect(events.activeFollows).toBe(0);
      expect(clearSpy.mock.calls.map((call) => call[0])).toContain(keepAlives[0]);
    } finally {
      setSpy.mockRestore();
      clearSpy.mockRestore();
    }
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

  it('reports an error, not the end of the run, when the follow stops before the terminal event', async () => {
    const events = new MemoryEventSource();
    running(events);
    const follow = events.follow.bind(events);
    // What a follow does when its store is closed under it: it just ends.
    events.follow = async function* (runId, options) {
      for await (const event of follow(runId, options)) {
        yield event;
        if (event.cursor === 2) return;
      }
    };
    const { url, results } = await serve(events);
    const res = await get(`${url}/run-1`);
    expect(res.body).toContain('id:2\n');
    const result = await results[0];
    expect(result).toMatchObject({ outcome: 'error', sent: 2, lastSent: 2 });
    expect(String(result?.error)).toMatch(/ended before the terminal event of run "run-1"/);
  });
});
