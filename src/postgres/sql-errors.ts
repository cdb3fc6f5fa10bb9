import { ConflictError, StoreError, StoreIOError, ValidationError } from '../storage/errors.js';

/** What node-postgres puts on an error the server sent. */
interface ServerError {
  code?: string;
  detail?: string;
  constraint?: string;
  table?: string;
}

/** Socket errors that mean the server cannot be reached or the connection broke. */
const LOST_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** node-postgres reports a closed connection with a message, not a code. */
const LOST_MESSAGE = /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect/i;

/**
 * True when `error` means the connection to the server is gone or could not be made: a socket
 * error, SQLSTATE class 08 (connection exception), or the server shutting down (57P01–57P03).
 */
export function isConnectionLost(error: unknown): boolean {
  const code = (error as ServerError | undefined)?.code;
  if (typeof code === 'string') {
    if (LOST_SOCKET_CODES.has(code) || code.startsWith('08') || /^57P0[123]$/.test(code)) return true;
  }
  return error instanceof Error && LOST_MESSAGE.test(error.message);
}

/** SQLSTATE classes where the server itself ran out of something or failed: 53 (disk full, memory), 58 (I/O). */
function isServerResourceError(code: string | undefined): boolean {
  return code !== undefined && (code.startsWith('53') || code.startsWith('58'));
}

/**
 * Turns an error from node-postgres into the library's typed error, so that callers see the same
 * errors as with the file backend:
 * - a unique violation (`23505`) → `ConflictError`, naming the constraint;
 * - text PostgreSQL cannot store (`22P05`, `22021`: a `\u0000` in a JSON string) → `ValidationError`;
 * - a lost or refused connection, or the server failing for lack of disk or memory → `StoreIOError`,
 *   `inDoubt` when `options.inDoubt` says a commit was in flight (its outcome cannot be known);
 * - a `StoreError` and anything else → unchanged (a bug should surface as itself).
 *
 * @param what What was being done, for the message (`appending to run 'r1'`).
 */
export function fromSqlError(error: unknown, what: string, options: { inDoubt?: boolean } = {}): unknown {
  if (error instanceof StoreError) return error;
  const server = (error ?? {}) as ServerError;
  if (server.code === '23505') {
    const which = server.constraint ? ` (${server.constraint})` : '';
    const detail = server.detail ? `: ${server.detail}` : '';
    return new ConflictError(`${what} failed: it already exists${which}${detail}`);
  }
  if (server.code === '22P05' || server.code === '22021') {
    return new ValidationError(
      `${what} failed: PostgreSQL cannot store the text (${(error as Error).message}). JSON strings holding \\u0000 cannot be stored in jsonb: remove the NUL characters`,
    );
  }
  if (isConnectionLost(error)) {
    const outcome = options.inDoubt
      ? 'the connection was lost while the change was being committed, so it may or may not have been saved. Read the record again before retrying'
      : 'nothing was changed. Check that the database is reachable, then retry';
    return new StoreIOError('on PostgreSQL', what, error, { inDoubt: options.inDoubt ?? false, outcome });
  }
  if (isServerResourceError(server.code)) {
    return new StoreIOError('on PostgreSQL', what, error, {
      outcome: 'the server could not do it (disk, memory or I/O); nothing was changed. Check the server, then retry',
    });
  }
  return error;
}
