// runEventsResponse, the Fetch API variant, called directly with a Request: what its Response
// holds, how its body is pulled, and what it releases. The same behaviour through a real server
// (Hono on @hono/node-server) is in frameworks.test.ts.
import { describe, expect, it, vi } from 'vitest';
import { type RunEventsResponseOptions, runEventsResponse, type StreamRunEventsResult } from '../../src/sse/index.js';
import { MemoryEventSource, MemoryRunSource } from './memory-event-source.js';
import { trackHandlesFromOurCode } from './sse-helpers.js';

const URL_OF = (runId: string) => `http://localhost/runs/${runId}/events`;

function running(events: MemoryEventSource, runId = 'run-1'): void {
  events.append(runId, 'analysis_started', { question: 'why?' });
  events.append(runId, 'progress', { step: 1 });
}

async function respond(
  events: MemoryEventSource,
  extra: Partial<RunEventsResponseOptions> = {},
  init: RequestInit & { url?: string } = {},
): Promise<{ response: Response; ended: StreamRunEventsResult[] }> {
  const ended: StreamRunEventsResult[] = [];
  const request = new Request(init.url ?? URL_OF('run-1'), init);
  const response = await runEventsResponse(request, { events, runId: 'run-1', onEnd: (r) => ended.push(r), ...extra });
  return { response, ended };
}

