export { type Clock, checkClockReading, MAX_CLOCK_MS, nextStamp, readClock, systemClock } from './clock.js';
export {
  type DocumentAdapter,
  DurableDocument,
  type Mutation,
  type Snapshot,
  type Transaction,
} from './document.js';
export * from './errors.js';
export { assertValidId, ID_PATTERN, isValidId } from './ids.js';
export { dirOf, type FileIdentity, nodeIO, nodeIOWith, type StorageIO, sameIdentity, type WriteCalls } from './io.js';
export {
  type CorruptionPolicy,
  type DocumentFormat,
  emptySnapshot,
  JsonFileAdapter,
  type JsonFileOptions,
  MemoryAdapter,
  type StoreWarning,
} from './json-file.js';
export { Lifecycle } from './lifecycle.js';
export { acquireLock, type HeldLock, type LockOptions, lockPathOf } from './lock.js';
export { type DocumentLocation, openDocument } from './open-document.js';
export { type JsonValue, parseInput, toJsonText, toJsonValue } from './validate.js';
