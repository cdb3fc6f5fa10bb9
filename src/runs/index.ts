export {
  AnalysisRunStore,
  type AnalysisRunStoreMemoryOptions,
  type AnalysisRunStoreOptions,
  MAX_HEARTBEAT_DETAILS_BYTES,
  type RunStoreWarning,
} from './analysis-run-store.js';
export type { CleanupHandle } from './cleanup-timer.js';
export type { HeartbeatHandle } from './heartbeat-timer.js';
export type { RunEventSink } from './run-event-sink.js';
// The seam's real implementation, nodeRunFilesIO, is exported from `agent-stores/testing`.
export type { RunFilesIO } from './run-files-io.js';
export type { RunStore } from './run-store.js';
export * from './schemas.js';