describe('runEventsResponse', () => {
  it('streams the same bytes as streamRunEvents: retry line, then id, event and data per event', async () => {
    const events = new MemoryEventSource();
    running(events);
    events.append('run-1', 'analysis_completed', { reportUrl: '/reports/run-1' });
    const { response, ended } = await respond(events, { retryMs: 1234 });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await response.text()).toBe(
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
    expect(ended).toEqual([{ outcome: 'terminal', status: 200, sent: 3, after: 0, lastSent: 3 }]);
  });

  it('replays only the events after Last-Event-ID, or after ?lastEventId= without the header', async () => {
    const events = new MemoryEventSource();
    running(events);
    events.append('run-1', 'end', null);
    const byHeader = await respond(events, {}, { headers: { 'last-event-id': '2' } });
    const byQuery = await respond(events, {}, { url: `${URL_OF('run-1')}?lastEventId=1` });
    expect(await byHeader.response.text()).not.toContain('id:2\n');
    expect(await byQuery.response.text()).toContain('id:2\n');
    expect(events.calls).toContain('follow run-1 after 2');
    expect(events.calls).toContain('follow run-1 after 1');
  });

  it('answers 400 with the id rule, 404 for an unknown run and 204 after the end, with the headers option', async () => {
    const events = new MemoryEventSource();
    running(events);
    events.append('run-1', 'end', null);
    const headers = { 'access-control-allow-origin': '*' };
    const invalid = await respond(events, { headers, runId: '../x' });
    const missing = await respond(events, { headers, runId: 'run-2' });
    const gone = await respond(events, { headers }, { headers: { 'last-event-id': '3' } });
    expect([invalid.response.status, missing.response.status, gone.response.status]).toEqual([400, 404, 204]);
    expect(((await invalid.response.json()) as { error: { message: string } }).error.message).toMatch(
      /is not valid: use 1 to 128 characters/,
    );
    expect(((await missing.response.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    for (const { response } of [invalid, missing, gone]) {
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
      expect(response.headers.get('content-type') ?? '').not.toMatch(/event-stream/);
    }
    expect([invalid, missing, gone].map(({ ended }) => ended[0]?.outcome)).toEqual([
      'invalid_run_id',
      'not_found',
      'nothing_new',
    ]);
  });

  it('shapes the error body with errorBody', async () => {
    const { response } = await respond(new MemoryEventSource(), {
      runId: 'run-2',
      errorBody: ({ code, message }) => ({ errors: [{ code, message }] }),
    });
    expect(await response.json()).toEqual({ errors: [{ code: 'NOT_FOUND', message: 'run "run-2" has no events' }] });
  });

  it('streams a run the run store knows but that has no event yet, from its first event', async () => {
    const events = new MemoryEventSource();
    const { response } = await respond(events, { runs: new MemoryRunSource({ 'run-1': 'running' }) });
    expect(response.status).toBe(200);
    const text = response.text();
    await vi.waitFor(() => expect(events.activeFollows).toBe(1));
    events.append('run-1', 'analysis_started', {});
    events.append('run-1', 'error', { message: 'boom' });
    expect(await text).toContain('event:analysis_started\nid:1\n');
  });

  it('reads the next event from the log only when the client has taken the previous one', async () => {
    const events = new MemoryEventSource();
    for (let step = 1; step <= 50; step++) events.append('run-1', 'progress', { step });
    let yielded = 0;
    const follow = events.follow.bind(events);
    events.follow = async function* (runId, options) {
      for await (const event of follow(runId, options)) {
        yielded += 1;
        yield event;
      }
    };
    const { response } = await respond(events, { retryMs: null });
    const reader = response.body!.getReader();
    await reader.read();
    await reader.read();
    // Give an eager producer every chance to run ahead.
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(yielded).toBeLessThanOrEqual(3);
    await reader.cancel();
  });

  it('ends the follow and its keep-alive timer when request.signal aborts', async () => {
    const events = new MemoryEventSource();
    running(events);
    const held = trackHandlesFromOurCode();
    const client = new AbortController();
    const { response, ended } = await respond(events, { keepAliveMs: 60_000 }, { signal: client.signal });
    const reader = response.body!.getReader();
    await reader.read(); // retry line
    await reader.read(); // event 1
    expect(events.activeFollows).toBe(1);
    expect(held.kinds()).toEqual(['Timeout']); // the keep-alive
    client.abort();
    await vi.waitFor(() => expect(events.activeFollows).toBe(0));
    expect(ended).toEqual([{ outcome: 'client_closed', status: 200, sent: 1, after: 0, lastSent: 1 }]);
    await vi.waitFor(() => expect(held.kinds()).toEqual([]));
    held.stop();
  });

  it('ends the follow when the body is cancelled', async () => {
    const events = new MemoryEventSource();
    running(events);
    const { response, ended } = await respond(events);
    const reader = response.body!.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    await vi.waitFor(() => expect(events.activeFollows).toBe(0));
    expect(ended[0]?.outcome).toBe('client_closed');
  });

  it('sends keep-alive comments while no event arrives', async () => {
    const events = new MemoryEventSource();
    running(events);
    const { response } = await respond(events, { keepAliveMs: 10, retryMs: null });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes(':\n\n')) text += (await reader.read()).value;
    await reader.cancel();
    expect(text).toContain('id:2\n');
  });

  it('ends the body after the events already sent when the log fails mid-stream', async () => {
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
    const { response, ended } = await respond(events);
    const text = await response.text();
    expect(text).toContain('id:1\n');
    expect(text).not.toContain('id:2\n');
    expect(ended).toEqual([{ outcome: 'error', status: 200, sent: 1, after: 0, lastSent: 1, error: failure }]);
  });

  it('answers 500 without the failure in the body when the log cannot be read', async () => {
    const events = new MemoryEventSource();
    events.lastCursor = async () => {
      throw new Error('disk on fire');
    };
    const { response, ended } = await respond(events);
    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain('disk on fire');
    expect(ended[0]).toMatchObject({ outcome: 'error', error: new Error('disk on fire') });
  });

  it('reports an error, not the end of the run, when the follow stops before the terminal event', async () => {
    const events = new MemoryEventSource();
    running(events);
    const follow = events.follow.bind(events);
    events.follow = async function* (runId, options) {
      for await (const event of follow(runId, options)) {
        yield event;
        if (event.cursor === 2) return;
      }
    };
    const { response, ended } = await respond(events);
    expect(await response.text()).toContain('id:2\n');
    expect(ended[0]).toMatchObject({ outcome: 'error', sent: 2, lastSent: 2 });
    expect(String(ended[0]?.error)).toMatch(/ended before the terminal event of run "run-1"/);
  });
});
