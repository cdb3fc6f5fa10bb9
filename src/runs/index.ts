export {
  AnalysisRunStore,
  type AnalysisRunStoreMemoryOptions,
  type AnalysisRunStoreOptions,
  MAX_HEARTBEAT_DETAILS_BYTES,
  type RunStoreWarning,
} from './AnalysisRunStore.js';
export type { CleanupHandle } from './CleanupTimer.js';
export type { HeartbeatHandle } from './HeartbeatTimer.js';
export type { RunEventSink } from './RunEventSink.js';
// The seam's real implementation, nodeRunFilesIO, is exported from `agent-stores/testing`.
export type { RunFilesIO } from './RunFilesIO.js';
export * from './schemas.js';
