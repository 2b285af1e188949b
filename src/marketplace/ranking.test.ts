import { describe, expect, it } from 'vitest';
import { posteriorMean, rankByExpectedValue, sampleBeta, seededRandom, type Candidate } from './ranking.ts';

describe('Beta posterior and Thompson sampling', () => {
  it('draws Beta samples with the right mean and spread', () => {
    const random = seededRandom(3);
    const draws = Array.from({ length: 20_000 }, () => sampleBeta(8, 2, random));
    const mean = draws.reduce((s, x) => s + x, 0) / draws.length;
    const variance = draws.reduce((s, x) => s + (x - mean) ** 2, 0) / draws.length;
    expect(mean).toBeCloseTo(0.8, 2);
    expect(variance).toBeCloseTo((8 * 2) / (10 * 10 * 11), 3);
    expect(draws.every((x) => x > 0 && x < 1)).toBe(true);
    // Shapes below 1 take the boosted branch.
    const small = Array.from({ length: 20_000 }, () => sampleBeta(0.5, 0.5, random));
    expect(small.reduce((s, x) => s + x, 0) / small.length).toBeCloseTo(0.5, 1);
  });

  it('ranks by probability × payout, ties to the lower APR, and explains each rank', () => {
    const c = (
      key: string,
      payout: bigint,
      approvals: number,
      declines: number,
      aprBp = 1_000,
    ): Candidate => ({
      key,
      partnerKey: key,
      payoutFen: payout,
      aprBp,
      posterior: { approvals, declines },
    });
    const ranked = rankByExpectedValue(
      [c('rich-but-picky', 10_000n, 1, 9), c('steady', 4_000n, 9, 1), c('tie', 4_000n, 9, 1, 900)],
      { exploration: 'mean' },
    );
    expect(ranked.map((r) => r.candidate.key)).toEqual(['tie', 'steady', 'rich-but-picky']);
    expect(ranked[2]!.explanation).toMatchObject({ rank: 3, approvals: 1, declines: 9, payoutFen: '10000' });
    expect(ranked[2]!.explanation.expectedValueFen).toBeCloseTo((2 / 12) * 10_000, 6);
    expect(ranked[0]!.explanation.summary).toContain('rank 1');
  });

  it('learns to send most traffic to the arm with the best expected value while still exploring', () => {
    const truth: Record<string, number> = { a: 0.2, b: 0.6, c: 0.4 };
    const counts: Record<string, { approvals: number; declines: number }> = {
      a: { approvals: 0, declines: 0 },
      b: { approvals: 0, declines: 0 },
      c: { approvals: 0, declines: 0 },
    };
    const random = seededRandom(9);
    const world = seededRandom(10);
    const chosen: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 3_000; i++) {
      const [top] = rankByExpectedValue(
        Object.keys(truth).map((key) => ({
          key,
          partnerKey: key,
          payoutFen: 1_000n,
          aprBp: 0,
          posterior: counts[key]!,
        })),
        { random },
      );
      const key = top!.candidate.key;
      chosen[key]! += 1;
      if (world() < truth[key]!) counts[key]!.approvals += 1;
      else counts[key]!.declines += 1;
    }
    expect(chosen.b! / 3_000).toBeGreaterThan(0.85);
    expect(chosen.a! + chosen.c!).toBeGreaterThan(0);
    expect(Math.abs(posteriorMean(counts.b!) - truth.b!)).toBeLessThan(0.05);
  });
});
