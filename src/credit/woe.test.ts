import { describe, expect, it } from 'vitest';
import { woeTable } from './woe.ts';

describe('weight of evidence and information value', () => {
  it('matches a table computed by hand', () => {
    // goods 50/30/20 of 100, bads 10/10/20 of 40:
    // WoE = ln(0.50/0.25) = 0.693147, ln(0.30/0.25) = 0.182322, ln(0.20/0.50) = −0.916291
    // IV  = 0.25·0.693147 + 0.05·0.182322 + (−0.30)·(−0.916291) = 0.173287 + 0.009116 + 0.274887
    const t = woeTable([50, 30, 20], [10, 10, 20]);
    expect(t.rows.map((r) => r.woe)).toEqual([
      expect.closeTo(0.693147, 6),
      expect.closeTo(0.182322, 6),
      expect.closeTo(-0.916291, 6),
    ]);
    expect(t.rows.map((r) => r.iv)).toEqual([
      expect.closeTo(0.173287, 6),
      expect.closeTo(0.009116, 6),
      expect.closeTo(0.274887, 6),
    ]);
    expect(t.iv).toBeCloseTo(0.45729, 5);
  });

  it('smooths an empty side and leaves an empty bin at 0', () => {
    const t = woeTable([10, 0, 0], [0, 10, 0]);
    expect(t.rows[0]!.woe).toBeCloseTo(Math.log(1 / (0.5 / 10)), 9);
    expect(t.rows[1]!.woe).toBeCloseTo(Math.log(0.5 / 10 / 1), 9);
    expect(t.rows[2]!.woe).toBe(0);
  });
});
