import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { divRound } from '../core/index.ts';
import { allocate, type Owed } from './allocation.ts';
import { instalmentOffer, instalmentSplit } from './instalments.ts';
import { monthsPastDue } from './features.ts';
import { statementDaysFor } from './close-steps.ts';

const fees = { '3': 230, '6': 450, '12': 750 };
const payments = (p: bigint, n: number) =>
  instalmentSplit(p, n, fees[String(n) as '3']).map((x) => x.principal + x.fee);

describe('instalment fee split (DESIGN §2.4, vector 6)', () => {
  it('1,111.11 over 3, 6 and 12 months; 123.67 over 3', () => {
    expect(instalmentSplit(111_111n, 3, 230).reduce((s, p) => s + p.fee, 0n)).toBe(2_556n);
    expect(payments(111_111n, 3)).toEqual([37_889n, 37_889n, 37_889n]);
    expect(instalmentSplit(111_111n, 6, 450).reduce((s, p) => s + p.fee, 0n)).toBe(5_000n);
    expect(payments(111_111n, 6)).toEqual([19_356n, ...Array(5).fill(19_351n)]);
    expect(instalmentSplit(111_111n, 12, 750).reduce((s, p) => s + p.fee, 0n)).toBe(8_333n);
    expect(payments(111_111n, 12)).toEqual([9_961n, ...Array(11).fill(9_953n)]);
    expect(instalmentSplit(12_367n, 3, 230).reduce((s, p) => s + p.fee, 0n)).toBe(284n);
    expect(payments(12_367n, 3)).toEqual([4_219n, 4_216n, 4_216n]);
  });

  it('the split always sums exactly to the principal and the half-even fee', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10_000_000_000n }),
        fc.integer({ min: 1, max: 36 }),
        fc.integer({ min: 0, max: 2_000 }),
        (p, n, bp) => {
          const split = instalmentSplit(p, n, bp);
          expect(split.reduce((s, x) => s + x.principal, 0n)).toBe(p);
          expect(split.reduce((s, x) => s + x.fee, 0n)).toBe(divRound(p * BigInt(bp), 10_000n, 'half_even'));
          for (const x of split.slice(1)) {
            expect(x.principal).toBe(p / BigInt(n));
            expect(split[0]!.principal).toBeGreaterThanOrEqual(x.principal);
          }
        },
      ),
    );
  });

  it('offers show an APR (IRR × 12) above the fee rate; over 24% is refused; merchant-paid is 0%', () => {
    const three = instalmentOffer(111_111n, 3, fees);
    // 2.3% over 3 months is roughly 13.7% a year (the balance falls while the fee is on the whole).
    expect(Number(three.apr.percent)).toBeGreaterThan(13);
    expect(Number(three.apr.percent)).toBeLessThan(14.5);
    expect(Number(instalmentOffer(111_111n, 12, fees).apr.percent)).toBeLessThan(24);
    expect(instalmentOffer(111_111n, 6, fees, 'merchant')).toMatchObject({ fee: 0n, merchantFee: 5_000n });
    expect(instalmentOffer(111_111n, 6, fees, 'merchant').apr.percentE4).toBe(0n);
    expect(() => instalmentOffer(100_000n, 3, { '3': 800 })).toThrow(/APR/);
  });
});

const owedArb = fc.record({
  statements: fc.array(
    fc.record({
      id: fc.uuid(),
      penalty: fc.bigInt({ min: 0n, max: 1_000n }),
      fees: fc.bigInt({ min: 0n, max: 1_000n }),
      interest: fc.bigInt({ min: 0n, max: 5_000n }),
      principal: fc.bigInt({ min: 0n, max: 100_000n }),
    }),
    { maxLength: 4 },
  ),
  accrued: fc.bigInt({ min: 0n, max: 5_000n }),
  unbilled: fc.bigInt({ min: 0n, max: 100_000n }),
  periods: fc.array(
    fc.record({
      plan: fc.uuid(),
      period: fc.integer({ min: 1, max: 12 }),
      principal: fc.bigInt({ min: 0n, max: 10_000n }),
    }),
    {
      maxLength: 3,
    },
  ),
});

