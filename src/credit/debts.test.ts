import { describe, expect, it } from 'vitest';
import { applyUnpaidDebts, unpaidDebtPenalty, UNPAID_DEBT_REASON } from './debts.ts';
import { defaultScaling, oddsAt } from './scaling.ts';
import type { ScoreResult } from './score.ts';

const reason = (code: string, points: number) => ({
  feature: code,
  code,
  points_lost: points,
  text_en: code,
  text_zh: code,
});

const model: ScoreResult = {
  score: 640,
  probability: 1 / 41,
  reasons: [reason('A', 30), reason('B', 20), reason('C', 10), reason('D', 5)],
};

describe('unpaid debts adjust the score', () => {
  it('costs 2 × PDO for the first debt, one PDO more for each further, at most 4 × PDO', () => {
    expect([0, 1, 2, 3, 4, 9].map((n) => unpaidDebtPenalty(defaultScaling, n))).toEqual([
      0, 80, 120, 160, 160, 160,
    ]);
  });

  it('lowers the score, raises the probability to the scaled odds, and puts the reason first', () => {
    const adjusted = applyUnpaidDebts(defaultScaling, model, { count: 1, amount: 17_000n });
    expect(adjusted.score).toBe(560);
    // 560 is 10:1 good:bad on Millet's scale (600 at 20:1, PDO 40).
    expect(adjusted.probability).toBeCloseTo(1 / (1 + oddsAt(defaultScaling, 560)), 12);
    expect(adjusted.probability).toBeCloseTo(1 / 11, 6);
    expect(adjusted.reasons.map((r) => r.code)).toEqual([UNPAID_DEBT_REASON, 'A', 'B', 'C']);
    expect(adjusted.reasons[0]).toMatchObject({ points_lost: 80 });
    expect(adjusted.reasons[0]!.text_en).toContain('170.00 CNY on 1 completed service order;');
    expect(adjusted.reasons[0]!.text_zh).toContain('1 笔已完成的服务订单共欠 170.00 元');
  });

  it('never goes below 350, and reports the points it actually took', () => {
    const low = applyUnpaidDebts(defaultScaling, { ...model, score: 400 }, { count: 3, amount: 5n });
    expect(low.score).toBe(350);
    expect(low.reasons[0]).toMatchObject({ points_lost: 50 });
    expect(low.reasons[0]!.text_en).toContain('0.05 CNY on 3 completed service orders');
  });

  it('changes nothing without a debt', () => {
    expect(applyUnpaidDebts(defaultScaling, model, undefined)).toBe(model);
    expect(applyUnpaidDebts(defaultScaling, model, { count: 0, amount: 0n })).toBe(model);
  });
});
