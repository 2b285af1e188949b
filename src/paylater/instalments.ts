import { MilletError, divRound } from '../core/index.ts';
import { aprOfPeriodicFlows, assertAprWithinCap, type Apr } from '../lending/index.ts';

/** One month of an instalment plan, in fen. */
export interface InstalmentPeriod {
  period: number;
  principal: bigint;
  fee: bigint;
}

/**
 * DESIGN §2.4's cent-exact split of `principal` over `terms` months at `feeRateBp`:
 * principal per period floor(P/n), fee = round-half-even(P × rate), fee per period floor(fee/n),
 * and the leftover cents of both on the first period. The periods sum exactly to P and the fee.
 *
 * @example instalmentSplit(111_111n, 3, 230)[0] // { period: 1, principal: 37037n, fee: 852n } → 378.89
 */
export function instalmentSplit(principal: bigint, terms: number, feeRateBp: number): InstalmentPeriod[] {
  if (principal <= 0n) throw new MilletError('AMOUNT_INVALID', 'principal must be positive');
  if (!Number.isInteger(terms) || terms < 1)
    throw new MilletError('VALIDATION_FAILED', 'terms must be a positive integer');
  const n = BigInt(terms);
  const fee = instalmentFee(principal, feeRateBp);
  const principalEach = principal / n;
  const feeEach = fee / n;
  return Array.from({ length: terms }, (_, i) => ({
    period: i + 1,
    principal: i === 0 ? principal - principalEach * (n - 1n) : principalEach,
    fee: i === 0 ? fee - feeEach * (n - 1n) : feeEach,
  }));
}

/** The whole fee: P × rate, rounded half-even to the fen. */
export function instalmentFee(principal: bigint, feeRateBp: number): bigint {
  return divRound(principal * BigInt(feeRateBp), 10_000n, 'half_even');
}

export type FeePayer = 'user' | 'merchant';

export interface InstalmentOffer {
  terms: number;
  principal: bigint;
  /** The fee the user pays (0 when the merchant pays it). */
  fee: bigint;
  feeRateBp: number;
  feePayer: FeePayer;
  /** What the merchant pays (interest-free instalments), else 0. */
  merchantFee: bigint;
  periods: InstalmentPeriod[];
  /** IRR of the user's cash flows, annualised (monthly IRR × 12): shown before any fee rate. */
  apr: Apr;
}

/**
 * An instalment offer with its APR (src/lending's IRR of −P then each month's principal + fee).
 * An offer above the 24% cap is refused (APR_ABOVE_CAP).
 */
export function instalmentOffer(
  principal: bigint,
  terms: number,
  feeRates: Readonly<Record<string, number>>,
  feePayer: FeePayer = 'user',
): InstalmentOffer {
  const rate = feeRates[String(terms)];
  if (rate === undefined)
    throw new MilletError('PAYLATER_TERM_UNAVAILABLE', `No ${terms}-month instalments on this product`, {
      terms,
      available: Object.keys(feeRates).map(Number),
    });
  const split = instalmentSplit(principal, terms, rate);
  const fee = split.reduce((sum, p) => sum + p.fee, 0n);
  const periods = feePayer === 'user' ? split : split.map((p) => ({ ...p, fee: 0n }));
  const apr = aprOfPeriodicFlows([-principal, ...periods.map((p) => p.principal + p.fee)], 12);
  assertAprWithinCap(apr);
  return {
    terms,
    principal,
    fee: feePayer === 'user' ? fee : 0n,
    feeRateBp: rate,
    feePayer,
    merchantFee: feePayer === 'merchant' ? fee : 0n,
    periods,
    apr,
  };
}