describe('repayment allocation', () => {
  it('never takes more than is owed (no balance goes negative) and honours the order', () => {
    fc.assert(
      fc.property(owedArb, fc.bigInt({ min: 1n, max: 300_000n }), (owed: Owed, amount) => {
        const a = allocate(owed, amount);
        expect(a.principal + a.charges + a.rest).toBe(amount);
        const total =
          owed.statements.reduce((s, x) => s + x.penalty + x.fees + x.interest + x.principal, 0n) +
          owed.accrued +
          owed.unbilled;
        expect(a.rest).toBe(amount > total ? amount - total : 0n);
        for (const item of a.items) expect(BigInt(item.a)).toBeGreaterThan(0n);
        // Every penalty is paid before any fee or interest, and all charges before principal.
        const kinds = a.items.map((i) =>
          i.t === 'statement' ? i.c : i.t === 'line' && i.c === 'accrued' ? 'interest' : 'principal',
        );
        const rank = (k: string) => (k === 'penalty' ? 0 : k === 'fees' || k === 'interest' ? 1 : 2);
        const billedRanks = kinds.slice(0, a.items.filter((i) => i.t === 'statement').length).map(rank);
        expect([...billedRanks].sort()).toEqual(billedRanks);
        // Amounts per target never exceed what the target owed.
        for (const s of owed.statements)
          for (const c of ['penalty', 'fees', 'interest', 'principal'] as const) {
            const taken = a.items
              .filter((i) => i.t === 'statement' && i.id === s.id && i.c === c)
              .reduce((sum, i) => sum + BigInt(i.a), 0n);
            expect(taken).toBeLessThanOrEqual(s[c]);
          }
      }),
    );
  });

  it('refunds take principal only', () => {
    const a = allocate(
      {
        statements: [{ id: 's', penalty: 10n, fees: 10n, interest: 10n, principal: 100n }],
        accrued: 5n,
        unbilled: 50n,
        periods: [],
      },
      120n,
      { principalOnly: true, unbilledFirst: true },
    );
    expect(a.items).toEqual([
      { t: 'line', c: 'unbilled', a: '50' },
      { t: 'statement', id: 's', c: 'principal', a: '70' },
    ]);
    expect(a.charges).toBe(0n);
  });
});

describe('statement days and months past due', () => {
  it('bills the 29th–31st on a short month’s last day', () => {
    expect(statementDaysFor('2025-02-28')).toEqual([28, 29, 30, 31]);
    expect(statementDaysFor('2024-02-28')).toEqual([28]);
    expect(statementDaysFor('2025-04-30')).toEqual([30, 31]);
    expect(statementDaysFor('2025-05-15')).toEqual([15]);
  });

  it('−2 no use, −1 paid in full, 0 minimum paid, k months late', () => {
    const base = { totalDue: 1_000n, carried: 0n, dueDate: '2025-01-10', minPaidOn: null, paidOn: null };
    expect(monthsPastDue({ ...base, totalDue: 0n }, '2025-03-01')).toBe(-2);
    expect(monthsPastDue({ ...base, paidOn: '2025-01-10', minPaidOn: '2025-01-10' }, '2025-03-01')).toBe(-1);
    expect(monthsPastDue({ ...base, minPaidOn: '2025-01-09' }, '2025-03-01')).toBe(0);
    expect(monthsPastDue(base, '2025-01-10')).toBe(0);
    expect(monthsPastDue(base, '2025-01-20')).toBe(1);
    expect(monthsPastDue(base, '2025-03-11')).toBe(2); // 60 days
    expect(monthsPastDue(base, '2025-03-12')).toBe(3); // 61 days
    expect(monthsPastDue({ ...base, minPaidOn: '2025-02-01' }, '2025-06-01')).toBe(1);
  });
});
