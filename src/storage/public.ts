// What users of the package see of the storage core: errors, the id rule, the clock type,
// warning and corruption-policy types, and the file-system seam (for fault-injection tests).
export { type Clock, systemClock } from './clock.js';
export * from './errors.js';
export { ID_PATTERN, isValidId } from './ids.js';
export { type FileIdentity, type FileWatch, nodeIO, type StorageIO } from './io.js';
export type { CorruptionPolicy, StoreWarning } from './json-file.js';
export type { LockOptions } from './lock.js';
