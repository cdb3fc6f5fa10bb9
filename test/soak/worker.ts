// One soak worker: mixed operations on a shared root until SIGTERM (then it finishes its runs and
// exits) or SIGKILL (then it leaves whatever it was doing). Everything a store acknowledged is
// appended to this worker's own ack file (one JSON line per write syscall, so a SIGKILL loses at
// most a line that was never complete) for the checker to hold the stores to.
//
// argv: root ackFile workerId incarnation seed staleAfterMs
import * as fs from 'node:fs';
import { type AgentEvent, createStores, StoreError } from '../../src/index.js';
import { type Ack, PIPELINE_PATH, random, TERMINAL_OF } from './soak-common.js';

const [root, ackFile, workerArg, incarnationArg, seedArg, staleArg] = process.argv.slice(2);
const worker = Number(workerArg);
const incarnation = Number(incarnationArg);
const rand = random(Number(seedArg) * 1_000 + incarnation);
const staleAfterMs = Number(staleArg);
const prefix = `w${worker}i${incarnation}`;

const ackFd = fs.openSync(ackFile!, 'a');
function ack(record: Ack): void {
  fs.writeSync(ackFd, `${JSON.stringify(record)}\n`);
}

const stores = createStores({
  root: root!,
  runs: { staleAfterMs, lock: { waitMs: 15_000 } },
  events: {
    lock: { waitMs: 2_000 },
    onWarning: (warning) => ack({ op: 'repair', code: warning.code, runId: warning.runId }),
  },
  memory: { onWarning: (w) => ack({ op: 'repair', code: w.code }) },
  pipeline: { onWarning: (w) => ack({ op: 'repair', code: w.code }) },
});

interface LiveRun {
  runId: string;
  events: number;
}
const live: LiveRun[] = [];
let seq = 0;
let runCount = 0;
let memoryCount = 0;
let pipelineCount = 0;
const pipelines: { entryId: string; stage: number }[] = [];
const memories: string[] = [];

/** An operation failed: say with which code, so the report can tell expected refusals from bugs. */
function failed(what: string, error: unknown, runId?: string): void {
  const code =
    error instanceof StoreError ? error.code : `untyped:${(error as Error)?.name}:${(error as Error)?.message}`;
  ack({ op: 'error', what, code, ...(runId === undefined ? {} : { runId }) });
}

async function startRun(): Promise<void> {
  const runId = `${prefix}r${runCount++}`;
  await stores.runs.create({ runId, sessionId: `s${worker}`, question: 'soak' });
  ack({ op: 'run-created', runId });
  await stores.runs.start(runId);
  ack({ op: 'run-started', runId });
  live.push({ runId, events: 0 });
}

async function appendSome(run: LiveRun): Promise<void> {
  // Several appends in flight at once: the log commits them together.
  const count = 1 + Math.floor(rand() * 4);
  const pending = Array.from({ length: count }, () => {
    const mark = seq++;
    return stores.events
      .append(run.runId, { type: 'progress', payload: { seq: mark, pad: 'x'.repeat(Math.floor(rand() * 200)) } })
      .then((event) => {
        ack({ op: 'event', runId: run.runId, cursor: event.cursor, type: event.type, seq: mark });
        run.events++;
      })
      .catch((error) => failed('append', error, run.runId));
  });
  await Promise.all(pending);
}

async function heartbeatAll(): Promise<void> {
  for (const run of live) {
    try {
      const beat = await stores.runs.heartbeat(run.runId, { events: run.events });
      ack({ op: 'beat', runId: run.runId, at: beat.heartbeatAt! });
    } catch (error) {
      failed('heartbeat', error, run.runId);
      // A cleanup elsewhere judged it stale (this process stalled): it is not ours any more.
      if (error instanceof StoreError && error.code === 'ILLEGAL_TRANSITION') dropRun(run);
    }
  }
}

function dropRun(run: LiveRun): void {
  const index = live.indexOf(run);
  if (index >= 0) live.splice(index, 1);
}

async function finishRun(run: LiveRun): Promise<void> {
  dropRun(run);
  const pick = rand();
  const status = pick < 0.7 ? 'completed' : pick < 0.85 ? 'failed' : 'cancelled';
  try {
    if (status === 'completed') await stores.runs.complete(run.runId, { events: run.events });
    else if (status === 'failed') await stores.runs.fail(run.runId, 'soak failure');
    else await stores.runs.cancel(run.runId, 'soak cancel');
    ack({ op: 'run-finished', runId: run.runId, status, type: TERMINAL_OF[status]! });
  } catch (error) {
    failed('finish', error, run.runId);
  }
}

