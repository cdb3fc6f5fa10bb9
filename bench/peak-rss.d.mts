/** This process's own peak resident set, KiB (VmHWM on Linux, where getrusage starts at the parent's peak). */
export function peakRssKb(): number;
