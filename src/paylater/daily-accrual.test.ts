import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, derivedId, newId } from '../core/index.ts';
import { addDays, createEndOfDayClose, jobsMigrations, type EndOfDayClose } from '../jobs/index.ts';
import { createLedger, ledgerMigrations, type Ledger } from '../ledger/index.ts';
import type { PaymentMethodHandler } from '../merchants/index.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';
import { productAccountId } from './accounts.ts';
import { createPaylater, paylaterMigrations, type Paylater } from './index.ts';

/**
 * Daily mode (DESIGN 2.4, Fenfu): "interest from the day of use at a daily rate ... interest on
 * actual days used". Unlike statement mode it has no interest-free period, so a billed balance left
 * unpaid between its statement date and its due date goes on accruing the daily rate each day.
 * Days counted: the day of purchase up to the day before repayment (a repayment on day X stops X).
 */
describe('pay-later daily mode: interest between the statement date and the due date', () => {
  let t: TestDatabase;
  let ledger: Ledger;
  let paylater: Paylater;
  let close: EndOfDayClose;
  let world: string;
  let merchantAccount: string;
  let fenfu: string;
  const clock = new ManualClock('2025-06-01T02:00:00Z');
  const methods = new Map<string, PaymentMethodHandler>();
  const wallets = new Map<string, string>();

  const closeThrough = async (date: string) => {
    for (;;) {
      const last = (await close.lastClosedDate()) ?? '2025-05-31';
      if (last >= date) return;
      const run = await close.close(addDays(last, 1), { fastForward: true });
      if (run.status !== 'completed') throw new Error(`close ${addDays(last, 1)}: ${run.error}`);
    }
  };
  const at = async (date: string) => {
    await closeThrough(addDays(date, -1));
    clock.set(new Date(`${date}T10:00:00+08:00`));
  };
  const customer = async (name: string) => {
    const id = derivedId('paylater-daily-accrual-test', name);
    const wallet = await ledger.openAccount({
      currency: 'CNY',
      code: 'user_wallet',
      bound: { kind: 'no_overdraft' },
    });
    wallets.set(id, wallet.id);
    await ledger.transfer({
      id: newId(),
      debitAccountId: world,
      creditAccountId: wallet.id,
      amount: 2_000_000n,
    });
    await paylater.openLine({ userId: id, productId: fenfu });
    await paylater.setAutoRepay(id, false);
    return id;
  };
  const buy = (userId: string, amount: bigint) =>
    methods.get('pay_later')!.collect({
      paymentId: newId(),
      merchantId: newId(),
      userId,
      amount,
      currency: 'CNY',
      merchantAccountId: merchantAccount,
      details: {},
    });

  beforeAll(async () => {
    t = await openTestDatabase([...ledgerMigrations, ...jobsMigrations, ...paylaterMigrations]);
    ledger = createLedger({ db: t.db, clock, registry: new Registry() });
    world = (await ledger.openAccount({ currency: 'CNY', code: 'world', bound: { kind: 'unbounded' } })).id;
    merchantAccount = (
      await ledger.openAccount({ currency: 'CNY', code: 'merchant_payable', bound: { kind: 'no_overdraft' } })
    ).id;
    paylater = createPaylater({
      db: t.db,
      ledger,
      clock,
      users: {
        getUser: async () => ({ kycStatus: 'verified', accountClass: 'II', isAdult: true, ageYears: 30 }),
      },
      scores: { currentScore: async () => 700 },
      wallets: {
        getWallet: async (id) => {
          const account = await ledger.getAccount(wallets.get(id)!);
          return { ledgerAccountId: account.id, available: account.balances.available };
        },
      },
      registerPaymentMethod: (name, handler) => methods.set(name, handler),
    });
    close = createEndOfDayClose({ db: t.db, clock, steps: paylater.closeSteps({ chunkSize: 2 }) });
    fenfu = (
      await paylater.createProduct({
        code: 'fenfu-due5',
        name: '分付',
        mode: 'daily',
        statementDay: 1,
        // Billed on the 1st, due on the 6th: four days (2nd–5th) between them.
        dueDays: 5,
        dailyRatePpm: 400n, // 0.04 %/day
        revolvingRatePpm: 400n,
        penaltyMultiplierBp: 15_000,
        minPaymentBp: 1_000,
        suspendAfterDays: 30,
        instalmentFees: { '3': 230 },
      })
    ).id;
    await paylater.setLimitBands([{ minScore: 600, limit: 2_000_000n }]);
    await at('2025-06-01');
  });
  afterAll(async () => {
    await ledger.close();
    await t.close();
  });

  it('accrues the daily rate on the unpaid purchases each day up to the due date, to the cent', async () => {
    const whole = await customer('whole');
    const part = await customer('part');
    await at('2025-06-02');
    await buy(whole, 1_000_000n); // 10,000.00
    await buy(part, 123_456n); // 1,234.56

    await closeThrough('2025-07-01'); // statement date: 30 days of use, 06-02 … 07-01
    const wholeBill = (await paylater.getLine(whole)).bill!;
    // 1,000,000 × 400 / 1,000,000 = 400 a day × 30 = 12,000 (DESIGN vector 8: 120.00).
    expect(wholeBill).toMatchObject({
      statementDate: '2025-07-01',
      dueDate: '2025-07-06',
      interest: 12_000n,
    });
    // 123,456 × 400 / 1,000,000 = 49.3824 → 49 (half-even) a day × 30 = 1,470.
    const partBill = (await paylater.getLine(part)).bill!;
    expect(partBill.interest).toBe(1_470n);

    await at('2025-07-03'); // the close of 07-02 accrued one day on the bill
    // whole: 12,000 + 400; part: 1,470 + 49.
    expect((await paylater.getStatement(whole, wholeBill.id)).interest).toBe(12_400n);
    expect((await paylater.getStatement(part, partBill.id)).interest).toBe(1_519n);
    // part repays 500.00 on 07-03: interest first (1,519), then 48,481 of principal,
    // leaving 123,456 − 48,481 = 74,975 of purchases.
    const repaid = await paylater.repay({ id: newId(), userId: part, amount: 50_000n });
    expect(repaid).toMatchObject({ charges: 1_519n, principal: 48_481n });

    await at('2025-07-06'); // the due date; the closes of 07-03, 07-04 and 07-05 accrued
    // whole: 12,400 + 3 × 400 = 13,600 — 34 days (06-02 … 07-05) × 4.00 = 136.00.
    const wholeNow = await paylater.getStatement(whole, wholeBill.id);
    expect(wholeNow).toMatchObject({ interest: 13_600n, unpaid: 1_013_600n, status: 'open' });
    // part: 74,975 × 400 / 1,000,000 = 29.99 → 30 (half-even) a day × 3 = 90.
    const partNow = await paylater.getStatement(part, partBill.id);
    expect(partNow).toMatchObject({ interest: 1_609n, unpaid: 75_065n });

    // Repaid on the due date: that day is not charged, and nothing is left owing anywhere.
    await paylater.repay({ id: newId(), userId: whole, amount: 1_013_600n });
    await paylater.repay({ id: newId(), userId: part, amount: 75_065n });
    await closeThrough('2025-07-10');
    for (const [user, bill, spent] of [
      [whole, wholeBill.id, 1_013_600n],
      [part, partBill.id, 50_000n + 75_065n],
    ] as const) {
      expect(await paylater.getStatement(user, bill)).toMatchObject({ paidOn: '2025-07-06', unpaid: 0n });
      const line = await paylater.getLine(user);
      expect(line).toMatchObject({ totalOwed: 0n, used: 0n, accruedInterest: 0n });
      expect((await ledger.getAccount(line.ledgerAccountId)).balances.posted).toBe(0n);
      expect((await ledger.getAccount(wallets.get(user)!)).balances.posted).toBe(2_000_000n - spent);
    }
    // Every cent of interest charged (13,600 + 1,609) was booked and repaid: the product's charges
    // receivable is back to zero.
    expect((await ledger.getAccount(productAccountId(fenfu, 'charges'))).balances.posted).toBe(0n);
  });
});
