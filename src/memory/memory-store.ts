import type { ProjectMemoryStore } from './project-memory-store.js';

/**
 * What every memory store offers, whatever it stores on: the public methods of
 * {@link ProjectMemoryStore}. `createStores()` gives the file-backed class; `createPostgresStores()`
 * (from `agent-stores/postgres`) gives another implementation with the same behaviour. Type your
 * code against this to take either.
 */
export type MemoryStore = Pick<
  ProjectMemoryStore,
  | 'save'
  | 'update'
  | 'get'
  | 'remove'
  | 'list'
  | 'recall'
  | 'promote'
  | 'promotionAudit'
  | 'stats'
  | 'applyFeedback'
  | 'sweepAutoConfirm'
  | 'close'
>;
