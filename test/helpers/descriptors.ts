import * as fs from 'node:fs';

/** Descriptors this process holds open on `file` (Linux only: it reads /proc/self/fd). */
export function descriptorsOn(file: string): number {
  let count = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === file) count++;
    } catch {
      // Closed while we looked.
    }
  }
  return count;
}
