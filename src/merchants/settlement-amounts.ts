import { divRound } from '../core/index.ts';

/**
 * The platform's fee on one payment: amount × fee_bps / 10,000 fen, rounded half-even (banker's
 * rounding: a remainder of exactly half a fen goes to the even fen, so over many payments the
 * rounding neither favours the platform nor the merchant). 0.6 % of 0.75 CNY is 0.45 fen → 0;
 * of 2.50 CNY 1.5 fen → 2; of 4.17 CNY 2.502 fen → 3.
 */
export function paymentFee(amount: bigint, feeBps: number): bigint {
  return divRound(amount * BigInt(feeBps), 10_000n, 'half_even');
}

/** What a merchant's day brings to its settlement, and what the previous settlement left owing. */
export interface SettlementInputs {
  gross: bigint;
  refunds: bigint;
  fees: bigint;
  /** Fees earlier days could not cover (≥ 0). */
  feesOwedIn: bigint;
  /** Payable money earlier refunds used beyond their days' payments (≤ 0). */
  shortfallIn: bigint;
}

export interface SettlementAmounts {
  /** The day's own result: gross − refunds − fees. */
  net: bigint;
  /** Moved merchant_payable → fee_income now. */
  feesCollected: bigint;
  feesOwedOut: bigint;
  /** Held now in merchant_payable and paid out T+1. */
  payout: bigint;
  shortfallOut: bigint;
}

/**
 * Nets a day. Refunds do not return fees. The day's cash in merchant_payable is gross − refunds;
 * fees (the day's and any owed) are collected from it first, as far as it goes; what remains
 * first restores an earlier shortfall, then is paid out. A day that cannot cover its fees carries
 * them (`feesOwedOut`); a day whose refunds used more than it brought carries the difference
 * (`shortfallOut`). So everything collected plus paid out never exceeds what the day left in the
 * merchant's account, and nothing is paid or charged twice.
 */
export function settlementAmounts(inputs: SettlementInputs): SettlementAmounts {
  const { gross, refunds, fees, feesOwedIn, shortfallIn } = inputs;
  const cash = gross - refunds;
  const feesDue = fees + feesOwedIn;
  const feesCollected = cash <= 0n ? 0n : cash < feesDue ? cash : feesDue;
  const afterFees = cash - feesCollected + shortfallIn;
  return {
    net: gross - refunds - fees,
    feesCollected,
    feesOwedOut: feesDue - feesCollected,
    payout: afterFees > 0n ? afterFees : 0n,
    shortfallOut: afterFees < 0n ? afterFees : 0n,
  };
}
