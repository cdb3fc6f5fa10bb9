import { describe, expect, it } from 'vitest';
import { AgentEventLog, type AgentEventLogOptions } from '../../src/events/index.js';
import { ValidationError } from '../../src/storage/errors.js';
import { snapshotFiles, tempDir } from '../helpers/tmp.js';
import { collect } from './helpers.js';

type Options = Omit<AgentEventLogOptions, 'dir'>;

const backends: [string, (options?: Options) => { log: AgentEventLog; dir: string | undefined }][] = [
  [
    'file',
    (options = {}) => {
      const dir = tempDir();
      return { log: new AgentEventLog({ dir, ...options }), dir };
    },
  ],
  ['memory', (options = {}) => ({ log: AgentEventLog.inMemory(options), dir: undefined })],
];

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

class Money {
  constructor(readonly cents: number) {}
  toJSON() {
    return { amount: this.cents / 100, currency: 'EUR' };
  }
}

describe.each(backends)('append acknowledges what readers get (%s)', (_name, open) => {
  /** Appends `payload`, then returns what append resolved with and what read and follow give back. */
  async function roundTrip(payload: unknown) {
    const { log } = open();
    const acknowledged = await log.append('run-1', { type: 'step', payload });
    const [read] = await collect(log.read('run-1'));
    const followed = log.follow('run-1')[Symbol.asyncIterator]();
    const live = (await followed.next()).value;
    await followed.return?.();
    await log.close();
    return { acknowledged, read, live };
  }

  it.each([
    ['a plain nested object', { a: { b: [1, 'two', true, null] } }],
    ['a Date, as its ISO string', { when: new Date(0) }],
    ['an object with toJSON, as what toJSON returns', { price: new Money(1250) }],
    ['nested undefined: the key is absent, an array item is null', { keep: 1, gone: undefined, list: [1, undefined] }],
    ['-0, as 0', { zero: -0 }],
    ['a sparse array, holes as null', { holes: new Array(3) }],
    ['an object without prototype', { bare: Object.assign(Object.create(null), { k: 'v' }) }],
    ['a key named __proto__', JSON.parse('{"__proto__":{"x":1}}')],
  ])('for %s, resolves with exactly the event read and followed', async (_what, payload) => {
    const { acknowledged, read, live } = await roundTrip(payload);
    expect(acknowledged).toStrictEqual(read);
    expect(live).toStrictEqual(read);
    expect(Object.keys(acknowledged.payload as object)).toEqual(Object.keys(read!.payload as object));
  });

  it('leaves out an undefined property in the acknowledged payload, as in the stored one', async () => {
    const { acknowledged } = await roundTrip({ keep: 1, gone: undefined });
    expect(Object.hasOwn(acknowledged.payload as object, 'gone')).toBe(false);
  });

  it('resolves with a copy: changing the caller’s object afterwards changes neither the acknowledgement nor the log', async () => {
    const { log } = open();
    const payload = { step: 1, items: ['a'] };
    const pending = log.append('run-1', { type: 'step', payload });
    payload.step = 2;
    payload.items.push('b');
    const acknowledged = await pending;
    expect(acknowledged.payload).toEqual({ step: 1, items: ['a'] });
    expect((await collect(log.read('run-1')))[0]?.payload).toEqual({ step: 1, items: ['a'] });
    await log.close();
  });

  it.each([
    ['a Map', { tools: new Map([['a', 1]]) }, 'payload.tools'],
    ['a Set', { tags: new Set(['x']) }, 'payload.tags'],
    ['a function in an array', { steps: [1, () => 2] }, 'payload.steps[1]'],
    ['a class instance without toJSON', { at: new Point(1, 2) }, 'payload.at'],
    ['an Error', { error: new Error('boom') }, 'payload.error'],
    ['a nested symbol', { deep: { s: Symbol('s') } }, 'payload.deep.s'],
    ['a nested NaN', { deep: [{ n: Number.NaN }] }, 'payload.deep[0].n'],
    ['a Uint8Array', { bytes: new Uint8Array(2) }, 'payload.bytes'],
  ])(
    'refuses a payload holding %s with ValidationError naming where it is, writing nothing',
    async (_what, payload, where) => {
      const { log, dir } = open();
      await log.append('run-1', { type: 'step', payload: 1 });
      const before = dir === undefined ? undefined : snapshotFiles(dir);
      const refused = await log.append('run-1', { type: 'step', payload }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(ValidationError);
      expect((refused as Error).message).toContain(where.replace(/^payload/, ''));
      if (dir !== undefined) expect(snapshotFiles(dir)).toEqual(before);
      expect(await log.lastCursor('run-1')).toBe(1);
      await log.close();
    },
  );

  it.each([
    ['NaN', Number.NaN],
    ['a fraction', 1.5],
    ['a negative time', -1],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a string', '1700000000000'],
  ])('refuses an append when the clock reads %s with ValidationError, writing nothing', async (_what, reading) => {
    const { log, dir } = open({ clock: () => reading as number });
    await expect(log.append('run-1', { type: 'step' })).rejects.toBeInstanceOf(ValidationError);
    if (dir !== undefined) expect(snapshotFiles(dir)).toEqual({});
    expect(await log.exists('run-1')).toBe(false);
    await log.close();
  });

  it('stamps `at` with the clock’s reading, in the acknowledgement as in the log', async () => {
    const { log } = open({ clock: () => 1_700_000_000_123 });
    const acknowledged = await log.append('run-1', { type: 'step' });
    expect(acknowledged.at).toBe(1_700_000_000_123);
    expect((await collect(log.read('run-1')))[0]).toStrictEqual(acknowledged);
    await log.close();
  });
});
