import { describe, expect, it } from 'vitest';
import { paymentFee, settlementAmounts } from './settlement-amounts.ts';

describe('paymentFee: amount × fee_bps / 10,000 rounded half-even', () => {
  it.each([
    [250n, 60, 2n], // 1.5 fen → 2 (even)
    [750n, 60, 4n], // 4.5 fen → 4 (even)
    [1250n, 60, 8n], // 7.5 fen → 8 (even)
    [75n, 60, 0n], // 0.45 fen → 0
    [417n, 60, 3n], // 2.502 fen → 3
    [100n, 50, 0n], // 0.5 fen → 0 (even)
    [300n, 50, 2n], // 1.5 fen → 2
    [12_000n, 60, 72n], // exact
    [999n, 0, 0n],
    [999n, 10_000, 999n],
  ])('%s fen at %s bp → %s', (amount, bps, fee) => {
    expect(paymentFee(amount, bps)).toBe(fee);
  });
});

describe('settlementAmounts', () => {
  const zero = { feesOwedIn: 0n, shortfallIn: 0n };
  it('an ordinary day pays out gross − refunds − fees', () => {
    expect(settlementAmounts({ gross: 10_000n, refunds: 1_000n, fees: 60n, ...zero })).toEqual({
      net: 8_940n,
      feesCollected: 60n,
      feesOwedOut: 0n,
      payout: 8_940n,
      shortfallOut: 0n,
    });
  });

  it('a day refunded in full still owes its fee, collected from the next day', () => {
    const day1 = settlementAmounts({ gross: 250n, refunds: 250n, fees: 2n, ...zero });
    expect(day1).toEqual({ net: -2n, feesCollected: 0n, feesOwedOut: 2n, payout: 0n, shortfallOut: 0n });
    const day2 = settlementAmounts({
      gross: 1_000n,
      refunds: 0n,
      fees: 6n,
      feesOwedIn: day1.feesOwedOut,
      shortfallIn: day1.shortfallOut,
    });
    expect(day2).toEqual({ net: 994n, feesCollected: 8n, feesOwedOut: 0n, payout: 992n, shortfallOut: 0n });
  });

  it('refunds beyond the day carry a shortfall that later days restore before paying out', () => {
    const day1 = settlementAmounts({ gross: 0n, refunds: 500n, fees: 0n, ...zero });
    expect(day1).toMatchObject({ payout: 0n, shortfallOut: -500n, feesCollected: 0n });
    const day2 = settlementAmounts({
      gross: 300n,
      refunds: 0n,
      fees: 2n,
      feesOwedIn: 0n,
      shortfallIn: -500n,
    });
    expect(day2).toMatchObject({ feesCollected: 2n, payout: 0n, shortfallOut: -202n });
    const day3 = settlementAmounts({
      gross: 1_000n,
      refunds: 0n,
      fees: 6n,
      feesOwedIn: 0n,
      shortfallIn: -202n,
    });
    expect(day3).toMatchObject({ feesCollected: 6n, payout: 792n, shortfallOut: 0n });
  });

  it('never takes more from the payable account than the day left in it', () => {
    for (let gross = 0n; gross <= 600n; gross += 37n)
      for (let refunds = 0n; refunds <= 700n; refunds += 53n)
        for (const [feesOwedIn, shortfallIn] of [
          [0n, 0n],
          [5n, 0n],
          [0n, -90n],
          [7n, -400n],
        ] as const) {
          const fees = paymentFee(gross, 60);
          const a = settlementAmounts({ gross, refunds, fees, feesOwedIn, shortfallIn });
          const cash = gross - refunds;
          expect(a.feesCollected + a.payout).toBeLessThanOrEqual(cash > 0n ? cash : 0n);
          expect(a.feesCollected + a.feesOwedOut).toBe(fees + feesOwedIn);
          // What stays in the account restores the shortfall: nothing is lost or paid twice.
          expect(cash - a.feesCollected - a.payout).toBe(a.shortfallOut - shortfallIn);
        }
  });
});
