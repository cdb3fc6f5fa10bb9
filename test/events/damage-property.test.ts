import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AgentEvent, AgentEventLog } from '../../src/events/index.js';
import { CorruptStoreError } from '../../src/storage/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { collect } from './helpers.js';

/** What a disk can do to bytes already written: one flipped bit, or a range read back as zeros. */
type Damage = { kind: 'flip'; at: number; bit: number } | { kind: 'zero'; at: number; length: number };

const damage: fc.Arbitrary<Damage> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('zero' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 600 }) }),
);

describe('AgentEventLog reads of a damaged log (property)', () => {
  it('a read after any cursor yields exactly the events written, or fails with CorruptStoreError; only damage reaching into the last line may read as a torn tail', async () => {
    const dir = tempDir();
    const writer = new AgentEventLog({ dir, durability: 'flush', clock: () => 1_700_000_000_000 });
    for (let i = 1; i <= 12; i++) {
      await writer.append('run', {
        type: i % 4 === 0 ? 'tool_call' : 'progress',
        payload: { i, text: 'ab c'.repeat(i) },
      });
    }
    await writer.close();
    const file = path.join(dir, 'run.ndjson');
    const sound = fs.readFileSync(file);
    const written: AgentEvent[] = await collect(new AgentEventLog({ dir }).read('run'));
    const lastLineStart = sound.lastIndexOf(0x0a, sound.length - 2) + 1;

    await fc.assert(
      fc.asyncProperty(damage, fc.integer({ min: 0, max: 12 }), async (hurt, after) => {
        const bytes = Buffer.from(sound);
        const at = hurt.at % bytes.length;
        if (hurt.kind === 'flip') bytes[at]! ^= 1 << hurt.bit;
        else bytes.fill(0, at, Math.min(bytes.length, at + hurt.length));
        fs.writeFileSync(file, bytes);
        const reader = new AgentEventLog({ dir });
        const seen = await collect(reader.read('run', { after })).catch((error: unknown) => error);
        await reader.close();
        if (seen instanceof Error) {
          expect(seen).toBeInstanceOf(CorruptStoreError);
          return;
        }
        const expected = written.slice(after);
        // Damage that reaches the last line (zeros from some line into it, or to the file's end;
        // its newline flipped) is what a crash leaves of writes that never reached the disk: it
        // reads as a torn tail, the events before the damaged line. Anywhere else: exact, or loud.
        const damagedLine = sound.subarray(0, at).filter((byte) => byte === 0x0a).length + 1;
        const reachesEnd = at >= lastLineStart || (hurt.kind === 'zero' && at + hurt.length > lastLineStart);
        if (reachesEnd) expect([expected, written.slice(after, Math.max(after, damagedLine - 1))]).toContainEqual(seen);
        else expect(seen).toEqual(expected);
      }),
      { numRuns: 1_000 },
    );
  });

  it('an append to a log with a flipped bit or a zeroed range anywhere fails with CorruptStoreError cutting nothing, or continues after every intact event', async () => {
    const dir = tempDir();
    const writer = new AgentEventLog({ dir, durability: 'flush', clock: () => 1_700_000_000_000 });
    for (let i = 1; i <= 12; i++)
      await writer.append('run', { type: 'progress', payload: { i, text: 'ab c'.repeat(i) } });
    await writer.close();
    const file = path.join(dir, 'run.ndjson');
    const sound = fs.readFileSync(file);
    const lastLineStart = sound.lastIndexOf(0x0a, sound.length - 2) + 1;

    await fc.assert(
      fc.asyncProperty(damage, async (hurt) => {
        const bytes = Buffer.from(sound);
        const at = hurt.at % bytes.length;
        if (hurt.kind === 'flip') bytes[at]! ^= 1 << hurt.bit;
        else bytes.fill(0, at, Math.min(bytes.length, at + hurt.length));
        fs.writeFileSync(file, bytes);
        fs.rmSync(path.join(dir, 'run.idx'), { force: true });
        const log = new AgentEventLog({ dir, durability: 'flush' });
        const appended = await log.append('run', { type: 'probe' }).catch((error: unknown) => error);
        await log.close();
        if (appended instanceof Error) {
          expect(appended).toBeInstanceOf(CorruptStoreError);
          expect(fs.readFileSync(file)).toEqual(bytes);
          return;
        }
        const damagedLine = sound.subarray(0, at).filter((byte) => byte === 0x0a).length + 1;
        const reachesEnd = at >= lastLineStart || (hurt.kind === 'zero' && at + hurt.length > lastLineStart);
        // Only a torn tail is cut: the new event follows the last intact one.
        expect([13, reachesEnd ? damagedLine : 13]).toContain((appended as AgentEvent).cursor);
        // Every line before the damaged one is still there, byte for byte.
        const kept = sound.lastIndexOf(0x0a, at - 1) + 1;
        expect(fs.readFileSync(file).subarray(0, kept)).toEqual(sound.subarray(0, kept));
      }),
      { numRuns: 300 },
    );
  });
});
