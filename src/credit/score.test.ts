import { describe, expect, it } from 'vitest';
import { ARTIFACT_FORMAT, defaultArtifactPath, readArtifact, type CreditArtifact } from './artifact.ts';
import { modelSpecs } from './datasets.ts';
import { applicationFeatures, behaviourFeatures, notReasonsFor } from './features.ts';
import { defaultScaling, rawScore } from './scaling.ts';
import { scoreApplicant } from './score.ts';

/** A hand-made three-characteristic scorecard over behaviour inputs. */
function tinyScorecard(): CreditArtifact {
  const inputs = modelSpecs.behaviour.features.map(({ name, kind, code, text_en, text_zh }) => ({
    name,
    kind,
    code,
    text_en,
    text_zh,
  }));
  const characteristic = (feature: string, cuts: number[], points: number[]) => ({
    feature,
    binning: { kind: 'numeric' as const, cuts },
    woe: points.map(() => 0),
    points,
    goods: points.map(() => 1),
    bads: points.map(() => 1),
    coefficient: -1,
    iv: 0.1,
  });
  return {
    format: ARTIFACT_FORMAT,
    format_version: 1,
    model: 'behaviour',
    model_version: 'test',
    title: 'test',
    learner: 'scorecard',
    trained_at: '2026-01-01T00:00:00Z',
    data: { file: 'x', sha256: 'x', rows: 0, bad_rate: 0 },
    inputs,
    excluded_protected_fields: [],
    scaling: defaultScaling,
    cross_validation: {} as CreditArtifact['cross_validation'],
    hyper_parameters: {} as CreditArtifact['hyper_parameters'],
    training_fit: { auc: 0, ks: 0 },
    scorecard: {
      intercept: 0,
      base_points: 500,
      iv_table: [],
      characteristics: [
        characteristic('LIMIT_BAL', [50_000, 200_000], [-20, 10, 40, 0]), // best 40
        characteristic('BILL_AMT1', [1000], [15, 5, 0]), // best 15
        characteristic('PAY_AMT1', [1000, 5000], [-10, 5, 25, 0]), // best 25
        characteristic('PAY_AMT2', [1000], [0, 8, 0]), // best 8
        characteristic('PAY_AMT3', [1000], [0, 3, 0]), // best 3
      ],
    },
  };
}

