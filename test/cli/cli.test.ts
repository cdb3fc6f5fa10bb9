import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createStores } from '../../src/create-stores.js';
import { AnalysisRunStore } from '../../src/runs/index.js';
import { snapshotFiles } from '../helpers/tmp.js';
import { cli, startCli } from './run-cli-process.js';

const HOUR = 3_600_000;

/** A logs directory with a completed run, a running one, memory entries and pipeline entries. */
async function fixture(root: string): Promise<void> {
  const stores = await createStores({ root });
  try {
    await stores.runs.create({ runId: 'run-done', sessionId: 's1', question: 'Why is checkout slow?' });
    await stores.runs.start('run-done');
    await stores.events.append('run-done', {
      type: 'analysis_started',
      payload: { question: 'Why is checkout slow?' },
    });
    await stores.events.append('run-done', { type: 'progress', payload: { step: 1, note: 'two\nlines' } });
    await stores.events.append('run-done', { type: 'progress', payload: { step: 2 } });
    await stores.runs.complete('run-done', { reportUrl: '/reports/run-done.html' });
    await stores.runs.create({ runId: 'run-live', sessionId: 's2', question: 'Which tenant errors?' });
    await stores.runs.start('run-live');
    await stores.events.append('run-live', { type: 'analysis_started', payload: {} });
    for (const [i, tags] of [['checkout', 'latency'], ['search'], ['checkout', 'errors']].entries()) {
      await stores.memory.save({
        entryId: `mem-${i + 1}`,
        scope: 'project',
        projectKey: 'shop',
        tags,
        insight: `insight ${i + 1}`,
        confidence: 0.5,
        status: 'provisional',
        createdAt: Date.now(),
      });
    }
    await stores.pipeline.create({ entryId: 'fb-1', feedbackId: 'f-1' });
    await stores.pipeline.create({ entryId: 'fb-2', feedbackId: 'f-2' });
    await stores.pipeline.advance('fb-2', { stage: 'rejected', reviewer: 'dana' });
  } finally {
    await stores.close();
  }
}

/** Makes `runId` a running run whose last heartbeat was two hours ago. */
async function staleRun(root: string, runId: string): Promise<void> {
  const stores = await createStores({ root });
  const past = new AnalysisRunStore({ dir: path.join(root, 'analysis_runs'), clock: () => Date.now() - 2 * HOUR });
  try {
    await past.create({ runId, sessionId: 's3', question: 'abandoned?' });
    await past.start(runId);
    await stores.events.append(runId, { type: 'analysis_started', payload: {} });
  } finally {
    await past.close();
    await stores.close();
  }
}

// Tests below run side by side, so directories live until the file is done (tempDir() removes
// its directories after every test, which would pull them from under a neighbour).
const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-stores-cli-'));
let made = 0;
function ownDir(): string {
  made += 1;
  const dir = path.join(parent, `root-${made}`);
  fs.mkdirSync(dir);
  return dir;
}

let root: string;
beforeAll(async () => {
  root = ownDir();
  await fixture(root);
});
afterAll(() => fs.rmSync(parent, { recursive: true, force: true }));

function expectOneLineError(stderr: string): void {
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
}

// Read-only commands on a shared root: run side by side to keep the file quick.
describe.concurrent('agent-stores: help and usage errors', () => {
  it('lists every command and the exit codes with --help, and exits 0', async () => {
    const { code, stdout } = await cli('--help');
    expect(code).toBe(0);
    for (const name of ['runs list', 'runs show', 'runs delete', 'events tail', 'memory list', 'export']) {
      expect(stdout).toContain(name);
    }
    expect(stdout).toMatch(/cleanup[\s\S]*verify[\s\S]*Exit codes/);
  });

  it("shows a command's options with --help after the command", async () => {
    const { code, stdout } = await cli('events', 'tail', '--help');
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: agent-stores events tail <runId>');
    expect(stdout).toContain('--follow');
    expect(stdout).toContain('--root DIR');
  });

  it('answers an unknown command with exit 2 and one line on stderr', async () => {
    const { code, stdout, stderr } = await cli('runz', 'list');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain("unknown command 'runz'");
    expectOneLineError(stderr);
  });

  it('answers an unknown option with exit 2 and one line naming it', async () => {
    const { code, stderr } = await cli('runs', 'list', '--stat', 'running', '--root', root);
    expect(code).toBe(2);
    expect(stderr).toContain('--stat');
    expectOneLineError(stderr);
  });

  it('answers a bad option value with exit 2 and the allowed values', async () => {
    const { code, stderr } = await cli('runs', 'list', '--status', 'done', '--root', root);
    expect(code).toBe(2);
    expect(stderr).toContain('pending, running, completed, failed, cancelled');
    expectOneLineError(stderr);
  });

  it('answers a missing root with exit 1 and a hint about --root, creating nothing', async () => {
    const missing = path.join(ownDir(), 'nope');
    const { code, stderr } = await cli('runs', 'list', '--root', missing);
    expect(code).toBe(1);
    expect(stderr).toContain('--root');
    expectOneLineError(stderr);
    expect(fs.existsSync(missing)).toBe(false);
  });
});

