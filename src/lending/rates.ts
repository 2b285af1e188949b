import { MilletError } from '../core/errors.ts';

/** An exact non-negative fraction (rates, day-count fractions): numerator / denominator. */
export interface Fraction {
  readonly n: bigint;
  readonly d: bigint;
}

export function fraction(n: bigint, d: bigint): Fraction {
  if (d <= 0n) throw new RangeError('fraction: the denominator must be positive');
  return { n, d };
}

export function multiply(a: Fraction, b: Fraction): Fraction {
  return { n: a.n * b.n, d: a.d * b.d };
}

/**
 * An annual rate given as an exact decimal percent ("7", "15.678", "0.04"), as a fraction of 1
 * ("15.678" → 15678 / 100000). Refuses negatives, more than 8 decimals and anything not a number.
 */
export function parseRatePercent(text: string): Fraction {
  const match = /^(\d{1,4})(?:\.(\d{1,8}))?$/.exec(text.trim());
  if (!match)
    throw new MilletError('LENDING_SCHEDULE_INVALID', `"${text}" is not a rate in percent (e.g. "7.2")`);
  const decimals = match[2] ?? '';
  return { n: BigInt(match[1]! + decimals), d: 100n * 10n ** BigInt(decimals.length) };
}

/** The canonical decimal text of a percent fraction whose denominator is 100 × a power of ten. */
export function formatRatePercent(rate: Fraction): string {
  let scale = 0;
  let d = rate.d / 100n;
  while (d > 1n) {
    if (d % 10n !== 0n) throw new RangeError('formatRatePercent: not a decimal rate');
    d /= 10n;
    scale++;
  }
  const digits = rate.n.toString().padStart(scale + 1, '0');
  const whole = scale === 0 ? digits : digits.slice(0, -scale);
  const frac = scale === 0 ? '' : digits.slice(-scale).replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : whole;
}
