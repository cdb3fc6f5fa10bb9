import * as path from 'node:path';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { openDocument } from '../../src/storage/index.js';
import { type Item, type ItemDoc, itemFormat } from '../helpers/item-format.js';
import { checkModel, ModelError, type ModelSpec, runsFromEnv } from './model-run.js';

type Op =
  | { t: 'put'; id: string; n: number }
  | { t: 'delete'; id: string }
  | { t: 'refuse'; id: string }
  | { t: 'get'; id: string };

interface Model {
  entries: Map<string, Item>;
  count: number;
  log: string[];
}

const id = fc.constantFrom('a', 'b', 'c', 'd');
const write: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('put' as const), id, n: fc.integer({ min: 0, max: 9 }) }),
  fc.record({ t: fc.constant('delete' as const), id }),
  fc.record({ t: fc.constant('refuse' as const), id }),
);
const op: fc.Arbitrary<Op> = fc.oneof(write, fc.record({ t: fc.constant('get' as const), id }));

// The contract of a DurableDocument, as a plain Map: mutations apply in order, a throwing one
// changes nothing, a delete reports whether the key existed.
const spec: ModelSpec<Op, ItemDoc, Model> = {
  op,
  batchOp: write,
  open: (root) =>
    openDocument(itemFormat, root === undefined ? { memory: true } : { file: path.join(root, 'doc.json') }),
  model: () => ({ entries: new Map(), count: 0, log: [] }),
  async run(o, doc) {
    switch (o.t) {
      case 'put':
        return doc.mutate((tx) => {
          tx.put(o.id, { id: o.id, n: o.n });
          tx.setMeta({ count: tx.meta.count + 1 });
          tx.appendLog(`put ${o.id}`);
          return tx.values().next().done === false;
        });
      case 'delete':
        return doc.mutate((tx) => {
          const existed = tx.delete(o.id);
          if (existed) tx.appendLog(`delete ${o.id}`);
          return existed;
        });
      case 'refuse':
        return doc.mutate((tx) => {
          tx.put(o.id, { id: o.id, n: -1 });
          tx.appendLog('never');
          throw new ModelError('REFUSED');
        });
      case 'get':
        return (await doc.read()).entries.get(o.id);
    }
  },
  apply(o, m) {
    switch (o.t) {
      case 'put':
        m.entries.set(o.id, { id: o.id, n: o.n });
        m.count += 1;
        m.log.push(`put ${o.id}`);
        return true;
      case 'delete': {
        const existed = m.entries.delete(o.id);
        if (existed) m.log.push(`delete ${o.id}`);
        return existed;
      }
      case 'refuse':
        throw new ModelError('REFUSED');
      case 'get':
        return m.entries.get(o.id);
    }
  },
  async observe(doc) {
    const snap = await doc.read();
    return {
      entries: [...snap.entries.values()].sort((a, b) => a.id.localeCompare(b.id)),
      count: snap.meta.count,
      log: [...snap.log],
    };
  },
  view: (m) => ({
    entries: [...m.entries.values()].sort((a, b) => a.id.localeCompare(b.id)),
    count: m.count,
    log: m.log,
  }),
};

describe('DurableDocument against a model', () => {
  it('agrees with the model on every step of random sequences in memory', async () => {
    await checkModel(spec, { file: false, numRuns: runsFromEnv('FC_RUNS', 1_000) });
  });

  it('agrees with the model on every step and after reopening, on a file', async () => {
    await checkModel(spec, { file: true, numRuns: runsFromEnv('FC_FILE_RUNS', 1_000) });
  });
});
