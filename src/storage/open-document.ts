import { DurableDocument } from './document.js';
import { type DocumentFormat, JsonFileAdapter, type JsonFileOptions, MemoryAdapter } from './json-file.js';

/** How a JSON-backed store is opened: on a file, or in memory (`static inMemory()`). */
export type DocumentLocation<E, M, L> = { memory: true } | Omit<JsonFileOptions<E, M, L>, 'format'>;

/**
 * Opens the document a JSON store keeps its state in. `store` names the store in the
 * `StoreClosedError` its methods raise once it is closed.
 */
export function openDocument<E, M, L>(
  format: DocumentFormat<E, M, L>,
  location: DocumentLocation<E, M, L>,
  store?: string,
): DurableDocument<E, M, L> {
  if ('memory' in location) return new DurableDocument(new MemoryAdapter(format), store);
  return new DurableDocument(new JsonFileAdapter({ ...location, format }), store);
}
