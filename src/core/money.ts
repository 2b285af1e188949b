import { MilletError } from './errors.ts';

/**
 * Money is always an integer count of a currency's minor unit (fen for CNY) held in a `bigint`.
 * Division is the only place rounding happens, and it always names its mode.
 */
export type RoundingMode = 'half_even' | 'half_up' | 'half_down' | 'down' | 'up' | 'floor' | 'ceiling';

/** ISO 4217 minor-unit exponents for the currencies Millet books (ISO 4217 list, SIX Group). */
const minorUnitExponents: Record<string, number> = { CNY: 2, HKD: 2, USD: 2, EUR: 2, JPY: 0, KRW: 0 };

export function isCurrencyCode(code: string): boolean {
  return /^[A-Z]{3}$/.test(code);
}

export function minorUnitExponent(currency: string): number {
  return minorUnitExponents[currency] ?? 2;
}

/** n / d rounded with `mode`. d must be non-zero. */
export function divRound(n: bigint, d: bigint, mode: RoundingMode): bigint {
  if (d === 0n) throw new RangeError('divRound: division by zero');
  if (d < 0n) {
    n = -n;
    d = -d;
  }
  const q = n / d; // truncates toward zero
  const r = n % d;
  if (r === 0n) return q;
  const negative = n < 0n;
  const awayFromZero = negative ? q - 1n : q + 1n;
  const twiceR = (r < 0n ? -r : r) * 2n;
  switch (mode) {
    case 'down':
      return q;
    case 'up':
      return awayFromZero;
    case 'floor':
      return negative ? q - 1n : q;
    case 'ceiling':
      return negative ? q : q + 1n;
    case 'half_up':
      return twiceR >= d ? awayFromZero : q;
    case 'half_down':
      return twiceR > d ? awayFromZero : q;
    case 'half_even':
      if (twiceR > d) return awayFromZero;
      if (twiceR < d) return q;
      return q % 2n === 0n ? q : awayFromZero;
  }
}

/** "1,234.5" is refused; "1234.50" in CNY is 123450n. More decimals than the currency has is an error. */
export function parseMajorUnits(text: string, currency: string): bigint {
  const exponent = minorUnitExponent(currency);
  const match = /^(-)?(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!match) throw new MilletError('AMOUNT_INVALID', `"${text}" is not a decimal amount`);
  const [, sign, whole, fraction = ''] = match;
  if (fraction.length > exponent) {
    throw new MilletError('AMOUNT_INVALID', `${currency} has ${exponent} decimals; "${text}" has more`);
  }
  const minor = BigInt(whole! + fraction.padEnd(exponent, '0'));
  return sign ? -minor : minor;
}

/** 123450n CNY → "1234.50". */
export function formatMinorUnits(amount: bigint, currency: string): string {
  const exponent = minorUnitExponent(currency);
  const negative = amount < 0n;
  const digits = (negative ? -amount : amount).toString().padStart(exponent + 1, '0');
  const whole = exponent === 0 ? digits : digits.slice(0, -exponent);
  const fraction = exponent === 0 ? '' : `.${digits.slice(-exponent)}`;
  return `${negative ? '-' : ''}${whole}${fraction}`;
}

/**
 * A rate in basis points as a percent with two decimals ("7.20" for 720 bp), exactly: a basis
 * point is 0.01 percentage points, so no rounding is involved (and no float).
 */
export function formatBasisPoints(bp: bigint | number): string {
  return formatMinorUnits(BigInt(bp), 'CNY');
}
