// Real processes: an agent killed with SIGKILL mid-run, and two cleanups racing on one root.
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type AgentEvent, type CleanupReport, createStores } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';

const DAY = 86_400_000;
const fixtures = path.join(import.meta.dirname, 'fixtures');
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

function spawnFixture(name: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(fixtures, name), ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  return child;
}

/** Resolves with the first stdout line of `child` that `match` accepts. */
function lineFrom(child: ChildProcess, match: (line: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      const found = lines.find(match);
      if (found !== undefined) {
        child.stdout?.off('data', onData);
        resolve(found);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code, signal) =>
      reject(new Error(`child exited (${code ?? signal}) before the expected line`)),
    );
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
  );
}

async function replay(root: string, runId: string): Promise<AgentEvent[]> {
  const reader = createStores({ root });
  const events: AgentEvent[] = [];
  for await (const event of reader.events.read(runId)) events.push(event);
  await reader.close();
  return events;
}

describe('AnalysisRunStore across processes', () => {
  it('fails the run of an agent killed with SIGKILL only after staleAfterMs, and a replaying reader sees the error', async () => {
    const root = tempDir();
    const staleAfterMs = 30_000;
    const setup = createStores({ root });
    await setup.runs.create({ runId: 'agent-run', sessionId: 's', question: 'q' });
    await setup.close();

    const agent = spawnFixture('heartbeat-agent.ts', [root, 'agent-run', '20']);
    // Two beats seen on disk: the agent is alive and beating.
    await lineFrom(agent, (line) => line.startsWith('beat 1'));
    await lineFrom(agent, (line) => line.startsWith('beat 1'));
    agent.kill('SIGKILL');
    await exited(agent);

    const stores = createStores({ root });
    const lastBeat = (await stores.runs.get('agent-run'))?.heartbeatAt;
    expect(lastBeat).toBeTypeOf('number');
    const at = lastBeat!;

    // Not yet stale: the dead agent's run is kept, however long ago it started.
    const early = await stores.runs.cleanup({ retentionMs: DAY, staleAfterMs, now: at + staleAfterMs });
    expect(early).toEqual({ kept: ['agent-run'], abandoned: [], deleted: [], unreadable: [] });
    expect((await stores.runs.get('agent-run'))?.status).toBe('running');

    // One ms past staleAfterMs: failed, with the terminal error event in its log.
    const late = await stores.runs.cleanup({ retentionMs: DAY, staleAfterMs, now: at + staleAfterMs + 1 });
    expect(late.abandoned).toEqual(['agent-run']);
    expect(await stores.runs.get('agent-run')).toMatchObject({
      status: 'failed',
      error: { code: 'heartbeat_stale' },
    });
    await stores.close();

    const events = await replay(root, 'agent-run');
    expect(events.map((event) => event.type)).toEqual(['progress', 'progress', 'error']);
    expect(events.at(-1)?.payload).toMatchObject({ code: 'heartbeat_stale' });
  });

  it('puts every heartbeat another process had acknowledged into the finished record', async () => {
    const root = tempDir();
    const dir = path.join(root, 'analysis_runs');
    const stores = createStores({ root });
    for (let round = 0; round < 3; round++) {
      const runId = `race-${round}`;
      await stores.runs.create({ runId, sessionId: 's', question: 'q' });
      await stores.runs.start(runId);
      const beater = spawnFixture('beat-loop.ts', [dir, runId]);
      await lineFrom(beater, (line) => line === 'beating');
      const outcome = lineFrom(beater, (line) => line.startsWith('{'));
      const done = await stores.runs.complete(runId, { round });
      const last = JSON.parse(await outcome) as { n: number; updatedAt: number; code: string; message: string };
      expect(last).toMatchObject({ code: 'ILLEGAL_TRANSITION' });
      expect((done.heartbeatDetails as { n: number }).n).toBeGreaterThanOrEqual(last.n);
      expect(done.updatedAt).toBeGreaterThan(last.updatedAt);
      expect(await stores.runs.get(runId)).toEqual(done);
    }
    await stores.close();
  });

  it('abandons or deletes each run exactly once when two processes run cleanup at the same time', async () => {
    const root = tempDir();
    const past = Date.now() - 3 * DAY;
    const seed = createStores({ root, clock: () => past });
    const stale: string[] = [];
    const expired: string[] = [];
    for (let i = 0; i < 12; i++) {
      const runId = `stale-${i}`;
      await seed.runs.create({ runId, sessionId: 's', question: 'q' });
      if (i % 2 === 0) await seed.runs.start(runId);
      await seed.events.append(runId, { type: 'progress', payload: { i } });
      stale.push(runId);
    }
    for (let i = 0; i < 12; i++) {
      const runId = `expired-${i}`;
      await seed.runs.create({ runId, sessionId: 's', question: 'q' });
      await seed.runs.complete(runId, { i });
      expired.push(runId);
    }
    await seed.close();
    const fresh = createStores({ root });
    await fresh.runs.create({ runId: 'fresh', sessionId: 's', question: 'q' });
    await fresh.close();

    const cleaners = [0, 1].map(() => spawnFixture('run-cleanup.ts', [root, String(DAY), '60000']));
    await Promise.all(cleaners.map((child) => lineFrom(child, (line) => line === 'ready')));
    const reports = cleaners.map((child) => lineFrom(child, (line) => line.startsWith('{')));
    for (const child of cleaners) child.stdin?.write('go\n');
    const [a, b] = (await Promise.all(reports)).map((line) => JSON.parse(line) as CleanupReport) as [
      CleanupReport,
      CleanupReport,
    ];

    expect([...a.abandoned, ...b.abandoned].sort()).toEqual([...stale].sort());
    expect([...a.deleted, ...b.deleted].sort()).toEqual([...expired].sort());
    expect(a.kept).toContain('fresh');
    expect(b.kept).toContain('fresh');

    const after = createStores({ root });
    for (const runId of stale) {
      expect((await after.runs.get(runId))?.error?.code).toBe('heartbeat_stale');
      const types = (await replay(root, runId)).map((event) => event.type);
      expect(types).toEqual(['progress', 'error']);
    }
    for (const runId of expired) {
      expect(await after.runs.get(runId)).toBeUndefined();
      expect(await after.events.exists(runId)).toBe(false);
    }
    expect((await after.runs.get('fresh'))?.status).toBe('pending');
    await after.close();
  });
});

describe('createStores().close() in a real process', () => {
  it('lets a process with a heartbeat timer, a live follow and appends in flight exit by itself', async () => {
    const root = tempDir();
    const child = spawnFixture('close-by-itself.ts', [root]);
    const line = await lineFrom(child, (text) => text.startsWith('{'));
    const code = await new Promise<number | null>((resolve) =>
      child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (exitCode) => resolve(exitCode)),
    );
    expect(code).toBe(0);
    const report = JSON.parse(line) as { closed: boolean; followed: number; settled: number; lateGet: string };
    expect(report).toMatchObject({ closed: true, settled: 20, lateGet: 'CLOSED' });
    expect(report.followed).toBeGreaterThanOrEqual(1);
  });
});
