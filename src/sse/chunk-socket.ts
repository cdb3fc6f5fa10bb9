import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** The fields of node's `OutgoingMessage` that say where the next byte of a response goes. */
interface OutgoingState {
  chunkedEncoding?: boolean;
  _headerSent?: boolean;
  outputSize?: number;
}

let plainWrite: ServerResponse['write'] | undefined;

/**
 * The socket of `res` when a ready HTTP/1.1 chunk may be written to it directly, bypassing
 * `res.write` (which costs several stream writes and a `nextTick` per call, for the same bytes):
 * the headers are on the socket, the body is chunked, nothing of the response waits in its own
 * buffer, the socket serves this response (no pipelined one ahead of it) and `res.write` is
 * node's own (a compression middleware, say, replaces it: its bytes must go through it).
 * Otherwise `undefined`, and the caller writes through `res`. The bytes on the wire are the same.
 */
export function chunkSocket(res: ServerResponse): Socket | undefined {
  plainWrite ??= process.getBuiltinModule('node:http').OutgoingMessage.prototype.write;
  const socket = res.socket;
  const state = res as unknown as OutgoingState;
  if (
    socket === null ||
    res.write !== plainWrite ||
    state.chunkedEncoding !== true ||
    state._headerSent !== true ||
    state.outputSize !== 0 ||
    (socket as { _httpMessage?: unknown })._httpMessage !== res ||
    !socket.writable
  ) {
    return undefined;
  }
  return socket;
}
