import * as fs from 'node:fs';
import { nodeIOWith, type StorageIO } from '../../src/storage/io.js';

function noSpace(fd: number): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOSPC: no space left on device, write (fd ${fd})`), {
    code: 'ENOSPC',
    syscall: 'write',
  });
}

/**
 * The real file system over a disk with `state.room` bytes free whenever a file is written (the
 * space a failed write used comes back when its temp file is removed). Like the kernel, a write
 * that does not fit takes what fits and reports the short count; the next one fails with ENOSPC.
 * `state.shortWrites` counts the short counts returned.
 */
export function diskThatTakes(room: number) {
  const state = { room, shortWrites: 0 };
  const used = new Map<number, number>();
  const io: StorageIO = nodeIOWith({
    write(fd, buffer, offset, length) {
      // A descriptor number is reused once closed: a write at offset 0 starts a new file.
      const before = offset === 0 ? 0 : (used.get(fd) ?? 0);
      const free = state.room - before;
      if (free <= 0) throw noSpace(fd);
      const take = Math.min(length, free);
      if (take < length) state.shortWrites++;
      const written = fs.writeSync(fd, buffer, offset, take);
      used.set(fd, before + written);
      return written;
    },
  });
  return { io, state };
}

/**
 * The real file system, except that while `state.full` is set every file write runs out of
 * space: the first write of a file takes half its bytes (a short count), the next fails with
 * ENOSPC, as on a disk that fills up.
 */
export function diskThatFills() {
  const state = { full: false };
  const disk = diskThatTakes(Number.POSITIVE_INFINITY);
  const io: StorageIO = {
    ...disk.io,
    async writeAtomic(file, data, options) {
      disk.state.room = state.full ? Math.floor(data.length / 2) : Number.POSITIVE_INFINITY;
      return disk.io.writeAtomic(file, data, options);
    },
  };
  return { io, state };
}
