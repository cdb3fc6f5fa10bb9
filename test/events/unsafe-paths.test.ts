import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentEventLog } from '../../src/events/index.js';
import { StoreError } from '../../src/storage/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { collect, cursors, range } from './helpers.js';

async function runOf(dir: string, count: number): Promise<void> {
  const writer = new AgentEventLog({ dir });
  for (const i of range(count)) await writer.append('run-1', { type: 'n', payload: { i } });
  await writer.close();
}

/** The rejection of `work`, which must be a typed StoreError. */
async function typedFailure(work: () => Promise<unknown>): Promise<StoreError> {
  const error = await work().then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(StoreError);
  expect((error as StoreError).code).toBe('IO');
  return error as StoreError;
}

describe('a directory where a run file should be', () => {
  it('<run>.ndjson as a directory: read, follow, lastCursor, isSealed, append and verify fail with a typed error naming it', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'run-1.ndjson');
    fs.mkdirSync(file, { recursive: true });
    const log = new AgentEventLog({ dir });
    for (const work of [
      () => collect(log.read('run-1')),
      () => collect(log.read('run-1', { after: 2 })),
      () => collect(log.follow('run-1')),
      () => log.lastCursor('run-1'),
      () => log.isSealed('run-1'),
      () => log.append('run-1', { type: 'n' }),
      () => log.verify('run-1'),
    ]) {
      expect((await typedFailure(work)).message).toContain(file);
    }
    await log.close();
  });

  it('<run>.idx as a directory: read after a cursor, lastCursor and append fail with a typed error naming it', async () => {
    const dir = tempDir();
    await runOf(dir, 4);
    const idx = path.join(dir, 'run-1.idx');
    fs.rmSync(idx);
    fs.mkdirSync(idx);
    const log = new AgentEventLog({ dir });
    for (const work of [
      () => collect(log.read('run-1', { after: 2 })),
      () => log.lastCursor('run-1'),
      () => log.append('run-1', { type: 'n' }),
    ]) {
      expect((await typedFailure(work)).message).toContain(idx);
    }
    await log.close();
  });
});

describe('symbolic links planted in the data directory', () => {
  it('a symlinked <run>.ndjson is refused with a typed error naming it; its target is left untouched', async () => {
    const root = tempDir();
    const dir = path.join(root, 'agent_events');
    fs.mkdirSync(dir);
    const outside = path.join(root, 'precious.txt');
    fs.writeFileSync(outside, 'do not touch\n');
    const link = path.join(dir, 'run-1.ndjson');
    fs.symlinkSync(outside, link);
    const log = new AgentEventLog({ dir });
    for (const work of [() => log.append('run-1', { type: 'n' }), () => collect(log.read('run-1'))]) {
      const error = await typedFailure(work);
      expect(error.message).toContain(link);
      expect(error.message).toMatch(/symbolic link/);
    }
    await typedFailure(() => log.verify('run-1', { repair: true }));
    await log.close();
    expect(fs.readFileSync(outside, 'utf8')).toBe('do not touch\n');
  });

  it('a symlinked <run>.idx is refused; its target is left untouched', async () => {
    const root = tempDir();
    const dir = path.join(root, 'agent_events');
    await runOf(dir, 2);
    const outside = path.join(root, 'precious.bin');
    fs.writeFileSync(outside, 'do not touch\n');
    const idx = path.join(dir, 'run-1.idx');
    fs.rmSync(idx);
    fs.symlinkSync(outside, idx);
    const log = new AgentEventLog({ dir });
    const error = await typedFailure(() => log.append('run-1', { type: 'n' }));
    expect(error.message).toContain(idx);
    expect((await typedFailure(() => log.verify('run-1', { repair: true }))).message).toContain(idx);
    await log.close();
    expect(fs.readFileSync(outside, 'utf8')).toBe('do not touch\n');
  });

  it('a directory that is itself a symlink (the root, set up by its owner) works', async () => {
    const root = tempDir();
    const real = path.join(root, 'real');
    fs.mkdirSync(real);
    const linked = path.join(root, 'linked');
    fs.symlinkSync(real, linked);
    const log = new AgentEventLog({ dir: linked });
    await log.append('run-1', { type: 'n' });
    expect(cursors(await collect(log.read('run-1')))).toEqual([1]);
    await log.close();
    expect(fs.existsSync(path.join(real, 'run-1.ndjson'))).toBe(true);
  });
});
