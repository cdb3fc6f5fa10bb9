import type { DurableDocument } from './document.js';
import { ValidationError } from './errors.js';
import type { StorageIO } from './io.js';
import type { CorruptionPolicy, DocumentFormat, StoreWarning } from './json-file.js';
import { openDocument } from './open-document.js';

/** The file options every JSON-file store takes (each store documents them in its own options type). */
export interface JsonStoreFileOptions {
  path: string;
  onCorrupt?: CorruptionPolicy | undefined;
  onWarning?: ((warning: StoreWarning) => void) | undefined;
  io?: StorageIO | undefined;
}

// Set by `constructInMemory()` for the duration of one constructor call: a store's public
// constructor always opens a file, and `inMemory()` must go through that same constructor.
let openingInMemory = false;

/** Runs `construct` (a store's constructor call) so that the store keeps its document in memory. */
export function constructInMemory<T>(construct: () => T): T {
  openingInMemory = true;
  try {
    return construct();
  } finally {
    openingInMemory = false;
  }
}

/**
 * Opens the document of a JSON-file store: on `options.path`, or in memory inside
 * {@link constructInMemory}.
 * @throws ValidationError when `path` is not a non-empty string.
 */
export function openStoreDocument<E, M, L>(
  format: DocumentFormat<E, M, L>,
  options: JsonStoreFileOptions,
  store: string,
  holds: string,
): DurableDocument<E, M, L> {
  if (openingInMemory) return openDocument(format, { memory: true }, store);
  if (typeof options?.path !== 'string' || options.path === '') {
    throw new ValidationError(`${store} needs a path: the JSON file to keep ${holds} in`);
  }
  return openDocument(
    format,
    {
      file: options.path,
      onCorrupt: options.onCorrupt,
      onWarning: options.onWarning,
      io: options.io,
    },
    store,
  );
}
