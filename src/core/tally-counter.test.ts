import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { tallyCounter } from './tally-counter.ts';

const config = { name: 'test_things_total', help: 'things', labelNames: ['kind', 'why'] as const };

describe('tally counter', () => {
  it('shows every pair of labels with its count when collected, and adds what came since', async () => {
    const registry = new Registry();
    const tally = tallyCounter(registry, config);
    tally('a', 'x');
    tally('a', 'x');
    tally('b', 'y');
    let text = await registry.metrics();
    expect(text).toContain('test_things_total{kind="a",why="x"} 2');
    expect(text).toContain('test_things_total{kind="b",why="y"} 1');
    // A scrape with nothing new changes nothing; later calls add to the totals.
    expect(await registry.metrics()).toBe(text);
    tally('a', 'x');
    tally('a', 'z');
    text = await registry.metrics();
    expect(text).toContain('test_things_total{kind="a",why="x"} 3');
    expect(text).toContain('test_things_total{kind="a",why="z"} 1');
    expect(text).toContain('test_things_total{kind="b",why="y"} 1');
  });

  it('is one counter per registry and name: a second tally adds to the same series', async () => {
    const registry = new Registry();
    tallyCounter(registry, config)('a', 'x');
    tallyCounter(registry, config)('a', 'x');
    expect(await registry.metrics()).toContain('test_things_total{kind="a",why="x"} 2');
    const other = new Registry();
    tallyCounter(other, config)('a', 'x');
    expect(await other.metrics()).toContain('test_things_total{kind="a",why="x"} 1');
  });
});