// Read-only commands on a shared root: run side by side to keep the file quick.
describe.concurrent('agent-stores runs', () => {
  it('lists runs with their status', async () => {
    const { code, stdout } = await cli('runs', 'list', '--root', root);
    expect(code).toBe(0);
    expect(stdout).toMatch(/run-done\s+completed/);
    expect(stdout).toMatch(/run-live\s+running/);
    expect(stdout).toContain('2 runs');
  });

  it('filters by --status and prints NDJSON with --json', async () => {
    const { code, stdout } = await cli('runs', 'list', '--status', 'completed', '--json', '--root', root);
    expect(code).toBe(0);
    const runs = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(runs.map((run) => run.runId)).toEqual(['run-done']);
  });

  it('shows one run with its result and event count', async () => {
    const { code, stdout } = await cli('runs', 'show', 'run-done', '--root', root);
    expect(code).toBe(0);
    expect(stdout).toMatch(/status:\s+completed/);
    expect(stdout).toContain('/reports/run-done.html');
    expect(stdout).toMatch(/events:\s+4 \(sealed/);
  });

  it('shows only the newest N runs with --limit N, and says more may exist', async () => {
    const { code, stdout } = await cli('runs', 'list', '--limit', '1', '--root', root);
    expect(code).toBe(0);
    expect(stdout).toMatch(/run-live\s+running/);
    expect(stdout).not.toContain('run-done');
    expect(stdout).toContain('1 run (the newest 1: raise --limit to see more)');
  });

  it('refuses --limit 0 with exit 2', async () => {
    const { code, stderr } = await cli('memory', 'list', '--limit', '0', '--root', root);
    expect(code).toBe(2);
    expect(stderr).toContain("--limit '0'");
    expectOneLineError(stderr);
  });

  it("exports a run's events as NDJSON with export --run", async () => {
    const { code, stdout } = await cli('export', '--run', 'run-done', '--root', root);
    expect(code).toBe(0);
    const events = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(events.map((event) => event.cursor)).toEqual([1, 2, 3, 4]);
    expect(events[3]).toMatchObject({ runId: 'run-done', type: 'analysis_completed' });
  });

  it('exports every record of every store as NDJSON, with --events every event too', async () => {
    const { code, stdout } = await cli('export', '--events', '--root', root);
    expect(code).toBe(0);
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { store: string; record: { runId?: string } });
    const counts: Record<string, number> = {};
    for (const line of lines) counts[line.store] = (counts[line.store] ?? 0) + 1;
    expect(counts).toEqual({ memory: 3, pipeline: 2, runs: 2, events: 5 });
    expect(lines.filter((l) => l.store === 'runs').map((l) => l.record.runId)).toEqual(['run-done', 'run-live']);
  });

  it('answers an unknown run with exit 1', async () => {
    const { code, stderr } = await cli('runs', 'show', 'run-nope', '--root', root);
    expect(code).toBe(1);
    expect(stderr).toContain("'run-nope' does not exist");
    expectOneLineError(stderr);
  });

  it('answers an invalid run id with exit 2', async () => {
    const { code, stderr } = await cli('runs', 'show', '../etc', '--root', root);
    expect(code).toBe(2);
    expectOneLineError(stderr);
  });
});

