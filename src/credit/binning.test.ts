import { describe, expect, it } from 'vitest';
import { assignBins, binCategorical, binCount, binCounts, binNumeric, numericBin } from './binning.ts';
import { seededRandom } from './random.ts';
import { woeTable } from './woe.ts';

function synthetic(n: number, seed: number) {
  const random = seededRandom(seed);
  const x = new Float64Array(n);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = Math.round(random() * 1000);
    // risk falls with x, with a wiggle that fine bins would show as non-monotone
    const p = 0.45 - 0.3 * (x[i]! / 1000) + 0.06 * Math.sin(x[i]! / 40);
    y[i] = random() < p ? 1 : 0;
  }
  return { x, y, rows: Int32Array.from({ length: n }, (_, i) => i) };
}

describe('binning', () => {
  it('merges numeric bins until WoE is strictly monotone, with no tiny bins', () => {
    for (const seed of [1, 2, 3]) {
      const { x, y, rows } = synthetic(5000, seed);
      const binning = binNumeric(x, y, rows, { fineBins: 30, minBinShare: 0.05 });
      const bins = assignBins(binning, x);
      const { goods, bads } = binCounts(bins, y, rows, binCount(binning));
      const woe = woeTable(goods, bads)
        .rows.slice(0, binCount(binning))
        .map((r) => r.woe);
      expect(woe.length).toBeGreaterThan(2);
      const rising = woe[1]! > woe[0]!;
      for (let i = 1; i < woe.length; i++) expect(woe[i]! > woe[i - 1]!).toBe(rising);
      // risk falls with x, so WoE (good over bad) rises
      expect(rising).toBe(true);
      for (let b = 0; b < binCount(binning); b++)
        expect(goods[b]! + bads[b]!).toBeGreaterThanOrEqual(0.05 * 5000);
    }
  });

  it('puts missing values in their own bin', () => {
    const binning = { kind: 'numeric' as const, cuts: [10, 20] };
    expect(numericBin(binning.cuts, 5)).toBe(0);
    expect(numericBin(binning.cuts, 10)).toBe(1);
    expect(numericBin(binning.cuts, 25)).toBe(2);
    expect(numericBin(binning.cuts, NaN)).toBe(3);
  });

  it('keeps categories, merging small ones into the neighbour with the closest bad rate', () => {
    const x: string[] = [];
    const y: number[] = [];
    const add = (label: string, goods: number, bads: number) => {
      for (let i = 0; i < goods + bads; i++) {
        x.push(label);
        y.push(i < bads ? 1 : 0);
      }
    };
    add('-1', 400, 60); // 13%
    add('0', 900, 120); // 12%
    add('1', 200, 100); // 33%
    add('2', 100, 200); // 67%
    add('3', 10, 20); // 67%, tiny → merges with 2
    const rows = Int32Array.from({ length: x.length }, (_, i) => i);
    const binning = binCategorical(x, y, rows, { fineBins: 20, minBinShare: 0.05 });
    expect(binning.kind).toBe('categorical');
    if (binning.kind !== 'categorical') return;
    expect(binning.groups).toContainEqual(['2', '3']);
    expect(binning.groups).toContainEqual(['1']);
    const bins = assignBins(binning, ['9', null, '1']);
    expect(bins[0]).toBe(binning.groups.length); // unseen → missing bin
    expect(bins[1]).toBe(binning.groups.length);
  });
});
