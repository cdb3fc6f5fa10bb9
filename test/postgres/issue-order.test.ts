// IssueOrder keeps one PostgreSQL store instance's calls in issue order where that order can be
// seen: pure, no server needed.
import { describe, expect, it } from 'vitest';
import { IssueOrder } from '../../src/postgres/issue-order.js';

/** An operation that runs until the test releases it, recording when it starts and ends. */
function gate(log: string[], name: string, outcome: 'ok' | 'fail' = 'ok') {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const operation = async () => {
    log.push(`start ${name}`);
    await released;
    log.push(`end ${name}`);
    if (outcome === 'fail') throw new Error(`${name} failed`);
    return name;
  };
  return { operation, release };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('IssueOrder', () => {
  it('starts an operation on a key only once the one issued before it on that key has settled, failed or not', async () => {
    const order = new IssueOrder();
    const log: string[] = [];
    const first = gate(log, 'first', 'fail');
    const second = gate(log, 'second');
    const results = [order.run(['a'], first.operation), order.run(['a', 'b'], second.operation)];
    await tick();
    expect(log).toEqual(['start first']);
    first.release();
    second.release();
    await expect(results[0]).rejects.toThrow('first failed');
    await expect(results[1]).resolves.toBe('second');
    expect(log).toEqual(['start first', 'end first', 'start second', 'end second']);
  });

  it('runs operations on different keys side by side', async () => {
    const order = new IssueOrder();
    const log: string[] = [];
    const first = gate(log, 'first');
    const second = gate(log, 'second');
    const results = [order.run(['a'], first.operation), order.run(['b'], second.operation)];
    await tick();
    expect(log).toEqual(['start first', 'start second']);
    second.release();
    await results[1];
    first.release();
    await results[0];
  });

  it("makes an operation on 'all' wait for every earlier one, and every later one wait for it", async () => {
    const order = new IssueOrder();
    const log: string[] = [];
    const [a, b, all, c] = [gate(log, 'a'), gate(log, 'b'), gate(log, 'all'), gate(log, 'c')];
    const results = [
      order.run(['a'], a.operation),
      order.run(['b'], b.operation),
      order.run('all', all.operation),
      order.run(['c'], c.operation),
    ];
    await tick();
    expect(log).toEqual(['start a', 'start b']);
    a.release();
    b.release();
    await tick();
    expect(log).toEqual(['start a', 'start b', 'end a', 'end b', 'start all']);
    all.release();
    c.release();
    await Promise.all(results);
    expect(log.slice(-3)).toEqual(['end all', 'start c', 'end c']);
  });

  it('turns an operation that throws at once into a rejection and lets the next one run', async () => {
    const order = new IssueOrder();
    const thrown = order.run(['a'], () => {
      throw new Error('at once');
    });
    await expect(thrown).rejects.toThrow('at once');
    await expect(order.run(['a'], async () => 'next')).resolves.toBe('next');
  });
});