// Read-only commands on a shared root: run side by side to keep the file quick.
describe.concurrent('agent-stores events tail', () => {
  it('prints one readable line per event', async () => {
    const { code, stdout } = await cli('events', 'tail', 'run-done', '--root', root);
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^#1\s+\d\d:\d\d:\d\d\.\d{3}\s+analysis_started\s+\{"question"/);
    expect(lines[3]).toMatch(/^#4\s.*analysis_completed/);
  });

  it('starts after --after N and prints NDJSON with --json', async () => {
    const { code, stdout } = await cli('events', 'tail', 'run-done', '--after', '2', '--json', '--root', root);
    expect(code).toBe(0);
    const events = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(events.map((event) => event.cursor)).toEqual([3, 4]);
    expect(events[0]).toMatchObject({ runId: 'run-done', type: 'progress', payload: { step: 2 } });
  });

  it('prints the last N events with --last N', async () => {
    const { stdout } = await cli('events', 'tail', 'run-done', '--last', '1', '--json', '--root', root);
    expect(
      stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).cursor),
    ).toEqual([4]);
  });

  it('answers a run without a log with exit 1', async () => {
    const { code, stderr } = await cli('events', 'tail', 'run-nope', '--root', root);
    expect(code).toBe(1);
    expect(stderr).toContain("'run-nope' has no event log");
  });

  it('follows new events with --follow and exits 0 after the terminal one', async () => {
    const own = ownDir();
    // A long lock timeout keeps the writer lock's first refresh (due after half of it) out of this
    // test: on a loaded machine the test can outlast 5 s, and that refresh currently reports the
    // lock as compromised (writing owner.json changes the lock directory's mtime).
    const stores = createStores({ root: own, events: { lock: { staleMs: 120_000 } } });
    try {
      await stores.events.append('run-f', { type: 'analysis_started', payload: {} });
      const tail = startCli(['events', 'tail', 'run-f', '--follow', '--root', own]);
      await vi.waitFor(() => expect(tail.stdout()).toContain('analysis_started'), { timeout: 20_000 });
      await stores.events.append('run-f', { type: 'progress', payload: { step: 1 } });
      await stores.events.append('run-f', { type: 'end', payload: null });
      const { code, stdout } = await tail.done;
      expect(code).toBe(0);
      expect(
        stdout
          .trim()
          .split('\n')
          .map((line) => line.split(/\s+/)[0]),
      ).toEqual(['#1', '#2', '#3']);
    } finally {
      await stores.close();
    }
  });
});

describe('agent-stores events tail --follow and Ctrl-C', () => {
  it('stops following on SIGINT and exits 130, printing what it had', async () => {
    const own = ownDir();
    const stores = createStores({ root: own, events: { lock: { staleMs: 120_000 } } });
    try {
      await stores.events.append('run-i', { type: 'analysis_started', payload: {} });
      const tail = startCli(['events', 'tail', 'run-i', '--follow', '--root', own]);
      await vi.waitFor(() => expect(tail.stdout()).toContain('analysis_started'), { timeout: 20_000 });
      tail.kill('SIGINT');
      const { code, stdout, stderr } = await tail.done;
      expect(code).toBe(130);
      expect(stdout).toMatch(/^#1\s/);
      expect(stderr).toBe('');
    } finally {
      await stores.close();
    }
  });
});

// Read-only commands on a shared root: run side by side to keep the file quick.
describe.concurrent('agent-stores memory and pipeline', () => {
  it('lists memory entries', async () => {
    const { code, stdout } = await cli('memory', 'list', '--root', root);
    expect(code).toBe(0);
    expect(stdout).toMatch(/mem-1\s+project\s+provisional/);
    expect(stdout).toContain('3 entries');
  });

  it('recalls by tags, best first, without writing anything', async () => {
    const own = ownDir();
    await fixture(own);
    const before = snapshotFiles(own);
    const { code, stdout } = await cli('memory', 'recall', '--tags', 'checkout,latency', '--json', '--root', own);
    expect(code).toBe(0);
    const hits = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(hits.map((hit) => [hit.entry.entryId, hit.score])).toEqual([
      ['mem-1', 1],
      ['mem-3', 0.5],
    ]);
    expect(snapshotFiles(own)).toEqual(before);
  });

  it('asks for --tags when recall is given none (exit 2)', async () => {
    const { code, stderr } = await cli('memory', 'recall', '--root', root);
    expect(code).toBe(2);
    expect(stderr).toContain('--tags is required');
  });

  it('lists pipeline entries by stage', async () => {
    const { code, stdout } = await cli('pipeline', 'list', '--stage', 'rejected', '--root', root);
    expect(code).toBe(0);
    expect(stdout).toMatch(/fb-2\s+rejected/);
    expect(stdout).not.toContain('fb-1');
  });
});

describe('agent-stores cleanup', () => {
  it('with --dry-run, says what it would do and changes nothing', async () => {
    const own = ownDir();
    await fixture(own);
    await staleRun(own, 'run-stale');
    const before = snapshotFiles(own);
    const { code, stdout } = await cli('cleanup', '--stale', '1h', '--dry-run', '--root', own);
    expect(code).toBe(0);
    expect(stdout).toContain('would fail run-stale');
    expect(stdout).toContain('dry run, nothing changed: 1 abandoned, 0 deleted, 2 kept');
    expect(snapshotFiles(own)).toEqual(before);
  });

  it('fails runs whose heartbeat is stale, with a terminal error event', async () => {
    const own = ownDir();
    await fixture(own);
    await staleRun(own, 'run-stale');
    const { code, stdout } = await cli('cleanup', '--stale', '1h', '--json', '--root', own);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ dryRun: false, abandoned: ['run-stale'], deleted: [] });
    const shown = await cli('events', 'tail', 'run-stale', '--last', '1', '--json', '--root', own);
    expect(JSON.parse(shown.stdout)).toMatchObject({ type: 'error', payload: { code: 'heartbeat_stale' } });
  });

  it('refuses a duration without a unit (exit 2)', async () => {
    const { code, stderr } = await cli('cleanup', '--retention', '7', '--root', root);
    expect(code).toBe(2);
    expect(stderr).toContain('not a duration');
    expectOneLineError(stderr);
  });
});

