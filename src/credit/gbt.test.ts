import { describe, expect, it } from 'vitest';
import { defaultGbtOptions, gbtContributions, gbtMargin, trainGbt } from './gbt.ts';
import { sigmoid } from './logistic.ts';
import { seededRandom } from './random.ts';

function data(n: number) {
  const random = seededRandom(5);
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = random() * 10;
    b[i] = random() * 10;
    // risk rises with a overall but dips in the middle (a constraint must iron that out), plus b
    const z = -2 + 0.3 * a[i]! - 1.2 * Math.exp(-((a[i]! - 5) ** 2)) + 0.2 * b[i]!;
    y[i] = random() < sigmoid(z) ? 1 : 0;
  }
  return { columns: [a, b], y, rows: Int32Array.from({ length: n }, (_, i) => i) };
}

const options = { ...defaultGbtOptions, trees: 60, maxDepth: 3, learningRate: 0.2, minChildWeight: 2, l2: 1 };

describe('gradient-boosted trees', () => {
  it('respects monotone constraints everywhere', () => {
    const { columns, y, rows } = data(3000);
    const model = trainGbt(columns, y, rows, [1, -1], options);
    for (const bFixed of [0.5, 3, 5, 7.5, 9.9]) {
      let last = -Infinity;
      for (let a = 0; a <= 10; a += 0.05) {
        const m = gbtMargin(model, [Float64Array.of(a), Float64Array.of(bFixed)], 0);
        expect(m).toBeGreaterThanOrEqual(last - 1e-12);
        last = m;
      }
    }
    for (const aFixed of [1, 5, 9]) {
      let last = Infinity;
      for (let b = 0; b <= 10; b += 0.05) {
        const m = gbtMargin(model, [Float64Array.of(aFixed), Float64Array.of(b)], 0);
        expect(m).toBeLessThanOrEqual(last + 1e-12);
        last = m;
      }
    }
  });

  it('without constraints follows the dip, and contributions add up to the margin', () => {
    const { columns, y, rows } = data(3000);
    const model = trainGbt(columns, y, rows, [0, 0], options);
    const out = new Float64Array(2);
    let bias = model.base;
    for (const t of model.trees) bias += t.value[0]!;
    for (const [a, b] of [
      [1, 2],
      [5, 5],
      [9, 1],
    ]) {
      const m = gbtContributions(model, [a!, b!], out);
      expect(m).toBeCloseTo(gbtMargin(model, [Float64Array.of(a!), Float64Array.of(b!)], 0), 10);
      expect(bias + out[0]! + out[1]!).toBeCloseTo(m, 10);
    }
    // it learns: training AUC well above chance
    let better = 0;
    let pairs = 0;
    for (let i = 0; i < 600; i++)
      for (let j = 0; j < 600; j++)
        if (y[i] === 1 && y[j] === 0) {
          pairs++;
          if (gbtMargin(model, columns, i) > gbtMargin(model, columns, j)) better++;
        }
    expect(better / pairs).toBeGreaterThan(0.7);
  });
});