async function memoryOp(): Promise<void> {
  const pick = rand();
  if (pick < 0.45 || memories.length === 0) {
    const entryId = `${prefix}m${memoryCount++}`;
    const tags = ['alpha', 'beta', 'gamma'].filter(() => rand() < 0.5);
    await stores.memory.save({
      entryId,
      scope: 'project',
      projectKey: 'soak',
      tags,
      insight: `insight ${entryId}`,
      confidence: rand(),
    });
    ack({ op: 'mem-saved', entryId, insight: `insight ${entryId}` });
    memories.push(entryId);
  } else if (pick < 0.7) {
    const hits = await stores.memory.recall({ projectKey: 'soak', tags: ['alpha'], topK: 5 });
    ack({ op: 'mem-recalled', count: hits.length });
  } else if (pick < 0.82) {
    const entryId = memories[Math.floor(rand() * memories.length)]!;
    const status = await stores.memory.applyFeedback(entryId, rand() < 0.7 ? 'positive' : 'negative');
    ack({ op: 'mem-feedback', entryId, status });
  } else if (pick < 0.92) {
    const entryId = memories.splice(Math.floor(rand() * memories.length), 1)[0]!;
    await stores.memory.promote(entryId, {
      fromScope: 'project',
      toScope: 'world',
      trigger: 'reviewer_approval',
      reviewer: `worker ${worker}`,
    });
    ack({ op: 'mem-promoted', entryId });
  } else {
    const entryId = memories.splice(Math.floor(rand() * memories.length), 1)[0]!;
    // Said before the call: a kill after the removal but before its ack must not read as a loss.
    ack({ op: 'mem-removing', entryId });
    await stores.memory.remove(entryId);
    ack({ op: 'mem-removed', entryId });
  }
}

async function pipelineOp(): Promise<void> {
  const open = pipelines.filter((p) => p.stage < PIPELINE_PATH.length - 1);
  if (open.length === 0 || rand() < 0.3) {
    const entryId = `${prefix}p${pipelineCount++}`;
    await stores.pipeline.create({ entryId, feedbackId: `f-${entryId}` });
    ack({ op: 'pipe-created', entryId });
    pipelines.push({ entryId, stage: 0 });
    return;
  }
  const entry = open[Math.floor(rand() * open.length)]!;
  const stage = PIPELINE_PATH[entry.stage + 1]!;
  await stores.pipeline.advance(entry.entryId, { stage, reviewer: `worker ${worker}` } as never);
  entry.stage++;
  ack({ op: 'pipe-advanced', entryId: entry.entryId, stage });
}

async function cleanup(): Promise<void> {
  const report = await stores.runs.cleanup({ retentionMs: 1e12 });
  ack({ op: 'cleanup', abandoned: report.abandoned });
}

/** Follows another worker's run for a moment: cursors must come 1, 2, 3… with no gap. */
async function follow(): Promise<void> {
  const ids = (await stores.events.runIds()).filter((id) => !id.startsWith(`${prefix}r`));
  if (ids.length === 0) return;
  const runId = ids[Math.floor(rand() * ids.length)]!;
  const signal = AbortSignal.timeout(300 + Math.floor(rand() * 700));
  let last = 0;
  let gap = false;
  const seen: number[] = [];
  try {
    for await (const event of stores.events.follow(runId, { signal }) as AsyncIterable<AgentEvent>) {
      seen.push(event.cursor);
      if (event.cursor !== last + 1) gap = true;
      last = event.cursor;
    }
  } catch (error) {
    failed('follow', error, runId);
    return;
  }
  ack({ op: 'followed', runId, upTo: last, gap, ...(gap ? { seen } : {}) });
}

async function step(): Promise<void> {
  const pick = rand();
  try {
    if (live.length < 3 && pick < 0.15) await startRun();
    else if (live.length > 0 && pick < 0.5) await appendSome(live[Math.floor(rand() * live.length)]!);
    else if (live.length > 0 && pick < 0.56) {
      const run = live[Math.floor(rand() * live.length)]!;
      if (run.events > 0) await finishRun(run);
    } else if (pick < 0.72) await memoryOp();
    else if (pick < 0.86) await pipelineOp();
    else if (pick < 0.9) await cleanup();
    else if (pick < 0.95) await follow();
    else await heartbeatAll();
  } catch (error) {
    failed('step', error);
  }
}

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
});

ack({ op: 'started', worker, incarnation, pid: process.pid });
let lastBeat = Date.now();
while (!stopping) {
  await step();
  // Runs stay alive while this process is: heartbeat well within staleAfterMs.
  if (Date.now() - lastBeat > staleAfterMs / 5) {
    lastBeat = Date.now();
    await heartbeatAll();
  }
}
for (const run of [...live]) {
  if (run.events === 0) await appendSome(run);
  await finishRun(run);
}
await stores.close();
ack({ op: 'stopped', worker, incarnation });
fs.closeSync(ackFd);
process.exit(0);
