/**
 * `agent-stores/testing`: the file-system seams the stores write through, for fault-injection
 * tests. Each store takes an `io` (and the run store a `files`) option; wrap the real
 * implementation exported here and fail the steps you choose (ENOSPC on a write, EIO on an fsync,
 * a crash between two calls), then check what the store reports and what is left on disk.
 *
 * ```ts
 * import { FeedbackPipeline } from 'agent-stores';
 * import { nodeIO, type StorageIO } from 'agent-stores/testing';
 *
 * const diskFull: StorageIO = {
 *   ...nodeIO,
 *   writeAtomic: async () => {
 *     throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
 *   },
 * };
 * const pipeline = new FeedbackPipeline({ path: 'logs/feedback_pipeline.json', io: diskFull });
 * ```
 * @packageDocumentation
 */
export { type EventFileHandle, type EventFileId, type EventLogIO, nodeEventLogIO } from './events/event-log-io.js';
export { nodeRunFilesIO, type RunFilesIO } from './runs/run-files-io.js';
export { type FileIdentity, type FileWatch, nodeIO, type StorageIO } from './storage/io.js';
