import { z } from 'zod';
import type { DocumentFormat, DurableDocument } from '../../src/storage/index.js';

/** The small document the storage-core tests work on: items keyed by id, a counter, a string log. */
export const Item = z.object({ id: z.string(), n: z.number() });
export type Item = z.infer<typeof Item>;
export type ItemDoc = DurableDocument<Item, { count: number }, string>;

export const itemFormat: DocumentFormat<Item, { count: number }, string> = {
  version: 1,
  entry: Item,
  meta: z.object({ count: z.number() }),
  logRow: z.string(),
  keyOf: (item) => item.id,
  emptyMeta: () => ({ count: 0 }),
};
