// The peak resident set of THIS process, in KiB. On Linux, `getrusage` (process.resourceUsage()
// .maxRSS) of a freshly spawned process starts at its parent's peak: the kernel carries the
// high-water mark over the exec. A bench child spawned by a runner that has just built a 1M-event
// log would report the runner's memory, not its own. /proc/self/status's VmHWM is the high-water
// mark of this process's own address space; elsewhere maxRSS is the best there is.
import { readFileSync } from 'node:fs';

/** This process's own peak resident set, KiB. */
export function peakRssKb() {
  if (process.platform === 'linux') {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]);
  }
  return process.resourceUsage().maxRSS;
}
