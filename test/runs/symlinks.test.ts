// The run store never writes through a symbolic link it did not create (issue 9, items 1 and 4):
// real links on the real file system, planted where the store keeps its beat files.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnalysisRunStore, type RunFilesIO, StoreIOError } from '../../src/index.js';
import { nodeRunFilesIO } from '../../src/testing.js';
import { manualClock } from '../helpers/manual-clock.js';
import { tempDir } from '../helpers/tmp.js';

const VICTIM_TEXT = 'precious bytes, not the store’s\n';

function setup(files?: RunFilesIO) {
  const root = tempDir();
  const dir = path.join(root, 'analysis_runs');
  const victim = path.join(root, 'victim.txt');
  fs.writeFileSync(victim, VICTIM_TEXT);
  const store = new AnalysisRunStore({ dir, clock: manualClock(), files });
  return { dir, victim, store, beat: (runId: string) => path.join(dir, 'active', `${runId}.beat`) };
}

function causeCode(error: unknown): unknown {
  return ((error as StoreIOError).cause as { code?: unknown } | undefined)?.code;
}

async function refusal(promise: Promise<unknown>): Promise<StoreIOError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreIOError);
  return error as StoreIOError;
}

describe('AnalysisRunStore and symbolic links', () => {
  it('refuses a heartbeat into a beat file replaced by a link, naming it, and leaves the target alone', async () => {
    const { victim, store, beat } = setup();
    await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
    fs.rmSync(beat('r1'));
    fs.symlinkSync(victim, beat('r1'));
    const error = await refusal(store.heartbeat('r1', { step: 1 }));
    expect(error.message).toContain(beat('r1'));
    expect(causeCode(error)).toBe('ELOOP');
    expect(fs.readFileSync(victim, 'utf8')).toBe(VICTIM_TEXT);
    expect(fs.lstatSync(beat('r1')).isSymbolicLink()).toBe(true);
  });

  it('refuses a status change over a linked beat file and leaves the target alone', async () => {
    const { victim, store, beat } = setup();
    await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
    fs.rmSync(beat('r1'));
    fs.symlinkSync(victim, beat('r1'));
    expect(causeCode(await refusal(store.start('r1')))).toBe('ELOOP');
    expect(causeCode(await refusal(store.complete('r1')))).toBe('ELOOP');
    expect(fs.readFileSync(victim, 'utf8')).toBe(VICTIM_TEXT);
    expect((await store.get('r1').catch(() => undefined))?.status).not.toBe('completed');
  });

  it('refuses to create a run whose beat file name is taken by a link, leaving link and target', async () => {
    const { dir, victim, store, beat } = setup();
    fs.mkdirSync(path.join(dir, 'active'), { recursive: true });
    fs.symlinkSync(victim, beat('r1'));
    const error = await refusal(store.create({ runId: 'r1', sessionId: 's', question: 'q' }));
    expect(error.message).toContain(beat('r1'));
    expect(fs.readFileSync(victim, 'utf8')).toBe(VICTIM_TEXT);
    expect(fs.lstatSync(beat('r1')).isSymbolicLink()).toBe(true);
    expect(fs.existsSync(path.join(dir, 'active', 'r1.json'))).toBe(false);
  });

  it('writes nothing through links planted at the temp names an older version predicted', async () => {
    const { dir, victim, store } = setup();
    fs.mkdirSync(path.join(dir, 'active'), { recursive: true });
    for (let n = 1; n <= 20; n++) {
      fs.symlinkSync(victim, path.join(dir, 'active', `r1.beat.${process.pid}-${n}.tmp`));
    }
    await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
    await store.start('r1');
    await store.heartbeat('r1', { step: 1 });
    await store.complete('r1');
    expect(fs.readFileSync(victim, 'utf8')).toBe(VICTIM_TEXT);
    expect((await store.get('r1'))?.status).toBe('completed');
  });

  it('refuses a link planted at the very temp name it draws (EEXIST), leaving the target alone', async () => {
    const files: RunFilesIO = { ...nodeRunFilesIO, tempSuffix: () => '0123456789abcdef' };
    const { dir, victim, store, beat } = setup(files);
    fs.mkdirSync(path.join(dir, 'active'), { recursive: true });
    fs.symlinkSync(victim, `${beat('r1')}.0123456789abcdef.tmp`);
    const error = await refusal(store.create({ runId: 'r1', sessionId: 's', question: 'q' }));
    expect(causeCode(error)).toBe('EEXIST');
    expect(fs.readFileSync(victim, 'utf8')).toBe(VICTIM_TEXT);
    expect(await store.get('r1')).toBeUndefined();
  });

  it('lists the other runs when one beat file is a link, reporting the skipped run', async () => {
    const { dir, victim, store, beat } = setup();
    await store.create({ runId: 'r1', sessionId: 's', question: 'q' });
    await store.create({ runId: 'r2', sessionId: 's', question: 'q' });
    fs.rmSync(beat('r1'));
    fs.symlinkSync(victim, beat('r1'));
    const warned: string[] = [];
    const fresh = new AnalysisRunStore({ dir, onWarning: (warning) => warned.push(warning.file) });
    expect((await fresh.list()).map((run) => run.runId)).toEqual(['r2']);
    expect(warned).toEqual([beat('r1')]);
  });
});
