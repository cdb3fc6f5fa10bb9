// The soak: N worker processes doing mixed operations on one root (appends to many runs with
// followers, heartbeats, cleanups, memory saves and recalls, pipeline advances), killed with
// SIGKILL at random and restarted, then a checker holds the stores to every acknowledgement.
//
//   npm run soak -- [--workers 8] [--seconds 120] [--kill-min-ms 200] [--kill-max-ms 1500]
//                   [--stale-ms 4000] [--seed N] [--root DIR] [--keep]
//
// Exits 0 when nothing acknowledged was lost and no file is corrupt, 1 otherwise.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checkSoak, type SoakCheck } from './check.js';
import { random } from './soak-common.js';

/** Options of {@link runSoak}. */
export interface SoakOptions {
  /** @defaultValue 8 */
  workers?: number;
  /** How long the workers run before they are stopped. @defaultValue 120_000 */
  durationMs?: number;
  /** A random worker is killed every `killMinMs`…`killMaxMs`. @defaultValue 200 */
  killMinMs?: number;
  /** @defaultValue 1_500 */
  killMaxMs?: number;
  /** The run store's stale threshold in the workers. @defaultValue 4_000 */
  staleAfterMs?: number;
  /** @defaultValue the time */
  seed?: number;
  /** @defaultValue a new temp directory, removed afterwards unless `keep` */
  root?: string;
  keep?: boolean;
  /** Progress lines. @defaultValue none */
  log?: (line: string) => void;
}

/** What a soak did and found. */
export interface SoakReport extends SoakCheck {
  seed: number;
  root: string;
  workers: number;
  seconds: number;
  kills: number;
  restarts: number;
}

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker.ts');

/** Runs a soak and checks it. */
export async function runSoak(options: SoakOptions = {}): Promise<SoakReport> {
  const workers = options.workers ?? 8;
  const durationMs = options.durationMs ?? 120_000;
  const killMin = options.killMinMs ?? 200;
  const killMax = options.killMaxMs ?? 1_500;
  const staleAfterMs = options.staleAfterMs ?? 4_000;
  const seed = options.seed ?? Date.now() % 1_000_000;
  const log = options.log ?? (() => {});
  const root = options.root ?? fs.mkdtempSync(path.join(os.tmpdir(), 'agent-stores-soak-'));
  const acksDir = path.join(root, 'soak-acks');
  fs.mkdirSync(acksDir, { recursive: true });
  const rand = random(seed);
  const started = Date.now();

  const ackFile = (worker: number) => path.join(acksDir, `worker-${worker}.ndjson`);
  const children = new Map<number, ChildProcess>();
  const incarnations = new Array<number>(workers).fill(0);
  let kills = 0;
  let restarts = 0;
  let stopping = false;

  const exited = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });

  function launch(worker: number): void {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        WORKER,
        root,
        ackFile(worker),
        String(worker),
        String(incarnations[worker]),
        String(seed + worker),
        String(staleAfterMs),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('exit', (code, signal) => {
      if (signal === null && code !== 0) log(`worker ${worker} exited with ${code}: ${stderr.slice(-2_000)}`);
    });
    children.set(worker, child);
  }

  for (let w = 0; w < workers; w++) launch(w);
  log(`soak: ${workers} workers on ${root}, seed ${seed}, ${durationMs / 1000} s`);

  // The killer: SIGKILL a random worker now and then, restart it as a new incarnation.
  while (Date.now() - started < durationMs && !stopping) {
    await new Promise((resolve) => setTimeout(resolve, killMin + rand() * (killMax - killMin)));
    if (Date.now() - started >= durationMs) break;
    const worker = Math.floor(rand() * workers);
    const child = children.get(worker)!;
    child.kill('SIGKILL');
    await exited(child);
    kills++;
    incarnations[worker]!++;
    launch(worker);
    restarts++;
    if (kills % 20 === 0) log(`  ${Math.round((Date.now() - started) / 1000)} s: ${kills} kills`);
  }
  stopping = true;

  // A polite stop: each worker finishes its runs and exits; one that does not in time is killed.
  await Promise.all(
    [...children.values()].map(async (child) => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited(child);
      clearTimeout(timer);
    }),
  );

  const ackFiles = Array.from({ length: workers }, (_, w) => ackFile(w));
  const check = await checkSoak(root, ackFiles);
  const report: SoakReport = {
    seed,
    root,
    workers,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    kills,
    restarts,
    ...check,
  };
  if (!options.keep && options.root === undefined && report.problems.length === 0) {
    fs.rmSync(root, { recursive: true, force: true });
  }
  return report;
}

/** The report as a person reads it. */
export function formatReport(r: SoakReport): string {
  const refusals = Object.entries(r.refusals)
    .sort()
    .map(([key, n]) => `${key} ${n}`)
    .join(', ');
  return [
    `soak: ${r.workers} workers, ${r.seconds} s, seed ${r.seed}`,
    `  operations acknowledged  ${r.operations}`,
    `  events in the logs       ${r.events} over ${r.runs} runs`,
    `  kills (SIGKILL)          ${r.kills}`,
    `  restarts                 ${r.restarts}`,
    `  repairs on reopen        ${r.repairs}`,
    `  runs abandoned by cleanup ${r.abandoned} (each failed with its error event)`,
    `  of them, waited for a stale lock ${r.deferredByLock}`,
    `  follows checked          ${r.followed}`,
    `  refusals                 ${refusals || 'none'}`,
    `  losses                   ${r.problems.length}`,
    ...r.problems.slice(0, 50).map((p) => `    ! ${p}`),
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      workers: { type: 'string' },
      seconds: { type: 'string' },
      'kill-min-ms': { type: 'string' },
      'kill-max-ms': { type: 'string' },
      'stale-ms': { type: 'string' },
      seed: { type: 'string' },
      root: { type: 'string' },
      keep: { type: 'boolean' },
    },
  });
  const num = (value: string | undefined) => (value === undefined ? undefined : Number(value));
  const report = await runSoak({
    workers: num(values.workers),
    durationMs: values.seconds === undefined ? undefined : Number(values.seconds) * 1000,
    killMinMs: num(values['kill-min-ms']),
    killMaxMs: num(values['kill-max-ms']),
    staleAfterMs: num(values['stale-ms']),
    seed: num(values.seed),
    root: values.root,
    keep: values.keep,
    log: (line) => console.log(line),
  });
  console.log(formatReport(report));
  if (report.problems.length) console.log(`files kept in ${report.root}`);
  process.exit(report.problems.length === 0 ? 0 : 1);
}
