import { nodeIO, type StorageIO } from '../../src/storage/io.js';

/** The real file system, except that writes fail with ENOSPC while `state.full` is set. */
export function diskThatFills() {
  const state = { full: false };
  const io: StorageIO = {
    ...nodeIO,
    async writeAtomic(file, data, options) {
      if (state.full) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      return nodeIO.writeAtomic(file, data, options);
    },
  };
  return { io, state };
}
