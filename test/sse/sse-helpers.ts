// Helpers for the SSE tests that run a real server: a raw GET, an EventSource that records what it
// saw, and a tracker of the timers and file watchers our code holds.
import { createHook } from 'node:async_hooks';
import * as http from 'node:http';
import { EventSource } from 'eventsource';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** GETs the url and collects the body until the server ends it. */
export function get(url: string, headers: Record<string, string> = {}): Promise<RawResponse> {
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

export interface Seen {
  cursor: number;
  type: string;
  payload: unknown;
}

export interface Connection {
  client: EventSource;
  seen: Seen[];
  /** Status and headers of every response the client got, in order (one per connection). */
  responses: { status: number; headers: Headers; lastEventId: string | null }[];
}

/** An `eventsource` client for the url, sending `Origin`, recording events and responses. */
export function connect(url: string, types: readonly string[], origin = 'https://app.example'): Connection {
  const seen: Seen[] = [];
  const responses: Connection['responses'] = [];
  const client = new EventSource(url, {
    fetch: async (input, init) => {
      const headers: Record<string, string> = { ...(init.headers as Record<string, string>), origin };
      const response = await fetch(input, { ...init, headers });
      responses.push({
        status: response.status,
        headers: response.headers,
        lastEventId: headers['Last-Event-ID'] ?? null,
      });
      return response;
    },
  });
  for (const type of types) {
    client.addEventListener(type, (event: MessageEvent) => {
      seen.push({ cursor: Number(event.lastEventId), type: event.type, payload: JSON.parse(String(event.data)) });
    });
  }
  return { client, seen, responses };
}

/**
 * Timers and file watchers created, while tracking, by the library (src/) or better-sse, and not
 * destroyed yet. Node's, undici's and the frameworks' own timers are left out: not ours to free.
 */
export function trackHandlesFromOurCode() {
  const kinds = new Set(['Timeout', 'FSEVENTWRAP', 'STATWATCHER']);
  const live = new Map<number, string>();
  const hook = createHook({
    init(id, type) {
      if (!kinds.has(type)) return;
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 40;
      const stack = new Error().stack ?? '';
      Error.stackTraceLimit = limit;
      if (/[/\\]src[/\\](sse|events|runs|storage)[/\\]|better-sse/.test(stack)) live.set(id, type);
    },
    destroy(id) {
      live.delete(id);
    },
  }).enable();
  return {
    kinds: () => [...live.values()].sort(),
    stop: () => {
      hook.disable();
    },
  };
}