describe('agent-stores runs delete', () => {
  it('deletes a finished run with its event log, and refuses a live one unless --force', async () => {
    const own = ownDir();
    await fixture(own);
    const live = await cli('runs', 'delete', 'run-live', '--root', own);
    expect(live.code).toBe(1);
    expect(live.stderr).toContain('--force');
    expectOneLineError(live.stderr);
    const done = await cli('runs', 'delete', 'run-done', '--root', own);
    expect(done).toMatchObject({ code: 0, stdout: 'deleted run run-done and its event log\n' });
    expect(fs.existsSync(path.join(own, 'agent_events', 'run-done.ndjson'))).toBe(false);
    expect((await cli('runs', 'delete', 'run-done', '--root', own)).code).toBe(1);
    expect((await cli('runs', 'delete', 'run-live', '--force', '--root', own)).code).toBe(0);
    expect((await cli('runs', 'list', '--root', own)).stdout).toContain('no runs found');
  });
});

describe('agent-stores cleanup with a damaged run file', () => {
  it('cleans up every other run, names the file on stderr, leaves it as it is and exits 1', async () => {
    const own = ownDir();
    await fixture(own);
    await staleRun(own, 'run-stale');
    const damaged = path.join(own, 'analysis_runs', 'done', 'run-done.json');
    fs.writeFileSync(damaged, '{"schemaVersion":1,"run":{');
    const { code, stdout, stderr } = await cli('cleanup', '--stale', '1h', '--root', own);
    expect(code).toBe(1);
    expect(stdout).toContain('failed run-stale');
    expect(stdout).toContain('1 abandoned, 0 deleted, 1 kept, 1 unreadable');
    expect(stderr).toContain(`warning: run 'run-done' was skipped: ${damaged}`);
    expect(fs.readFileSync(damaged, 'utf8')).toBe('{"schemaVersion":1,"run":{');
  });
});

describe('agent-stores verify', () => {
  it('exits 0 when every file is sound', async () => {
    const { code, stdout } = await cli('verify', '--root', root);
    expect(code).toBe(0);
    expect(stdout).toMatch(/OK\s+agent_events[/\\]run-done\.ndjson/);
    expect(stdout).toContain('0 with problems');
  });

  it('exits 1 naming a log with a torn tail, and --repair cuts it', async () => {
    const own = ownDir();
    await fixture(own);
    fs.appendFileSync(path.join(own, 'agent_events', 'run-live.ndjson'), '{"cursor":2,"ty');
    const found = await cli('verify', '--root', own);
    expect(found.code).toBe(1);
    expect(found.stdout).toMatch(/PROBLEM\s+agent_events[/\\]run-live\.ndjson\s+torn tail/);
    const repaired = await cli('verify', '--repair', '--root', own);
    expect(repaired.code).toBe(0);
    expect(repaired.stdout).toMatch(/REPAIRED\s+agent_events[/\\]run-live\.ndjson/);
    expect((await cli('verify', '--root', own)).code).toBe(0);
  });

  it('exits 1 naming a JSON store file that cannot be parsed, and leaves it as it is', async () => {
    const own = ownDir();
    await fixture(own);
    const file = path.join(own, 'analysis_project_memory.json');
    fs.writeFileSync(file, '{"schemaVersion":1,');
    const { code, stdout } = await cli('verify', '--repair', '--root', own);
    expect(code).toBe(1);
    expect(stdout).toMatch(/PROBLEM\s+analysis_project_memory\.json/);
    expect(fs.readFileSync(file, 'utf8')).toBe('{"schemaVersion":1,');
  });

  it('checks each run record on its own line and names a damaged one', async () => {
    const own = ownDir();
    await fixture(own);
    fs.writeFileSync(path.join(own, 'analysis_runs', 'done', 'run-done.json'), '{"schemaVersion":1,"run":{');
    const { code, stdout } = await cli('verify', '--root', own);
    expect(code).toBe(1);
    expect(stdout).toMatch(/PROBLEM\s+analysis_runs[/\\]done[/\\]run-done\.json/);
    expect(stdout).toMatch(/OK\s+analysis_runs[/\\]active[/\\]run-live\.json/);
  });
});
