import type { AnalysisRunStore } from './analysis-run-store.js';

/**
 * What every run store offers, whatever it stores on: the public methods of
 * {@link AnalysisRunStore}. `createStores()` gives the file-backed class; `createPostgresStores()`
 * (from `agent-stores/postgres`) gives another implementation with the same behaviour. Type your
 * code against this to take either.
 */
export type RunStore = Pick<
  AnalysisRunStore,
  | 'staleAfterMs'
  | 'create'
  | 'start'
  | 'heartbeat'
  | 'startHeartbeat'
  | 'startCleanup'
  | 'complete'
  | 'fail'
  | 'cancel'
  | 'get'
  | 'list'
  | 'page'
  | 'delete'
  | 'isStale'
  | 'cleanup'
  | 'close'
>;
