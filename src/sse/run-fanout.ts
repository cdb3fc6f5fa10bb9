// One live follow per run and event source, shared by every SSE client of that run in this
// process: each event is read, parsed and serialised once, and the same bytes go to every client.
import { loadBetterSse, loadedBetterSse } from './load-better-sse.js';
import type { RunEventSource, StreamableEvent } from './run-events.js';

/** One event as it goes on the wire, with its cursor. The bytes are shared: never mutate them. */
export interface Frame {
  cursor: number;
  bytes: Uint8Array;
}

/**
 * How many frames, and bytes, the shared follow keeps for clients that are behind. A client that
 * falls further behind (a slow socket) reads from the log on its own until it has caught up, as
 * every client did before the follow was shared: the server never buffers a run for it.
 */
export const FANOUT_MAX_FRAMES = 1024;
export const FANOUT_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Frames read in one turn of the event loop go to the clients that have caught up in one write,
 * up to this many bytes: a client that stops reading has at most this (or one larger frame)
 * queued in its socket's buffer before it is held back.
 */
export const FANOUT_BATCH_BYTES = 64 * 1024;

/** The SSE frame of an event: `event:`, `id:` and `data:` (the payload as JSON). Needs better-sse loaded. */
export function eventFrame(event: StreamableEvent): Frame {
  const text = loadedBetterSse().createEventBuffer().push(event.payload, event.type, String(event.cursor)).read();
  return { cursor: event.cursor, bytes: Buffer.from(text, 'utf8') };
}

/**
 * Frames read one after the other, handed together to the clients that have caught up: one write
 * per client for all of them. Its bytes (and their HTTP/1.1 chunk) are built once, on first use,
 * and shared by every client: never mutate them.
 */
export class FrameBatch {
  /** Sequence number of the first frame in the run's shared follow. */
  readonly seq: number;
  readonly frames: readonly Frame[];
  #bytes: Buffer | undefined;
  #chunk: Buffer | undefined;

  constructor(seq: number, frames: readonly Frame[]) {
    this.seq = seq;
    this.frames = frames;
  }

  /** The frames' bytes, one after the other. */
  get bytes(): Buffer {
    this.#bytes ??=
      this.frames.length === 1
        ? Buffer.from(this.frames[0]!.bytes.buffer, this.frames[0]!.bytes.byteOffset, this.frames[0]!.bytes.byteLength)
        : Buffer.concat(this.frames.map((frame) => frame.bytes));
    return this.#bytes;
  }

  /** The bytes as one HTTP/1.1 chunk (`<size in hex>\r\n<bytes>\r\n`), as `res.write` would frame them. */
  get chunk(): Buffer {
    if (this.#chunk === undefined) {
      const bytes = this.bytes;
      const head = `${bytes.byteLength.toString(16)}\r\n`;
      const chunk = Buffer.allocUnsafe(head.length + bytes.byteLength + 2);
      chunk.write(head, 0, 'latin1');
      bytes.copy(chunk, head.length);
      chunk.write('\r\n', head.length + bytes.byteLength, 'latin1');
      this.#chunk = chunk;
    }
    return this.#chunk;
  }
}

/** The shared follows of each event source, by run id. */
const fanouts = new WeakMap<RunEventSource, Map<string, RunFanout>>();

/**
 * The shared follow of one run: reads the next event only when a client asks for one past what it
 * holds (so it goes at the pace of its fastest client, and a stalled one holds nobody back), and
 * keeps the last frames for the clients that are behind.
 */
class RunFanout {
  readonly #events: RunEventSource;
  readonly #runId: string;
  readonly #stop = new AbortController();
  #iterator: AsyncIterator<StreamableEvent> | undefined;
  readonly #frames: Frame[] = [];
  /** Sequence number of `#frames[0]`: frames are numbered from 0 in the order they were read. */
  #base = 0;
  #bytes = 0;
  /** Everything the follow read after this cursor is still in `#frames`. */
  #heldAfter: number;
  #reading: Promise<void> | undefined;
  #ended: { error?: unknown } | undefined;
  #waiters: (() => void)[] = [];
  /** Called with the frames read since the last call (and with `undefined` when the follow ends), in order. */
  readonly #live = new Set<(batch: FrameBatch | undefined) => void>();
  /** Frames read but not yet handed to `#live`, from sequence number `#pendingSeq` on. */
  #pending: Frame[] = [];
  #pendingSeq = 0;
  #pendingBytes = 0;
  #flushing: NodeJS.Immediate | undefined;
  #subscribers = 0;

  constructor(events: RunEventSource, runId: string, after: number) {
    this.#events = events;
    this.#runId = runId;
    this.#heldAfter = after;
  }

