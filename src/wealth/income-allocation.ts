/**
 * One day's income of a money-market fund shared among its holders (DESIGN §2.7).
 *
 * Units: NAV is 1.00, so one share is worth one fen and share balances are integers of 1/100 share
 * (23,456.78 shares = 2345678n). R is the income per 10,000 shares in yuan with 4 decimals, held as
 * an integer of 1/10,000 yuan (1.7120 → 17120n). A holder's exact income in fen is therefore
 *
 *   shares(1/100 share) × R(1/10,000 yuan) / 10,000 shares × 100 fen/yuan / 100 = shares × R / 10^8.
 *
 * Rounding (named, symmetric in the sign of R): every holder's income is truncated toward zero
 * (`down`); the fund's income for the day is the exact total truncated toward zero; the difference
 * (k fen, 0 ≤ k < number of holders) goes one fen each to the k holders with the largest truncated
 * remainders, ties by holding id ascending. A negative R gives exactly the negation of the same
 * positive day, so losses are shared by the same rule. Every holder ends less than one fen from its
 * exact share, and the distributed total equals the fund's income to the fen.
 */
export const INCOME_DIVISOR = 100_000_000n;

export interface IncomeHolder {
  /** Ties among equal remainders go to the smaller id (string order, as PostgreSQL sorts uuids). */
  id: string;
  /** 1/100 share, ≥ 0. */
  shares: bigint;
}

export interface IncomeAllocation {
  /** The fund's income for the day in fen: trunc(Σ shares × R / 10^8). */
  total: bigint;
  /** Each holder's income in fen, in the order given. */
  incomes: bigint[];
}

export function allocateIncome(holders: readonly IncomeHolder[], rate: bigint): IncomeAllocation {
  const sign = rate < 0n ? -1n : 1n;
  const r = rate * sign;
  const truncated: bigint[] = [];
  const remainders: bigint[] = [];
  let remainderSum = 0n;
  for (const holder of holders) {
    if (holder.shares < 0n) throw new RangeError('allocateIncome: shares must be ≥ 0');
    const exact = holder.shares * r;
    truncated.push(exact / INCOME_DIVISOR);
    remainders.push(exact % INCOME_DIVISOR);
    remainderSum += exact % INCOME_DIVISOR;
  }
  // Σ exact = Σ truncated × 10^8 + Σ remainders, so the fund's total has this many more fen.
  let extra = remainderSum / INCOME_DIVISOR;
  const order = holders
    .map((_, i) => i)
    .sort((a, b) => {
      const byRemainder = remainders[b]! - remainders[a]!;
      if (byRemainder !== 0n) return byRemainder > 0n ? 1 : -1;
      return compareIds(holders[a]!.id, holders[b]!.id);
    });
  const incomes = [...truncated];
  for (const i of order) {
    if (extra === 0n) break;
    incomes[i]! += 1n;
    extra -= 1n;
  }
  const total = incomes.reduce((sum, x) => sum + x, 0n);
  return { total: total * sign, incomes: incomes.map((x) => x * sign) };
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