describe('scoreApplicant', () => {
  it('ranks reason codes by points lost against the best bin, four of them', () => {
    const artifact = tinyScorecard();
    const result = scoreApplicant(artifact, {
      LIMIT_BAL: 10_000, // −20: lost 60
      BILL_AMT1: 5000, // 5: lost 10
      PAY_AMT1: 2000, // 5: lost 20
      PAY_AMT2: 0, // 0: lost 8
      PAY_AMT3: 0, // 0: lost 3
      // The bills the repayments pay (not characteristics here): each repayment is below its bill,
      // so "amount repaid is low" is true of this applicant.
      BILL_AMT2: 5000,
      BILL_AMT3: 5000,
      BILL_AMT4: 5000,
    });
    expect(result.reasons.map((r) => [r.feature, r.points_lost])).toEqual([
      ['LIMIT_BAL', 60],
      ['PAY_AMT1', 20],
      ['BILL_AMT1', 10],
      ['PAY_AMT2', 8],
    ]);
    expect(result.reasons[0]!.code).toBe('B01');
    expect(result.reasons[0]!.text_zh).toBe('信用额度较低');
    // 500 − 20 + 5 + 5 + 0 + 0 = 490
    expect(result.score).toBe(490);
    const logit = (defaultScaling.offset - 490) / defaultScaling.factor;
    expect(rawScore(defaultScaling, logit)).toBeCloseTo(490, 9);
    expect(result.probability).toBeCloseTo(1 / (1 + Math.exp(-logit)), 12);
  });

  it('gives every committed model a 350–950 score and four reasons', () => {
    const b = readArtifact(defaultArtifactPath('behaviour'));
    const row = {
      LIMIT_BAL: '20000',
      PAY_0: '2',
      PAY_2: '2',
      PAY_3: '-1',
      PAY_4: '-1',
      PAY_5: '-2',
      PAY_6: '-2',
      BILL_AMT1: '3913',
      BILL_AMT2: '3102',
      BILL_AMT3: '689',
      BILL_AMT4: '0',
      BILL_AMT5: '0',
      BILL_AMT6: '0',
      PAY_AMT1: '0',
      PAY_AMT2: '689',
      PAY_AMT3: '0',
      PAY_AMT4: '0',
      PAY_AMT5: '0',
      PAY_AMT6: '0',
    };
    const risky = scoreApplicant(b, row);
    const safe = scoreApplicant(b, { ...row, LIMIT_BAL: 500000, PAY_0: -1, PAY_2: -1, PAY_AMT1: 3102 });
    for (const r of [risky, safe]) {
      expect(r.score).toBeGreaterThanOrEqual(350);
      expect(r.score).toBeLessThanOrEqual(950);
      expect(r.reasons).toHaveLength(4);
      for (let i = 1; i < 4; i++)
        expect(r.reasons[i]!.points_lost).toBeLessThanOrEqual(r.reasons[i - 1]!.points_lost);
    }
    expect(safe.score).toBeGreaterThan(risky.score);
    expect(risky.probability).toBeGreaterThan(safe.probability);
    expect(risky.reasons.map((r) => r.feature)).toContain('PAY_0');
  });

  it('names no characteristic already at its best bin: none at all when every one is', () => {
    const best = scoreApplicant(tinyScorecard(), {
      LIMIT_BAL: 500_000,
      BILL_AMT1: 0,
      PAY_AMT1: 10_000,
      PAY_AMT2: 2000,
      PAY_AMT3: 2000,
    });
    expect(best.score).toBe(500 + 40 + 15 + 25 + 8 + 3);
    expect(best.reasons).toEqual([]);
    const one = scoreApplicant(tinyScorecard(), {
      LIMIT_BAL: 10_000,
      BILL_AMT1: 0,
      PAY_AMT1: 10_000,
      PAY_AMT2: 2000,
      PAY_AMT3: 2000,
    });
    expect(one.reasons.map((r) => [r.feature, r.points_lost])).toEqual([['LIMIT_BAL', 60]]);
  });

  it('never tells a user who repaid every statement in full that they repaid a small share or little', () => {
    const b = readArtifact(defaultArtifactPath('behaviour'));
    const untrueForFullPayer = [
      'REPAID_SHARE_1',
      'REPAID_SHARE_2',
      'REPAID_SHARE_3',
      'REPAID_SHARE_4',
      'REPAID_SHARE_5',
      'REPAID_SHARE_AVG',
      'PAY_AMT1',
      'PAY_AMT2',
      'PAY_AMT3',
      'PAY_AMT4',
      'PAY_AMT5',
      'PAY_0',
      'PAY_2',
      'MONTHS_LATE',
      'LAST_LATE',
      'WORST_STATUS',
      'AVG_STATUS',
      'MONTHS_PAID_FULL',
      'BILL_TREND',
      'UTILISATION_1',
      'UTILISATION_AVG',
      'HEADROOM',
    ];
    for (const [limit, balance] of [
      [2_000_000n, 100_000n],
      [5_000_000n, 500_000n],
      [50_000_000n, 2_000_000n],
    ] as const) {
      const statement = { monthsPastDue: -1, due: true, statementBalance: balance, amountRepaid: balance };
      const features = behaviourFeatures({ creditLimit: limit, statements: Array(6).fill(statement) });
      const result = scoreApplicant(b, features);
      expect(result.reasons.length).toBeGreaterThan(0);
      for (const r of result.reasons) {
        expect(untrueForFullPayer).not.toContain(r.feature);
        expect(r.points_lost).toBeGreaterThan(0);
      }
    }
    // The same reasons stay for a user they are true of: a revolver repaying 5% of each bill.
    const revolving = { monthsPastDue: 0, due: true, statementBalance: 1_000_000n, amountRepaid: 50_000n };
    const revolver = scoreApplicant(
      b,
      behaviourFeatures({ creditLimit: 2_000_000n, statements: Array(6).fill(revolving) }),
    );
    expect(revolver.reasons[0]!.feature).toBe('REPAID_SHARE_AVG');
  });

  it('reads repayment statuses only from statements whose due date has passed', () => {
    const b = readArtifact(defaultArtifactPath('behaviour'));
    const paid = { monthsPastDue: -1, due: true, statementBalance: 100_000n, amountRepaid: 100_000n };
    // The newest bill is not due yet: its "0" is no status, neither a month of revolving nor late.
    const notDue = { monthsPastDue: 0, due: false, statementBalance: 400_000n, amountRepaid: 100_000n };
    const features = behaviourFeatures({
      creditLimit: 2_000_000n,
      statements: [notDue, ...Array(6).fill(paid)],
    });
    expect(['PAY_0', 'PAY_2', 'PAY_3', 'PAY_4', 'PAY_5', 'PAY_6'].map((n) => features[n])).toEqual([
      -1, -1, -1, -1, -1, -1,
    ]);
    expect(features.BILL_AMT1).toBe(15_600); // 4,000 CNY: the bills are still the newest six
    for (const r of scoreApplicant(b, features).reasons)
      expect(r.feature).not.toMatch(/^(PAY_\d|WORST_STATUS|AVG_STATUS|MONTHS_PAID_FULL)$/);
  });

  it('says nothing about a repayment status or share it does not know (missing columns)', () => {
    const b = readArtifact(defaultArtifactPath('behaviour'));
    const result = scoreApplicant(b, { LIMIT_BAL: 78_000 });
    for (const r of result.reasons)
      expect(r.feature).not.toMatch(
        /^(PAY_\d|REPAID_SHARE|MONTHS_LATE|LAST_LATE|WORST_STATUS|UTILISATION|HEADROOM|BILL_TREND)/,
      );
  });

  it('does not tell a user employed seven years or more, on a six-month term, that either is short or long', () => {
    const a = readArtifact(defaultArtifactPath('application'));
    const features = applicationFeatures(
      {
        amount: 100_000n,
        durationMonths: 6,
        purpose: 'used_car',
        employment: '7_years_or_more',
        housing: 'own',
      },
      { walletBalance: 10_000_000n, fundHoldings: 10_000_000n, existingCredits: 0 },
    );
    // As the score service asks: the unasked characteristics and a top wallet and fund never named.
    const named = scoreApplicant(a, features, notReasonsFor(features)).reasons.map((r) => r.feature);
    expect(named).not.toContain('present_employment_since');
    expect(named).not.toContain('duration_in_month');
    const shorter = { ...features, present_employment_since: '... < 1 year', duration_in_month: 48 };
    const short = scoreApplicant(a, shorter, notReasonsFor(shorter)).reasons.map((r) => r.feature);
    expect(short).toContain('present_employment_since');
    expect(short).toContain('duration_in_month');
  });
});
