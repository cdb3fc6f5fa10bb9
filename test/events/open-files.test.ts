import { describe, expect, it } from 'vitest';
import { AgentEventLog, type EventLogIO } from '../../src/events/index.js';
import { LockError } from '../../src/storage/errors.js';
import { nodeEventLogIO } from '../../src/testing.js';
import { tempDir } from '../helpers/tmp.js';
import { collect, cursors, range } from './helpers.js';

/** The real file system, counting the handles open right now (and the most ever open). */
function countingIO(): { io: EventLogIO; open: () => number; peak: () => number } {
  let open = 0;
  let peak = 0;
  const io: EventLogIO = {
    ...nodeEventLogIO,
    open(file, mode) {
      const real = nodeEventLogIO.open(file, mode);
      if (real === undefined) return undefined;
      peak = Math.max(peak, ++open);
      return {
        file,
        size: () => real.size(),
        read: (buffer, offset, length, position) => real.read(buffer, offset, length, position),
        write: (buffer, offset, length, position) => real.write(buffer, offset, length, position),
        datasync: () => real.datasync(),
        truncate: (length) => real.truncate(length),
        close() {
          open--;
          real.close();
        },
      };
    },
  };
  return { io, open: () => open, peak: () => peak };
}

describe('AgentEventLog open files', () => {
  it('keeps at most 256 runs’ files open (512 handles), reopening older runs transparently while their locks stay held', async () => {
    const dir = tempDir();
    const counting = countingIO();
    const log = new AgentEventLog({ dir, io: counting.io, durability: 'flush' });
    for (const round of [1, 2]) {
      for (const run of range(300)) {
        expect((await log.append(`run-${run}`, { type: 'n', payload: { round } })).cursor).toBe(round);
      }
    }
    // Reads (which open and close their own handles) included, never more than the cap plus one read.
    expect(counting.peak()).toBeLessThanOrEqual(2 * 256 + 2);
    expect(counting.open()).toBeLessThanOrEqual(2 * 256);
    // The first run's files were closed long ago; its lock was not.
    const other = new AgentEventLog({ dir, lock: { waitMs: 0 } });
    await expect(other.append('run-1', { type: 'n' })).rejects.toBeInstanceOf(LockError);
    await other.close();
    expect(cursors(await collect(log.read('run-1')))).toEqual([1, 2]);
    expect((await log.append('run-1', { type: 'n' })).cursor).toBe(3);
    await log.close();
    expect(counting.open()).toBe(0);
    const reader = new AgentEventLog({ dir });
    for (const run of [1, 150, 300])
      expect(cursors(await collect(reader.read(`run-${run}`)))).toEqual(range(run === 1 ? 3 : 2));
    expect((await reader.verify('run-1')).ok).toBe(true);
    await reader.close();
  });
});
