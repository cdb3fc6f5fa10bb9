/**
 * Closes stores in stages: the closes of one stage run together, each stage after the one
 * before. Every close runs even when another fails; the first failure is thrown at the end.
 * `createStores()` and `createPostgresStores()` close the run store first (its timers still beat
 * and clean up, and its status changes append terminal events), then the rest.
 */
export async function closeInStages(...stages: (() => Promise<unknown>)[][]): Promise<void> {
  const outcomes: PromiseSettledResult<unknown>[] = [];
  for (const stage of stages) outcomes.push(...(await Promise.allSettled(stage.map((close) => close()))));
  const failed = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}
