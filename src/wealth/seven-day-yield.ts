import { divRound } from '../core/index.ts';
import { INCOME_DIVISOR } from './income-allocation.ts';

/**
 * The compound 7-day annualised yield (DESIGN §2.7):
 *
 *   ((∏ over the last 7 days (1 + R_i / 10,000))^(365/7) − 1) × 100%, to 3 decimals.
 *
 * Computed exactly on bigint, no floats: with R_i in 1/10,000 yuan, 1 + R_i/10,000 =
 * (10^8 + R_i) / 10^8, so the product is A / 10^56 with A = ∏ (10^8 + R_i). Its 365/7 power,
 * scaled by 10^S, is the integer 7th root of A^365 × 10^(7S) / 10^(56·365) (floor, at most
 * 10^-S below the true value, S = 30), and the percentage is rounded half-even to 3 decimals.
 * Returns the yield in thousandths of a percent (6.437% → 6437n).
 */
export function sevenDayYieldMilli(rates: readonly bigint[]): bigint {
  if (rates.length !== 7) throw new RangeError('sevenDayYieldMilli needs exactly 7 daily rates');
  const days = BigInt(rates.length);
  const scaleDigits = 30n;
  let a = 1n;
  for (const r of rates) a *= INCOME_DIVISOR + r;
  // root = floor((A^365 / 10^(8·7·365)) ^ (1/7) × 10^S) = floor(7th root of A^365 × 10^(7S) / 10^(56·365))
  const radicand = (a ** 365n * 10n ** (days * scaleDigits)) / 10n ** (8n * days * 365n);
  const root = integerRoot(radicand, days);
  const one = 10n ** scaleDigits;
  // (root/one − 1) × 100 % in thousandths of a percent: × 100 × 1000.
  return divRound((root - one) * 100_000n, one, 'half_even');
}

/** 6437n → "6.437". */
export function formatYieldMilli(milli: bigint): string {
  const negative = milli < 0n;
  const digits = (negative ? -milli : milli).toString().padStart(4, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -3)}.${digits.slice(-3)}`;
}

/** floor(n^(1/k)) for n ≥ 0 by Newton's method on bigint. */
export function integerRoot(n: bigint, k: bigint): bigint {
  if (n < 0n) throw new RangeError('integerRoot of a negative number');
  if (n < 2n) return n;
  // Start above the root: 2^ceil(bits/k).
  let x = 1n << (BigInt(n.toString(2).length) / k + 1n);
  for (;;) {
    const y = ((k - 1n) * x + n / x ** (k - 1n)) / k;
    if (y >= x) break;
    x = y;
  }
  while (x ** k > n) x -= 1n;
  while ((x + 1n) ** k <= n) x += 1n;
  return x;
}
