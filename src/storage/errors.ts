import type { z } from 'zod';

/** Every error code a store can raise. Scripts and callers may switch on these. */
export type StoreErrorCode =
  | 'VALIDATION'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'ILLEGAL_TRANSITION'
  | 'CORRUPT'
  | 'LOCKED'
  | 'SEALED'
  | 'TOO_LARGE'
  | 'INVALID_ID'
  | 'IO'
  | 'CLOSED';

/** Base class of every error thrown by agent-stores. `code` is stable; messages are for people. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Input failed its schema or a rule of the contract. `issues` lists what is wrong, field by field. */
export class ValidationError extends StoreError {
  readonly issues: z.core.$ZodIssue[];

  constructor(message: string, issues: z.core.$ZodIssue[] = []) {
    super('VALIDATION', message);
    this.issues = issues;
  }
}

/** The id names nothing in the store. */
export class NotFoundError extends StoreError {
  constructor(
    readonly kind: string,
    readonly id: string,
  ) {
    super('NOT_FOUND', `${kind} '${id}' does not exist`);
  }
}

/** The operation would overwrite something that already exists (a duplicate id, a second completion). */
export class ConflictError extends StoreError {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}

/** A state machine refused the move. `from` and `to` name the states. */
export class IllegalTransitionError extends StoreError {
  constructor(
    readonly id: string,
    readonly from: string,
    readonly to: string,
    hint = '',
  ) {
    super('ILLEGAL_TRANSITION', `'${id}' cannot move from '${from}' to '${to}'${hint ? `: ${hint}` : ''}`);
  }
}

/** A file on disk could not be parsed, failed its schema, or was written by a newer version. It was left untouched. */
export class CorruptStoreError extends StoreError {
  constructor(
    readonly file: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      'CORRUPT',
      `${file} cannot be read (${reason}); it was left as it is. Restore it from a backup, fix it by hand, or open the store with onCorrupt: 'quarantine' to move it aside and start empty`,
      options,
    );
  }
}

/** Another process holds the lock and did not release it in time. */
export class LockError extends StoreError {
  constructor(
    readonly file: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super('LOCKED', `${file} is locked: ${reason}`, options);
  }
}

/** The run's event log ended with a terminal event; nothing more can be appended. */
export class SealedLogError extends StoreError {
  constructor(readonly runId: string) {
    super('SEALED', `the event log of run '${runId}' is sealed by a terminal event; start a new run to append more`);
  }
}

/** An event or record is larger than the configured limit. */
export class PayloadTooLargeError extends StoreError {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super('TOO_LARGE', `the event is ${size} bytes, over the limit of ${limit} bytes (option maxEventBytes)`);
  }
}

/** An id that would name a file does not match the id rule. No file was touched. */
export class InvalidIdError extends StoreError {
  constructor(
    readonly id: unknown,
    what = 'id',
  ) {
    super(
      'INVALID_ID',
      `${what} ${JSON.stringify(String(id)).slice(0, 150)} is not valid: use 1 to 128 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit`,
    );
  }
}

/**
 * The disk refused a write or read (ENOSPC, EIO, EACCES…). Normally files were left as they were.
 * When `inDoubt` is true the new contents already replaced the file, but making that durable
 * failed (the directory sync): the change is visible now and may or may not survive a power loss.
 * `errno` is the system's code (`ENOSPC` for a full disk, also when it took only part of the bytes;
 * `ELOOP` for a symbolic link where the store keeps a file of its own).
 */
export class StoreIOError extends StoreError {
  readonly inDoubt: boolean;
  /** The system error code of the cause (`ENOSPC`, `EIO`, `ELOOP`…), when it had one. */
  readonly errno: string | undefined;

  constructor(
    readonly file: string,
    operation: string,
    cause: unknown,
    options: {
      inDoubt?: boolean;
      /** What happened and what to do, in place of the file-system advice (a database, a driver). */
      outcome?: string;
    } = {},
  ) {
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
    const where = (cause as NodeJS.ErrnoException | undefined)?.path;
    const at = typeof where === 'string' && where !== file ? ` at ${where}` : '';
    let outcome = 'nothing was changed. Check disk space and permissions, then retry';
    if (options.outcome !== undefined) {
      outcome = options.outcome;
    } else if (options.inDoubt) {
      outcome =
        'the change is in the file but may not survive a power loss. Check the disk, then read the record again before retrying';
    } else if (errno === 'ELOOP' || errno === 'EEXIST') {
      outcome = `nothing was read or changed through it. agent-stores never reads or writes through a symbolic link (or anything else) in place of a file it creates; the link and its target were left alone. Replace the link with the file itself, or open the store on the real directory (the root directory may be a link)`;
    }
    super('IO', `${operation} ${file} failed (${errno ?? 'unknown'}${at}); ${outcome}`, { cause });
    this.inDoubt = options.inDoubt ?? false;
    this.errno = errno;
  }
}

/** The store (or the `createStores()` bundle it belongs to) was closed; open a new one to go on. */
export class StoreClosedError extends StoreError {
  constructor(readonly store: string) {
    super('CLOSED', `${store} is closed: close() was called on it. Open a new instance to use the files again`);
  }
}
