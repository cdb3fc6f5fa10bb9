/** `2026-11-25 12:31:11Z`: a readable UTC time, or `-` when there is none. */
export function formatTime(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** `12:31:11.123`: the UTC time of day to the millisecond, for event lines. */
export function formatClock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

/** `4s ago`, `12m ago`, `3h ago`, `2d ago`; `-` when there is no time. */
export function formatAgo(ms: number | undefined, now: number): string {
  if (ms === undefined) return '-';
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 120) return `${seconds}s ago`;
  if (seconds < 7_200) return `${Math.round(seconds / 60)}m ago`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)}h ago`;
  return `${Math.round(seconds / 86_400)}d ago`;
}
