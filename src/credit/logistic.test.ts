import { describe, expect, it } from 'vitest';
import { fitLogistic, sigmoid } from './logistic.ts';
import { seededRandom } from './random.ts';

describe('logistic regression by IRLS', () => {
  it('finds the closed-form MLE of a binary predictor', () => {
    // x = 0: 30 rows, 6 bad (20%); x = 1: 20 rows, 10 bad (50%).
    // MLE: intercept = logit(0.2) = ln(0.25), slope = logit(0.5) − logit(0.2) = ln 4.
    const x: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < 50; i++) {
      x.push(i < 30 ? 0 : 1);
      y.push(i < 6 || (i >= 30 && i < 40) ? 1 : 0);
    }
    const fit = fitLogistic([Float64Array.from(x)], y, { l2: 0 });
    expect(fit.converged).toBe(true);
    expect(fit.intercept).toBeCloseTo(Math.log(0.25), 9);
    expect(fit.coefficients[0]).toBeCloseTo(Math.log(4), 9);
  });

  it('with L2, agrees with plain gradient descent on the penalised loss', () => {
    const random = seededRandom(11);
    const n = 400;
    const a = Float64Array.from({ length: n }, () => random() * 2 - 1);
    const b = Float64Array.from({ length: n }, () => random() * 2 - 1);
    const y = Float64Array.from({ length: n }, (_, i) =>
      random() < sigmoid(-0.5 + 1.5 * a[i]! - b[i]!) ? 1 : 0,
    );
    const l2 = 4;
    const fit = fitLogistic([a, b], y, { l2 });
    // Independent solution: many small gradient steps.
    const beta = [0, 0, 0];
    for (let step = 0; step < 20000; step++) {
      const g = [0, 0, 0];
      for (let i = 0; i < n; i++) {
        const r = y[i]! - sigmoid(beta[0]! + beta[1]! * a[i]! + beta[2]! * b[i]!);
        g[0]! += r;
        g[1]! += r * a[i]!;
        g[2]! += r * b[i]!;
      }
      g[1]! -= l2 * beta[1]!;
      g[2]! -= l2 * beta[2]!;
      for (let j = 0; j < 3; j++) beta[j]! += (0.5 / n) * g[j]!;
    }
    expect(fit.intercept).toBeCloseTo(beta[0]!, 5);
    expect(fit.coefficients[0]).toBeCloseTo(beta[1]!, 5);
    expect(fit.coefficients[1]).toBeCloseTo(beta[2]!, 5);
  });
});
