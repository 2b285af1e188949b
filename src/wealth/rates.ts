import { MilletError } from '../core/index.ts';

/**
 * Rates cross the module as exact integers, never floats:
 * - the fund's income per 10,000 shares R ("万份收益", yuan, 4 decimals) as an integer of
 *   1/10,000 yuan: "1.7120" → 17120n;
 * - a fixed-term product's expected annual yield (percent, 4 decimals) as an integer of
 *   1/10,000 percent: "3.2500" → 32500n.
 */
export const RATE_SCALE = 10_000n;

/** "1.712" or "-0.0100" → 17120n, -100n. More than 4 decimals is refused. */
export function parseRate(text: string, field = 'rate'): bigint {
  const match = /^(-)?(\d{1,6})(?:\.(\d{1,4}))?$/.exec(text.trim());
  if (!match) {
    throw new MilletError('VALIDATION_FAILED', `${field} must be a decimal with at most 4 decimals`, {
      field,
    });
  }
  const [, sign, whole, fraction = ''] = match;
  const value = BigInt(whole! + fraction.padEnd(4, '0'));
  return sign ? -value : value;
}

/** 17120n → "1.7120". */
export function formatRate(value: bigint): string {
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(5, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -4)}.${digits.slice(-4)}`;
}
