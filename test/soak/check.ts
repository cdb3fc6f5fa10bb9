import * as fs from 'node:fs';
import { type AgentEvent, createStores } from '../../src/index.js';
import { type Ack, PIPELINE_PATH, TERMINAL_OF } from './soak-common.js';

/** What the checker found: counts for the report, and every broken promise. */
export interface SoakCheck {
  operations: number;
  events: number;
  runs: number;
  /** Runs failed by a cleanup (during the soak or the final one) because their process died. */
  abandoned: number;
  /**
   * Runs the first final cleanup could not fail because a killed process left their log's lock
   * without an owner record: they wait for the lock to go stale (see docs, known limits).
   */
  deferredByLock: number;
  /** Repairs the stores reported while reopening after a kill (torn tails cut, indexes rebuilt…). */
  repairs: number;
  followed: number;
  /** Refusals by (operation, code): lock waits, runs taken over by a cleanup… */
  refusals: Record<string, number>;
  /** Broken promises. Must be empty. */
  problems: string[];
}

/** Reads an ack file, ignoring a last line a kill cut short (it was never acknowledged). */
export function readAcks(file: string): Ack[] {
  if (!fs.existsSync(file)) return [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const acks: Ack[] = [];
  for (const [index, line] of lines.entries()) {
    if (line === '') continue;
    try {
      acks.push(JSON.parse(line) as Ack);
    } catch (error) {
      if (index !== lines.length - 1) throw new Error(`${file}: line ${index + 1} is not JSON: ${error}`);
    }
  }
  return acks;
}

async function collect(events: AsyncIterable<AgentEvent>): Promise<AgentEvent[]> {
  const out: AgentEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

/**
 * Opens the root the way a restarted service would, runs a final cleanup (every process is gone,
 * so every live run is abandoned), and holds the stores to everything the workers' ack files say
 * was acknowledged.
 */
export async function checkSoak(root: string, ackFiles: readonly string[]): Promise<SoakCheck> {
  const acks = ackFiles.flatMap(readAcks);
  const problems: string[] = [];
  const refusals: Record<string, number> = {};
  let repairs = acks.filter((a) => a.op === 'repair').length;
  const stores = createStores({
    root,
    runs: { staleAfterMs: 1, lock: { waitMs: 15_000 } },
    events: { onWarning: () => repairs++ },
  });
  try {
    // A restarted service's cleanup: everyone who was running a run is dead by now. A run whose
    // log lock was left without an owner record (killed between creating the lock and writing
    // its owner) cannot be taken over before the lock is stale: cleanup leaves it for a later
    // pass, so pass again until the lock goes stale (10 s), as a service's periodic cleanup would.
    const abandonedNow = new Set<string>();
    const deadline = Date.now() + 15_000;
    let deferredByLock = 0;
    for (let pass = 0; ; pass++) {
      const final = await stores.runs.cleanup({ retentionMs: 1e12, now: Date.now() + 60_000 });
      for (const runId of final.abandoned) abandonedNow.add(runId);
      const stillLive = await stores.runs.list({ status: 'running' });
      const stillPending = await stores.runs.list({ status: 'pending' });
      const left = stillLive.length + stillPending.length;
      if (pass === 0) deferredByLock = left;
      if (left === 0 || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }

    // Runs and their event logs.
    const created = new Set<string>();
    const finished = new Map<string, string>();
    const ackedEvents = new Map<string, Map<number, { type: string; seq: number }>>();
    const lastBeat = new Map<string, number>();
    let followed = 0;
    let abandonedDuring = 0;
    for (const a of acks) {
      if (a.op === 'run-created') created.add(a.runId);
      else if (a.op === 'run-finished') finished.set(a.runId, a.status);
      else if (a.op === 'event') {
        let map = ackedEvents.get(a.runId);
        if (!map) ackedEvents.set(a.runId, (map = new Map()));
        map.set(a.cursor, { type: a.type, seq: a.seq });
      } else if (a.op === 'beat') lastBeat.set(a.runId, Math.max(lastBeat.get(a.runId) ?? 0, a.at));
      else if (a.op === 'followed') {
        followed++;
        if (a.gap)
          problems.push(`a follower of ${a.runId} saw cursors out of order: ${a.seen?.join(',') ?? `up to ${a.upTo}`}`);
      } else if (a.op === 'cleanup') abandonedDuring += a.abandoned.length;
      else if (a.op === 'error') {
        const key = `${a.what}:${a.code}`;
        refusals[key] = (refusals[key] ?? 0) + 1;
        if (a.code.startsWith('untyped')) problems.push(`untyped error from ${a.what}: ${a.code}`);
      }
    }
    let events = 0;
    for (const runId of created) {
      const run = await stores.runs.get(runId);
      if (!run) {
        problems.push(`run ${runId} was acknowledged as created but does not exist`);
        continue;
      }
      const log = await collect(stores.events.read(runId));
      events += log.length;
      log.forEach((event, i) => {
        if (event.cursor !== i + 1) problems.push(`run ${runId}: event ${i + 1} has cursor ${event.cursor} (a gap)`);
      });
      const last = log[log.length - 1];
      const terminalAt = log.findIndex((e) => Object.values(TERMINAL_OF).includes(e.type));
      if (!['completed', 'failed', 'cancelled'].includes(run.status)) {
        problems.push(`run ${runId} is still ${run.status} after the final cleanup`);
      } else if (last?.type !== TERMINAL_OF[run.status] || terminalAt !== log.length - 1) {
        problems.push(
          `run ${runId} is ${run.status} but its log ends with '${last?.type}' (terminal at ${terminalAt + 1})`,
        );
      }
      const acked = finished.get(runId);
      if (acked !== undefined && run.status !== acked) {
        problems.push(`run ${runId} was acknowledged ${acked} but is ${run.status}`);
      }
      for (const [cursor, want] of ackedEvents.get(runId) ?? []) {
        const got = log[cursor - 1];
        const seq = (got?.payload as { seq?: number } | undefined)?.seq;
        if (got?.type !== want.type || seq !== want.seq) {
          problems.push(`run ${runId}: acknowledged event ${cursor} (seq ${want.seq}) is lost or changed`);
        }
      }
      const beat = lastBeat.get(runId);
      if (beat !== undefined && (run.heartbeatAt ?? 0) < beat) {
        problems.push(`run ${runId}: acknowledged heartbeat at ${beat} is lost (record has ${run.heartbeatAt})`);
      }
      const report = await stores.events.verify(runId);
      if (report.corruption) problems.push(`run ${runId}: log corrupt: ${report.corruption}`);
    }

    // Memory.
    const memory = new Map((await stores.memory.list()).map((e) => [e.entryId, e]));
    const audit = new Set((await stores.memory.promotionAudit()).map((row) => row.entryId));
    const removing = new Set(acks.flatMap((a) => (a.op === 'mem-removing' ? [a.entryId] : [])));
    for (const a of acks) {
      if (a.op === 'mem-saved') {
        const entry = memory.get(a.entryId);
        if (!entry && !removing.has(a.entryId))
          problems.push(`memory ${a.entryId} was acknowledged as saved but is lost`);
        if (entry && entry.insight !== a.insight) problems.push(`memory ${a.entryId} has another insight`);
      } else if (a.op === 'mem-removed' && memory.has(a.entryId)) {
        problems.push(`memory ${a.entryId} was acknowledged as removed but is there`);
      } else if (a.op === 'mem-promoted') {
        if (!audit.has(a.entryId)) problems.push(`memory ${a.entryId}: acknowledged promotion has no audit row`);
        const entry = memory.get(a.entryId);
        if (entry && entry.scope !== 'world') problems.push(`memory ${a.entryId}: acknowledged promotion is lost`);
      } else if (a.op === 'mem-feedback') {
        const entry = memory.get(a.entryId);
        if (entry && entry.firstFeedbackAt === undefined)
          problems.push(`memory ${a.entryId}: acknowledged feedback is lost`);
      }
    }

    // Pipeline.
    const entries = await stores.pipeline.list();
    const pipeline = new Map(entries.map((e) => [e.entryId, e]));
    const stamps = entries.map((e) => e.updatedAt);
    if (new Set(stamps).size !== stamps.length) problems.push('two pipeline entries share an updatedAt');
    for (const a of acks) {
      if (a.op === 'pipe-created' && !pipeline.has(a.entryId)) {
        problems.push(`pipeline ${a.entryId} was acknowledged as created but is lost`);
      } else if (a.op === 'pipe-advanced') {
        const entry = pipeline.get(a.entryId);
        const reached = PIPELINE_PATH.indexOf(entry?.stage as (typeof PIPELINE_PATH)[number]);
        if (!entry || reached < PIPELINE_PATH.indexOf(a.stage as (typeof PIPELINE_PATH)[number])) {
          problems.push(`pipeline ${a.entryId}: acknowledged advance to ${a.stage} is lost (at ${entry?.stage})`);
        } else if (!entry.history.some((row) => row.stage === a.stage)) {
          problems.push(`pipeline ${a.entryId}: history lacks the acknowledged stage ${a.stage}`);
        }
      }
    }

    return {
      operations: acks.filter((a) => !['error', 'started', 'stopped', 'repair', 'mem-removing'].includes(a.op)).length,
      events,
      runs: created.size,
      abandoned: abandonedDuring + abandonedNow.size,
      deferredByLock,
      repairs,
      followed,
      refusals,
      problems,
    };
  } catch (error) {
    problems.push(`the checker could not read the stores: ${(error as Error).stack ?? error}`);
    return {
      operations: 0,
      events: 0,
      runs: 0,
      abandoned: 0,
      deferredByLock: 0,
      repairs,
      followed: 0,
      refusals,
      problems,
    };
  } finally {
    await stores.close();
  }
}
