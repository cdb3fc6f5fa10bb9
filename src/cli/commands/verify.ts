import * as fs from 'node:fs';
import * as path from 'node:path';
import { CorruptStoreError } from '../../storage/errors.js';
import { isValidId } from '../../storage/ids.js';
import type { CliCommand } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { ProgressBar } from '../progress-bar.js';

/** Above this many files a progress bar is drawn (on a terminal), and sound files are not listed one by one. */
const MANY = 20;

interface Finding {
  file: string;
  /** `ok`, `repaired`, or `problem`. */
  state: 'ok' | 'repaired' | 'problem';
  detail: string;
}

/**
 * Each run record file, as `[file relative to the root, runId]`: one check per file, so a damaged
 * record is named on its own line. Reads the run store's layout (`active/` and `done/`, one
 * `<runId>.json` each); the record is then read through the store, which judges the file.
 */
function runFiles(root: string): [string, string][] {
  const found = new Map<string, string>();
  for (const sub of ['active', 'done']) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(path.join(root, 'analysis_runs', sub));
    } catch {
      // No such directory: no runs there.
    }
    for (const name of names.sort()) {
      if (!name.endsWith('.json') || !isValidId(name.slice(0, -5))) continue;
      // A finished run's record in done/ is the one the store reads.
      found.set(name.slice(0, -5), path.join('analysis_runs', sub, name));
    }
  }
  const files = [...found].map(([runId, file]): [string, string] => [file, runId]);
  return files.length > 0 ? files : [['analysis_runs/', '']];
}

/** `agent-stores verify`: check every event log and JSON file; repair what can be repaired safely. */
export const verify: CliCommand = {
  name: 'verify',
  summary: 'check every event log and JSON file; --repair moves damage aside and rebuilds indexes',
  synopsis: 'verify [--repair] [--json]',
  description: [
    'Reads every file under the logs directory and reports what is wrong:',
    '  - event logs: a torn last line (a crash mid-write), a stale or missing index, a damaged line',
    '    (changed bytes, a checksum that does not match, a wrong cursor) with its byte offset;',
    '  - JSON stores: a file that cannot be parsed or fails its schema.',
    'With --repair, what a log must lose is first copied, intact, to <runId>.ndjson.corrupt-<time>-<random>',
    'next to it (a torn tail, or everything from the first damaged line on), then cut from the log;',
    'indexes are rebuilt from the logs. Each move is printed. Events after a damaged line are in the',
    'moved file only: new events take their cursors. Damaged JSON files are left for a person to fix.',
    'Exit code 1 when a problem remains (without --repair: when any was found).',
  ].join('\n'),
  options: {
    repair: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
  optionHelp: [
    ['--repair', 'move torn tails and damaged lines aside, then cut them; rebuild indexes'],
    ['--json', 'one JSON line per file: {file, state, detail}'],
  ],
  positionals: [],
  async run(ctx, values) {
    const repair = values.repair === true;
    const stores = await ctx.stores();
    const runIds = [...(await stores.events.runIds())].sort();
    const jsonChecks: [string, () => Promise<unknown>][] = [
      ['analysis_project_memory.json', () => stores.memory.list()],
      ['feedback_pipeline.json', () => stores.pipeline.list()],
      ...runFiles(ctx.root).map(([file, runId]): [string, () => Promise<unknown>] => [
        file,
        () => (runId ? stores.runs.get(runId) : stores.runs.list()),
      ]),
    ];
    const total = runIds.length + jsonChecks.length;
    const logFile = (runId: string) => path.join('agent_events', `${runId}.ndjson`);
    const width = Math.max(...runIds.map((runId) => logFile(runId).length), ...jsonChecks.map(([file]) => file.length));
    const many = total > MANY;
    const bar = new ProgressBar(ctx.output.stderr, total, 'verifying', many && ctx.output.stderrIsTTY && !values.json);
    const findings: Finding[] = [];
    const report = (finding: Finding) => {
      findings.push(finding);
      if (values.json) return ctx.out(JSON.stringify(finding));
      if (finding.state === 'ok' && many) return;
      bar.clear();
      ctx.out(`${finding.state.toUpperCase().padEnd(9)}${finding.file.padEnd(width)}  ${finding.detail}`);
    };

    for (const runId of runIds) {
      const file = logFile(runId);
      try {
        const r = await stores.events.verify(runId, { repair });
        const counts = `${r.events} events${r.sealed ? ', sealed' : ''}`;
        const issues = [
          r.tornTailBytes > 0 ? `torn tail of ${r.tornTailBytes} bytes` : '',
          ...r.indexProblems.map((problem) => `index: ${problem}`),
          r.corruption ? `damaged: ${r.corruption}` : '',
        ].filter(Boolean);
        const moved = r.movedAside
          ? `; moved ${r.movedAside.bytes} bytes from byte ${r.movedAside.fromByte} to ${path.relative(ctx.root, r.movedAside.file)}`
          : '';
        if (r.ok) report({ file, state: 'ok', detail: counts });
        // Damage is repaired once it was moved aside (an overlong event is not: it needs a larger limit).
        else if (r.repaired && (!r.corruption || r.movedAside))
          report({ file, state: 'repaired', detail: `${issues.join('; ')}${moved} (now ${counts})` });
        else {
          const advice = r.corruption
            ? 'run verify --repair to move the damaged part aside, or fix the file by hand'
            : 'run verify --repair';
          report({ file, state: 'problem', detail: `${issues.join('; ')}: ${advice}` });
        }
      } catch (error) {
        report({ file, state: 'problem', detail: error instanceof Error ? error.message : String(error) });
      }
      bar.tick();
    }
    for (const [file, check] of jsonChecks) {
      try {
        await check();
        const present = fs.existsSync(path.join(ctx.root, file));
        report({ file, state: 'ok', detail: present ? 'readable, schema valid' : 'not created yet (nothing stored)' });
      } catch (error) {
        if (!(error instanceof CorruptStoreError)) throw error;
        report({ file, state: 'problem', detail: error.message });
      }
      bar.tick();
    }
    bar.clear();

    const count = (state: Finding['state']) => findings.filter((f) => f.state === state).length;
    const problems = count('problem');
    if (!values.json) {
      ctx.out(
        `verified ${findings.length} files: ${count('ok')} ok, ${count('repaired')} repaired, ${problems} with problems`,
      );
    }
    return problems > 0 ? EXIT.failed : EXIT.ok;
  },
};