  /** Sequence number the next frame read will get. */
  get head(): number {
    return this.#base + this.#frames.length;
  }

  /** True once the follow ended (the terminal event was read, or it failed, or it was stopped). */
  get ended(): boolean {
    return this.#ended !== undefined;
  }

  subscribe(): void {
    this.#subscribers += 1;
  }

  /** Drops a subscriber; the last one out stops the follow and resolves once it is released. */
  async unsubscribe(): Promise<void> {
    this.#subscribers -= 1;
    if (this.#subscribers > 0) return;
    this.#forget();
    this.#stop.abort();
    this.#wake();
    const reading = this.#reading;
    if (reading) await reading;
    await this.#iterator?.return?.()?.catch(() => {});
  }

  /** Sequence number of the first frame after `cursor`, or `undefined` when those frames are no longer held. */
  seqAfter(cursor: number): number | undefined {
    if (cursor < this.#heldAfter) return undefined;
    let low = 0;
    let high = this.#frames.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.#frames[mid]!.cursor <= cursor) low = mid + 1;
      else high = mid;
    }
    return this.#base + low;
  }

  /** The frames from sequence number `seq` to the newest, or `undefined` when `seq` is no longer held. */
  framesFrom(seq: number): Frame[] | undefined {
    if (seq < this.#base) return undefined;
    return this.#frames.slice(seq - this.#base);
  }

  /**
   * Resolves `true` once there is a frame at `seq`, `false` when the follow ended first or `wake`
   * was called (the caller checks why); rejects with the follow's failure.
   */
  async next(seq: number, onWait: (wake: () => void) => void): Promise<boolean> {
    if (this.hasFrameAt(seq)) return true;
    if (this.#ended) return false;
    this.#pump();
    await new Promise<void>((resolve) => {
      this.#waiters.push(resolve);
      onWait(resolve);
    });
    return this.hasFrameAt(seq);
  }

  /**
   * Calls `listener` with the frames read from now on, and with `undefined` when the follow ends;
   * keeps the follow reading while any listener is attached. Returns the detach. Frames read in
   * one turn of the event loop come in one batch (its first ones may be frames read just before
   * `attach`): while the process is busy writing to many clients, the events that arrive meanwhile
   * go out together, one write per client instead of one per event and client.
   * Not for a follow that has already ended (see {@link RunFanout.ended}).
   */
  attach(listener: (batch: FrameBatch | undefined) => void): () => void {
    this.#live.add(listener);
    this.#pump();
    return () => {
      this.#live.delete(listener);
    };
  }

  /** Whether there is a frame at `seq`; throws the follow's failure when it ended with one. */
  hasFrameAt(seq: number): boolean {
    if (seq < this.head) return true;
    if (this.#ended && 'error' in this.#ended) throw this.#ended.error;
    return false;
  }

  #pump(): void {
    if (this.#reading || this.#ended) return;
    this.#reading = (async () => {
      try {
        this.#iterator ??= this.#events
          .follow(this.#runId, { after: this.#heldAfter, signal: this.#stop.signal })
          [Symbol.asyncIterator]();
        const step = await this.#iterator.next();
        if (step.done) this.#ended = {};
        else this.#push(eventFrame(step.value));
      } catch (error) {
        this.#ended = this.#stop.signal.aborted ? {} : { error };
      } finally {
        this.#reading = undefined;
        // A run whose follow is over gets a fresh one for the clients that come next.
        if (this.#ended) {
          this.#forget();
          this.#flush();
          for (const listener of this.#live) listener(undefined);
        }
        this.#wake();
        if (this.#live.size > 0) this.#pump();
      }
    })();
  }

  #push(frame: Frame): void {
    if (this.#pending.length > 0 && this.#pendingBytes + frame.bytes.byteLength > FANOUT_BATCH_BYTES) this.#flush();
    if (this.#pending.length === 0) this.#pendingSeq = this.head;
    this.#pending.push(frame);
    this.#pendingBytes += frame.bytes.byteLength;
    this.#flushing ??= setImmediate(this.#flush);
    this.#frames.push(frame);
    this.#bytes += frame.bytes.byteLength;
    while (this.#frames.length > FANOUT_MAX_FRAMES || (this.#bytes > FANOUT_MAX_BYTES && this.#frames.length > 1)) {
      const old = this.#frames.shift()!;
      this.#bytes -= old.bytes.byteLength;
      this.#base += 1;
      this.#heldAfter = old.cursor;
    }
  }

  /** Hands the frames read since the last flush to the listeners, as one batch. */
  readonly #flush = (): void => {
    clearImmediate(this.#flushing);
    this.#flushing = undefined;
    if (this.#pending.length === 0) return;
    const batch = new FrameBatch(this.#pendingSeq, this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    for (const listener of this.#live) listener(batch);
  };

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  #forget(): void {
    const runs = fanouts.get(this.#events);
    if (runs?.get(this.#runId) === this) runs.delete(this.#runId);
  }
}

/** The run's shared follow, created (starting after `after`) when it has none that is still going. */
function fanoutOf(events: RunEventSource, runId: string, after: number): RunFanout {
  let runs = fanouts.get(events);
  if (!runs) {
    runs = new Map();
    fanouts.set(events, runs);
  }
  let fanout = runs.get(runId);
  if (!fanout || fanout.ended) {
    fanout = new RunFanout(events, runId, after);
    runs.set(runId, fanout);
  }
  return fanout;
}

/** Where {@link runFrames} writes the frames of a client that has caught up, as they are read. */
export interface DirectSink {
  /** Writes the batch's frames; `false` when the client must drain before it gets more. */
  write(batch: FrameBatch): boolean;
  /** Resolves once the client can take more, or is gone. */
  drained(): Promise<void>;
}

/**
 * The frames of a run's events after `after`, in batches, for one client: from the run's shared
 * follow when it still holds them, otherwise read from the log for this client alone (a client
 * that joins far behind, or fell behind) until the shared follow holds what comes next. Ends after
 * the follow ends (the terminal event, a closed store) or when `signal` aborts; throws what the
 * follow throws. With `direct`, a client that has caught up gets each frame written to it the
 * moment it is read (no step through this generator per frame) until it needs to drain.
 */
export async function* runFrames(
  events: RunEventSource,
  runId: string,
  after: number,
  signal: AbortSignal,
  direct?: DirectSink,
): AsyncGenerator<Frame[], void, undefined> {
  // The frames are better-sse's: loaded here, before the first one (at once when a stream loaded it).
  await loadBetterSse();
  const fanout = fanoutOf(events, runId, after);
  fanout.subscribe();
  let wake: (() => void) | undefined;
  const onAbort = () => wake?.();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    let position = after;
    let seq = fanout.seqAfter(position);
    while (!signal.aborted) {
      const batch = seq === undefined ? undefined : fanout.framesFrom(seq);
      if (seq === undefined || batch === undefined) {
        // Behind what the shared follow holds: catch up from the log, then switch over at the
        // first cursor it holds the next frame of, so no event is skipped or sent twice.
        let caughtUp = false;
        for await (const event of events.follow(runId, { after: position, signal })) {
          if (signal.aborted) return;
          yield [eventFrame(event)];
          position = event.cursor;
          seq = fanout.seqAfter(position);
          if (seq !== undefined) {
            caughtUp = true;
            break;
          }
        }
        if (!caughtUp) return;
        continue;
      }
      if (batch.length > 0) {
        seq += batch.length;
        const fresh = batch[0]!.cursor > position ? batch : batch.filter((frame) => frame.cursor > position);
        if (fresh.length === 0) continue;
        position = fresh.at(-1)!.cursor;
        yield fresh;
        continue;
      }
      if (direct) {
        // Throws the follow's failure, if that is how it ended.
        if (fanout.ended) return void fanout.hasFrameAt(seq);
        // Caught up: take the frames as the shared follow reads them, until the sink is full.
        let full = false;
        await new Promise<void>((resolve) => {
          const stop = () => {
            detach();
            resolve();
          };
          const detach = fanout.attach((batch) => {
            if (batch === undefined || signal.aborted) return stop();
            // Frames this client already took from the shared window, before it attached.
            const skip = (seq as number) - batch.seq;
            // A gap (never expected): back to the shared window, which holds what is missing.
            if (skip < 0) return stop();
            if (skip >= batch.frames.length) return;
            seq = batch.seq + batch.frames.length;
            let fresh = batch;
            if (skip > 0 || batch.frames[0]!.cursor <= position) {
              const frames = batch.frames.slice(skip).filter((frame) => frame.cursor > position);
              if (frames.length === 0) return;
              fresh = new FrameBatch(batch.seq + skip, frames);
            }
            position = fresh.frames.at(-1)!.cursor;
            let room = false;
            try {
              room = direct.write(fresh);
            } catch {
              // The socket is gone: its close aborts `signal`.
            }
            if (!room) {
              full = true;
              stop();
            }
          });
          wake = stop;
        });
        wake = undefined;
        if (full) await direct.drained();
        else if (!signal.aborted && !fanout.hasFrameAt(seq)) return;
        continue;
      }
      const more = await fanout.next(seq, (resolve) => {
        wake = resolve;
      });
      wake = undefined;
      if (!more && !signal.aborted && fanout.ended) return;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    await fanout.unsubscribe();
  }
}
