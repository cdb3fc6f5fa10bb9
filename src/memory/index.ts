export { DISPUTE_WINDOW_MS, type FeedbackState, MISCLICK_WINDOW_MS, nextFeedbackStatus } from './feedback-status.js';
export type { MemoryStore } from './memory-store.js';
export {
  type ProjectMemoryStats,
  ProjectMemoryStore,
  type ProjectMemoryStoreMemoryOptions,
  type ProjectMemoryStoreOptions,
} from './project-memory-store.js';
export * from './schemas.js';
