/** A clock the test moves by hand. */
export function manualClock(start = 1_700_000_000_000) {
  let now = start;
  const clock = () => now;
  return Object.assign(clock, {
    set(value: number) {
      now = value;
    },
    advance(ms: number) {
      now += ms;
    },
  });
}

export type ManualClock = ReturnType<typeof manualClock>;
