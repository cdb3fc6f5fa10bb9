import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AgentEventLog } from '../../src/events/index.js';
import { tempDir } from '../helpers/tmp.js';
import { collect, cursors, range } from './helpers.js';

describe('AgentEventLog reads (property)', () => {
  it('returns exactly the events after any cursor, in any instance, whatever the index holds', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.integer({ min: 0, max: 6_000 }), { minLength: 1, maxLength: 6 }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.constantFrom('sound', 'short', 'missing'),
        fc.nat(),
        async (batches, index, pick) => {
          const dir = tempDir();
          const writer = new AgentEventLog({ dir, durability: 'flush', recentEvents: 2 });
          for (const sizes of batches) {
            await Promise.all(sizes.map((size) => writer.append('run', { type: 't', payload: 'é'.repeat(size) })));
          }
          const total = batches.flat().length;
          const after = pick % (total + 1);
          const expected = range(total - after, after + 1);
          expect(cursors(await collect(writer.read('run', { after })))).toEqual(expected);
          await writer.close();
          const idx = path.join(dir, 'run.idx');
          if (index === 'short') fs.truncateSync(idx, Math.floor(fs.statSync(idx).size / 16) * 8);
          if (index === 'missing') fs.rmSync(idx);
          const reader = new AgentEventLog({ dir });
          const events = await collect(reader.read('run', { after }));
          expect(cursors(events)).toEqual(expected);
          const sizes = batches.flat();
          expect(events.map((event) => (event.payload as string).length)).toEqual(sizes.slice(after));
        },
      ),
      { numRuns: 60 },
    );
  });
});
