// What users of the package see of the storage core: errors, the id rule, the clock type,
// warning and corruption-policy types, and the file-system seam's types (the stores' `io` option
// takes one; its real implementation, nodeIO, is exported from `agent-stores/testing`).
export { type Clock, systemClock } from './clock.js';
export * from './errors.js';
export { ID_PATTERN, isValidId } from './ids.js';
export type { FileIdentity, FileWatch, StorageIO } from './io.js';
export type { CorruptionPolicy, StoreWarning } from './json-file.js';
export type { LockOptions } from './lock.js';
