import { describe, expect, it } from 'vitest';
import { seededRandom } from './ranking.ts';
import { nextP99 } from './routing.ts';

describe('nextP99', () => {
  it('settles near the 99th percentile of what it is fed, and follows it when it moves', () => {
    const random = seededRandom(3);
    let estimate = 0;
    // Uniform 0–100 ms: the 99th percentile is 99.
    for (let i = 0; i < 20_000; i++) estimate = nextP99(estimate, random() * 100);
    expect(estimate).toBeGreaterThan(94);
    expect(estimate).toBeLessThan(103);
    // The machine gets quieter (0–20 ms): the estimate comes down to about 20.
    for (let i = 0; i < 20_000; i++) estimate = nextP99(estimate, random() * 20);
    expect(estimate).toBeGreaterThan(17);
    expect(estimate).toBeLessThan(23);
  });
});
