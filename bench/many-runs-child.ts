// Child process of the "many live runs" figure: appends to <runs> runs in turn, <rounds> times,
// then measures the CPU the process spends idle while it holds every run's writer lock.
//   many-runs-child.ts <dir> <runs> <rounds>
// Prints one JSON line: { events, roundMicros: number[], idleCpuMsPerSecond }.
import { AgentEventLog } from '../src/events/index.js';
import { eventInput } from './events-data.js';

const [dir, runsArg, roundsArg] = process.argv.slice(2) as [string, string, string];
const runs = Number(runsArg);
const rounds = Number(roundsArg);
const log = new AgentEventLog({ dir, durability: 'flush' });
const roundMicros: number[] = [];
let events = 0;
for (let round = 1; round <= rounds; round++) {
  const start = process.hrtime.bigint();
  for (let run = 0; run < runs; run++) {
    const event = await log.append(`run-${run}`, eventInput(events));
    if (event.cursor !== round) throw new Error(`run-${run} got cursor ${event.cursor} in round ${round}`);
    events++;
  }
  roundMicros.push(Number(process.hrtime.bigint() - start) / 1e3);
}
// Held locks are refreshed by timers (every staleMs / 2 = 5 s): what does holding them cost at rest?
const idleMs = 6_000;
const before = process.cpuUsage();
await new Promise((resolve) => setTimeout(resolve, idleMs));
const used = process.cpuUsage(before);
const idleCpuMsPerSecond = (used.user + used.system) / 1e3 / (idleMs / 1e3);
for (let run = 0; run < runs; run += Math.max(1, Math.floor(runs / 10))) {
  let expected = 1;
  for await (const event of log.read(`run-${run}`)) {
    if (event.cursor !== expected++) throw new Error(`run-${run} reads cursor ${event.cursor}`);
  }
  if (expected !== rounds + 1) throw new Error(`run-${run} reads ${expected - 1} events`);
}
await log.close();
process.stdout.write(`${JSON.stringify({ events, roundMicros, idleCpuMsPerSecond })}\n`);
