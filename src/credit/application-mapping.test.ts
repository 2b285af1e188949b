import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultArtifactPath, readArtifact } from './artifact.ts';
import {
  applicationFeatures,
  employmentDurations,
  housingKinds,
  loanPurposes,
  TYPICAL_APPLICANT,
  type ApplicationAnswers,
} from './features.ts';
import { scoreRow } from './score-rows.ts';

const artifact = readArtifact(defaultArtifactPath('application'));

const answers = fc.record<ApplicationAnswers>({
  amount: fc.bigInt({ min: 10_000n, max: 20_000_000n }),
  durationMonths: fc.integer({ min: 3, max: 60 }),
  purpose: fc.constantFrom(...loanPurposes),
  employment: fc.constantFrom(...employmentDurations),
  housing: fc.constantFrom(...housingKinds),
});
// Nothing at all is the case that matters most; fast-check alone seldom draws it.
const fen = fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 100_000_000n }));

const context = { trigger: 'on_demand', businessDate: '2026-12-03', refresh: false, scoredAt: '' } as const;

/** A platform score, as stored: features from the platform's facts, through scoreRow. */
function scored(a: ApplicationAnswers, walletBalance: bigint | null, fundHoldings: bigint) {
  const features = applicationFeatures(a, { walletBalance, fundHoldings, existingCredits: 0 });
  return scoreRow(() => artifact, { userId: 'u', answers: null, debt: undefined, features }, context);
}

describe('the application model on the platform’s money', () => {
  const score = (a: ApplicationAnswers, walletBalance: bigint | null, fundHoldings: bigint) =>
    scored(a, walletBalance, fundHoldings).score;

  // A user must not raise a score by holding less: no wallet, or an emptied fund, once scored
  // better than money in them (the German data's "no account" categories are its safest).
  it('never scores less for more in the wallet, or for having a wallet at all', () => {
    fc.assert(
      fc.property(answers, fen, fen, fen, (a, x, y, holdings) => {
        const [low, high] = x <= y ? [x, y] : [y, x];
        expect(score(a, null, holdings)).toBe(score(a, 0n, holdings));
        expect(score(a, low, holdings)).toBeLessThanOrEqual(score(a, high, holdings));
      }),
      { numRuns: 300 },
    );
  });

  it('never scores less for more in the fund', () => {
    fc.assert(
      fc.property(answers, fen, fen, fen, (a, x, y, wallet) => {
        const [low, high] = x <= y ? [x, y] : [y, x];
        expect(score(a, wallet, low)).toBeLessThanOrEqual(score(a, wallet, high));
      }),
      { numRuns: 300 },
    );
  });

  // The typical applicant's characteristics are the same for everyone: telling a user "no guarantor"
  // or "past credit history" when they were never asked explains nothing about them.
  it('gives as reasons only what the user answered or the platform knows of them, and could better', () => {
    fc.assert(
      fc.property(answers, fen, fen, (a, walletBalance, fundHoldings) => {
        const row = scored(a, walletBalance, fundHoldings);
        expect(row.reasons).toHaveLength(4);
        const named = row.reasons.map((r) => r.feature);
        for (const feature of named) expect(Object.keys(TYPICAL_APPLICANT)).not.toContain(feature);
        // Already in the best category the platform has: not a reason ("balance is low" to someone
        // with 100,000 CNY in the wallet).
        if (walletBalance >= 106_400n) expect(named).not.toContain('status_of_existing_checking_account');
        if (fundHoldings >= 532_000n) expect(named).not.toContain('savings_account_and_bonds');
      }),
      { numRuns: 200 },
    );
  });
});
