// A stand-in for an AI analysis agent, run by the demo in its own process: it starts a run,
// keeps its heartbeat fresh, writes progress events, and completes the run with a report link.
// It prints one line per step (`started`, `progress N`, `completed`) on stdout so the demo can follow along (and pick a moment to kill it).
//
//   tsx examples/simulated-agent.ts --root DIR --run RUN_ID --steps 8 --step-ms 150 [--complete]
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
// In your own code: import { createStores } from 'agent-stores';
import { createStores } from '../src/index.js';

const { values } = parseArgs({
  options: {
    root: { type: 'string', default: 'logs' },
    run: { type: 'string' },
    steps: { type: 'string', default: '8' },
    'step-ms': { type: 'string', default: '150' },
    complete: { type: 'boolean', default: false },
  },
});
const runId = values.run;
if (!runId) throw new Error('--run is required');
const steps = Number(values.steps);
const stepMs = Number(values['step-ms']);

const stores = await createStores({ root: values.root });
await stores.runs.start(runId);
// Persisted heartbeats are what tell `cleanup` this run is alive; the timer does not keep the
// process running on its own.
const heartbeat = stores.runs.startHeartbeat(runId, { intervalMs: 100 });
// This process is the run's only event writer (one writer per run), so it writes the first event too.
const run = await stores.runs.get(runId);
await stores.events.append(runId, { type: 'analysis_started', payload: { question: run?.question, pid: process.pid } });
process.stdout.write('started\n');

const checks = ['load the trace', 'find slow spans', 'group by service', 'compare with last week', 'write the report'];
for (let step = 1; step <= steps; step += 1) {
  await sleep(stepMs);
  const message = checks[(step - 1) % checks.length]!;
  await stores.events.append(runId, { type: 'progress', payload: { step, of: steps, message } });
  process.stdout.write(`progress ${step}\n`);
}

// Stop beating before the run ends: a finished run takes no heartbeats.
await heartbeat.stop();
if (values.complete) {
  // complete() appends the terminal `analysis_completed` event before the status changes, so a
  // client replaying the log always sees how the run ended.
  await stores.runs.complete(runId, {
    reportUrl: `/reports/${runId}.html`,
    summary: 'p95 latency of checkout doubled after the cache change',
  });
  process.stdout.write('completed\n');
}
await stores.close();
