import fc from 'fast-check';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ManualClock,
  businessDate as businessDateOf,
  derivedId,
  isMilletError,
  newId,
} from '../core/index.ts';
import { behaviourFeatures, modelSpec } from '../credit/index.ts';
import { applyMigrations } from '../db/index.ts';
import { addDays, createEndOfDayClose, jobsMigrations, type EndOfDayClose } from '../jobs/index.ts';
import { createLedger, ledgerMigrations, type Ledger } from '../ledger/index.ts';
import type { PaymentMethodHandler } from '../merchants/index.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';
import { productAccountId } from './accounts.ts';
import { createPaylater, paylaterMigrations, type Paylater } from './index.ts';
import { instalmentFee } from './instalments.ts';

/**
 * The line on its public API and the close: opening rules, both pricing modes (DESIGN vector 8),
 * statements, the interest-free period, revolving and penalty interest, suspension, repayment
 * order, instalments at checkout, refunds, and the ledger behind it all.
 */
describe('pay-later line (close-driven)', () => {
  let t: TestDatabase;
  let ledger: Ledger;
  let paylater: Paylater;
  let close: EndOfDayClose;
  let world: string;
  let merchantAccount: string;
  const clock = new ManualClock('2025-06-01T02:00:00Z');
  const methods = new Map<string, PaymentMethodHandler>();
  const wallets = new Map<string, string>();
  const users = new Map<
    string,
    { kycStatus: string; accountClass: string | null; isAdult: boolean; ageYears: number | null }
  >();
  const scores = new Map<string, number>();
  /** Runs once, the next time the user's wallet is read (to act between the close's reads). */
  const walletReadHooks = new Map<string, () => Promise<void>>();
  let huabei: string;
  let fenfu: string;

  /** Business time moves to `date`, after closing every day before it (as production would). */
  const at = async (date: string) => {
    await closeThrough(addDays(date, -1));
    clock.set(new Date(`${date}T10:00:00+08:00`));
  };
  const closeThrough = async (date: string) => {
    for (;;) {
      const last = (await close.lastClosedDate()) ?? '2025-05-31';
      if (last >= date) return;
      const run = await close.close(addDays(last, 1), { fastForward: true });
      if (run.status !== 'completed') throw new Error(`close ${addDays(last, 1)}: ${run.error}`);
    }
  };
  const code = async (promise: Promise<unknown>) =>
    promise.then(
      () => 'ok',
      (e: unknown) => (isMilletError(e) ? e.code : e),
    );
  async function customer(
    name: string,
    options: { score?: number; funds?: bigint; adult?: boolean; cls?: string } = {},
  ) {
    const id = derivedId('paylater-test', name);
    users.set(id, {
      kycStatus: 'verified',
      accountClass: options.cls ?? 'II',
      isAdult: options.adult ?? true,
      ageYears: options.adult === false ? 17 : 30,
    });
    if (options.score !== undefined) scores.set(id, options.score);
    const wallet = await ledger.openAccount({
      currency: 'CNY',
      code: 'user_wallet',
      bound: { kind: 'no_overdraft' },
    });
    wallets.set(id, wallet.id);
    if (options.funds)
      await ledger.transfer({
        id: newId(),
        debitAccountId: world,
        creditAccountId: wallet.id,
        amount: options.funds,
      });
    return id;
  }
  const buy = (
    userId: string,
    amount: bigint,
    method = 'pay_later',
    details: Record<string, string> = {},
  ) => {
    const paymentId = newId();
    return methods
      .get(method)!
      .collect({
        paymentId,
        merchantId: newId(),
        userId,
        amount,
        currency: 'CNY',
        merchantAccountId: merchantAccount,
        details,
      })
      .then(() => paymentId);
  };
  const walletBalance = async (userId: string) =>
    (await ledger.getAccount(wallets.get(userId)!)).balances.posted;
  const refund = (userId: string, paymentId: string, amount: bigint) =>
    methods.get('pay_later')!.refund!({
      refundId: newId(),
      paymentId,
      merchantId: newId(),
      userId,
      amount,
      merchantAccountId: merchantAccount,
    });
  /** The first statement day (the 1st) at least two days after the last closed date. */
  const nextFirstOfMonth = async () => {
    let date = addDays((await close.lastClosedDate()) ?? '2025-05-31', 2);
    while (!date.endsWith('-01')) date = addDays(date, 1);
    return date;
  };
  const receivable = async (userId: string) =>
    -(await ledger.getAccount((await paylater.getLine(userId)).ledgerAccountId)).balances.posted;

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
      users: { getUser: async (id) => users.get(id)! },
      scores: { currentScore: async (id) => scores.get(id) ?? null },
      wallets: {
        getWallet: async (id) => {
          const hook = walletReadHooks.get(id);
          walletReadHooks.delete(id);
          if (hook) await hook();
          const account = await ledger.getAccount(wallets.get(id)!);
          return { ledgerAccountId: account.id, available: account.balances.available };
        },
      },
      registerPaymentMethod: (name, handler) => methods.set(name, handler),
    });
    close = createEndOfDayClose({ db: t.db, clock, steps: paylater.closeSteps({ chunkSize: 3 }) });
    const base = {
      dueDays: 9,
      revolvingRatePpm: 500n,
      penaltyMultiplierBp: 15_000,
      minPaymentBp: 1_000,
      suspendAfterDays: 30,
      instalmentFees: { '3': 230, '6': 450, '12': 750 },
    };
    huabei = (
      await paylater.createProduct({
        ...base,
        code: 'huabei',
        name: '花呗',
        mode: 'statement',
        statementDay: 1,
        dailyRatePpm: 0n,
      })
    ).id;
    fenfu = (
      await paylater.createProduct({
        ...base,
        code: 'fenfu',
        name: '分付',
        mode: 'daily',
        statementDay: 2,
        // Due the day after the statement date, the first day its bill can be seen (0 is refused).
        dueDays: 1,
        dailyRatePpm: 400n,
        revolvingRatePpm: 400n,
      })
    ).id;
    await paylater.setLimitBands([
      { minScore: 600, limit: 500_000n },
      { minScore: 650, limit: 2_000_000n },
    ]);
    await at('2025-06-01');
  });
  afterAll(async () => {
    await ledger.close();
    await t.close();
  });

  it('versions products and refuses one above the 24% APR ceiling', async () => {
    const v2 = await paylater.createProduct({
      ...(await paylater.getProduct(huabei)),
      id: undefined,
      name: '花呗 v2',
    });
    expect(v2.version).toBe(2);
    expect(v2.code).toBe('huabei');
    const tooDear = paylater.createProduct({
      ...(await paylater.getProduct(huabei)),
      id: undefined,
      instalmentFees: { '3': 1_000 },
    });
    expect(await code(tooDear)).toBe('APR_ABOVE_CAP');
    expect(await code(paylater.createProduct({ ...v2, id: undefined, revolvingRatePpm: 700n }))).toBe(
      'APR_ABOVE_CAP',
    );
  });

  it('opens a line from the score bands; minors, unscored and low scores get none; class I is capped', async () => {
    expect(
      await code(
        paylater.openLine({
          userId: await customer('minor', { score: 800, adult: false }),
          productId: huabei,
        }),
      ),
    ).toBe('PAYLATER_NOT_ELIGIBLE');
    expect(await code(paylater.openLine({ userId: await customer('unscored'), productId: huabei }))).toBe(
      'PAYLATER_NOT_ELIGIBLE',
    );
    expect(
      await code(paylater.openLine({ userId: await customer('low', { score: 580 }), productId: huabei })),
    ).toBe('PAYLATER_NOT_ELIGIBLE');
    const mid = await paylater.openLine({ userId: await customer('mid', { score: 620 }), productId: huabei });
    expect(mid.limit).toBe(500_000n);
    const classI = await paylater.openLine({
      userId: await customer('class-i', { score: 900, cls: 'I' }),
      productId: huabei,
    });
    expect(classI.limit).toBe(100_000n);
    const high = await customer('high', { score: 700 });
    const line = await paylater.openLine({ userId: high, productId: huabei });
    expect(line.limit).toBe(2_000_000n);
    expect(line.available).toBe(2_000_000n);
    expect(await code(paylater.openLine({ userId: high, productId: huabei }))).toBe('PAYLATER_LINE_EXISTS');
  });

  it('daily mode: 10,000.00 × 0.04% × 30 days = 120.00 (vector 8), billed on the chosen date and auto-repaid', async () => {
    const user = await customer('fenfu', { score: 700, funds: 2_000_000n });
    const early = await customer('fenfu-early', { score: 700, funds: 2_000_000n });
    for (const u of [user, early]) {
      await paylater.openLine({ userId: u, productId: fenfu });
      await paylater.setRepaymentDay(u, 1);
    }
    await at('2025-06-02');
    await buy(user, 1_000_000n);
    await buy(early, 1_000_000n);
    await closeThrough('2025-06-16'); // 15 days of use: 06-02 … 06-16
    await at('2025-06-17');
    expect((await paylater.getLine(early)).accruedInterest).toBe(6_000n);
    expect(await code(paylater.repay({ id: newId(), userId: early, amount: 1_006_001n }))).toBe(
      'PAYLATER_REPAYMENT_EXCEEDS_BALANCE',
    );
    const repaid = await paylater.repay({ id: newId(), userId: early, amount: 1_006_000n });
    expect(repaid).toMatchObject({ charges: 6_000n, principal: 1_000_000n });
    await closeThrough('2025-07-01'); // the statement date: 30 days of use, 06-02 … 07-01
    const bill = (await paylater.getLine(user)).bill!;
    expect(bill).toMatchObject({
      statementDate: '2025-07-01',
      dueDate: '2025-07-02',
      principal: 1_000_000n,
      interest: 12_000n,
      status: 'open',
    });
    await closeThrough('2025-07-02'); // auto-repaid on its due date, the day the bill is first seen
    expect(await paylater.getStatement(user, bill.id)).toMatchObject({
      interest: 12_000n,
      paidOn: '2025-07-02',
    });
    expect(await walletBalance(user)).toBe(2_000_000n - 1_012_000n);
    expect(await walletBalance(early)).toBe(2_000_000n - 1_006_000n);
    for (const u of [user, early]) expect((await paylater.getLine(u)).totalOwed).toBe(0n);
  });

  it('statement mode: paid in full by the due date costs nothing; a revolved one pays interest to the cent', async () => {
    const full = await customer('full', { score: 700 });
    const revolver = await customer('revolver', { score: 700 });
    const late = await customer('late', { score: 700 });
    for (const u of [full, revolver, late]) {
      await paylater.openLine({ userId: u, productId: huabei });
      await paylater.setAutoRepay(u, false);
    }
    await at('2025-07-05');
    await buy(full, 100_000n);
    await buy(revolver, 200_000n);
    await buy(late, 300_000n);
    await closeThrough('2025-08-01');
    const bill = (await paylater.getLine(revolver)).bill!;
    expect(bill).toMatchObject({
      statementDate: '2025-08-01',
      dueDate: '2025-08-10',
      principal: 200_000n,
      minPayment: 20_000n,
    });
    // Repayment is from the wallet: fund it.
    for (const u of [full, revolver])
      await ledger.transfer({
        id: newId(),
        debitAccountId: world,
        creditAccountId: wallets.get(u)!,
        amount: 500_000n,
      });
    await at('2025-08-10');
    await paylater.repay({ id: newId(), userId: full, amount: 100_000n });
    await paylater.repay({ id: newId(), userId: revolver, amount: 20_000n });
    await at('2025-08-21');
    const fullBill = (await paylater.listStatements(full)).items.find(
      (s) => s.statementDate === '2025-08-01',
    )!;
    expect(fullBill).toMatchObject({ interest: 0n, penalty: 0n, paidOn: '2025-08-10', status: 'paid' });
    // 180,000 fen unpaid × 0.05%/day = 90 fen a day, 08-11 … 08-20.
    const revolved = await paylater.getStatement(revolver, bill.id);
    expect(revolved).toMatchObject({ interest: 900n, penalty: 0n });
    // Late: min 30,000 unpaid → penalty 30,000 × 0.05% × 1.5 = 22.5 → 22 (half-even) a day, plus revolving 150.
    const lateBill = (await paylater.getLine(late)).bill!;
    expect(lateBill).toMatchObject({ interest: 1_500n, penalty: 220n, status: 'overdue' });
    // Repayment order: penalty, then interest, then principal.
    await ledger.transfer({
      id: newId(),
      debitAccountId: world,
      creditAccountId: wallets.get(late)!,
      amount: 1_000n,
    });
    const part = await paylater.repay({ id: newId(), userId: late, amount: 1_000n });
    expect(part).toMatchObject({ charges: 1_000n, principal: 0n });
    expect(await paylater.getStatement(late, lateBill.id)).toMatchObject({ paid: 1_000n });
    await at('2025-09-09');
    expect((await paylater.getLine(late)).status).toBe('active'); // 29 days overdue
    await at('2025-09-10');
    expect((await paylater.getLine(late)).status).toBe('suspended'); // 30 days overdue at the close of 09-09
    expect(await code(buy(late, 100n))).toBe('PAYLATER_LINE_SUSPENDED');
    const histories = await paylater.lineHistories([full, revolver, late], clock.now());
    // August's bill is repaid in September's month (the Taiwan data's PAY_AMT1 pays BILL_AMT2).
    expect(histories.get(full)!.statements[1]).toMatchObject({
      monthsPastDue: -1,
      statementBalance: 100_000n,
      amountRepaid: 0n,
    });
    expect(histories.get(full)!.statements[0]!.amountRepaid).toBe(100_000n);
    expect(histories.get(revolver)!.statements[1]).toMatchObject({ monthsPastDue: 0, amountRepaid: 0n });
    expect(histories.get(revolver)!.statements[0]!.amountRepaid).toBe(20_000n);
    expect(histories.get(late)!.statements[1]!.monthsPastDue).toBe(2); // 31 days late
    expect(histories.get(full)!.statements[0]!.monthsPastDue).toBe(-2); // September: no use
    expect(histories.get(late)!.creditLimit).toBe(2_000_000n);
  });

  it('instalments at checkout (vector 6), merchant-paid, refunds lower the balance, early settlement; the ledger verifies', async () => {
    const user = await customer('instalments', { score: 700, funds: 1_000_000n });
    await paylater.openLine({ userId: user, productId: huabei });
    await at('2025-09-12');
    await buy(user, 111_111n, 'pay_later_instalments', { terms: '3' });
    await buy(user, 111_111n, 'pay_later_instalments', { terms: '6', fee_payer: 'merchant' });
    const refunded = await buy(user, 50_000n);
    expect(await code(buy(user, 100n, 'pay_later_instalments', { terms: '4' }))).toBe(
      'PAYLATER_TERM_UNAVAILABLE',
    );
    const [plan3, plan6] = (await paylater.listPlans(user)).sort((a, b) => a.terms - b.terms);
    expect(plan3!.periods.map((p) => p.principal + p.fee)).toEqual([37_889n, 37_889n, 37_889n]);
    expect(plan3!.fee).toBe(2_556n);
    expect(Number(plan3!.aprPercent)).toBeGreaterThan(2.3);
    expect(plan6!.fee).toBe(0n);
    expect(plan6!.periods[0]!.principal).toBe(18_521n);
    expect((await paylater.getLine(user)).used).toBe(111_111n * 2n + 50_000n);
    await methods.get('pay_later')!.refund!({
      refundId: newId(),
      paymentId: refunded,
      merchantId: newId(),
      userId: user,
      amount: 20_000n,
      merchantAccountId: merchantAccount,
    });
    expect((await paylater.getLine(user)).unbilled).toBe(30_000n);
    await closeThrough('2025-10-01');
    const bill = (await paylater.getLine(user)).bill!;
    expect(bill).toMatchObject({ principal: 30_000n + 37_037n + 18_521n, fees: 852n });
    const settled = await paylater.settlePlan({ id: newId(), userId: user, planId: plan6!.id });
    expect(settled.principal).toBe(111_111n - 18_521n);
    const report = await ledger.verify();
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    // The ledger agrees with the line: the receivable is the principal owed.
    const line = await paylater.getLine(user);
    expect(-(await ledger.getAccount(line.ledgerAccountId)).balances.posted).toBe(line.used);
  });

  it('property: a statement paid in full by its due date never costs interest; balances never go negative', async () => {
    const scenario = fc.record({
      purchases: fc.array(
        fc.record({ day: fc.integer({ min: 2, max: 28 }), amount: fc.bigInt({ min: 1n, max: 300_000n }) }),
        {
          minLength: 1,
          maxLength: 3,
        },
      ),
      // The statement is issued in the close of the 1st; it can be paid from the 2nd to the due date, the 10th.
      payDay: fc.integer({ min: 2, max: 10 }),
      extra: fc.bigInt({ min: 0n, max: 50_000n }),
    });
    let month = 10; // October 2025 onwards, one month per run
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(scenario, { minLength: 2, maxLength: 4 }), async (scenarios) => {
        const ym = (k: number) =>
          `${2025 + Math.floor((k - 1) / 12)}-${String(((k - 1) % 12) + 1).padStart(2, '0')}`;
        const thisMonth = ym(month);
        const next = ym(month + 1);
        month += 1;
        run += 1;
        const people = [];
        for (const [i, sc] of scenarios.entries()) {
          const u = await customer(`prop-${run}-${i}`, { score: 700 });
          await paylater.openLine({ userId: u, productId: huabei });
          await paylater.setAutoRepay(u, false);
          people.push({ u, sc });
        }
        for (let day = 2; day <= 28; day++) {
          const todays = people.flatMap((p) =>
            p.sc.purchases.filter((x) => x.day === day).map((x) => ({ ...p, x })),
          );
          if (todays.length === 0) continue;
          await at(`${thisMonth}-${String(day).padStart(2, '0')}`);
          for (const { u, x } of todays) await buy(u, x.amount);
        }
        for (let day = 2; day <= 10; day++) {
          await at(`${next}-${String(day).padStart(2, '0')}`);
          for (const { u, sc } of people.filter((p) => p.sc.payDay === day)) {
            const bill = (await paylater.getLine(u)).bill!;
            expect(bill.statementDate).toBe(`${next}-01`);
            const owed = (await paylater.getLine(u)).totalOwed;
            // Paying more than is owed is refused: nothing ever goes below zero.
            await ledger.transfer({
              id: newId(),
              debitAccountId: world,
              creditAccountId: wallets.get(u)!,
              amount: owed + sc.extra + 1n,
            });
            expect(await code(paylater.repay({ id: newId(), userId: u, amount: owed + 1n }))).toBe(
              'PAYLATER_REPAYMENT_EXCEEDS_BALANCE',
            );
            await paylater.repay({ id: newId(), userId: u, amount: owed });
          }
        }
        await at(`${next}-20`);
        for (const { u, sc } of people) {
          const bill = (await paylater.listStatements(u)).items.find(
            (s) => s.statementDate === `${next}-01`,
          )!;
          expect(bill.principal).toBe(sc.purchases.reduce((sum, x) => sum + x.amount, 0n));
          expect(bill).toMatchObject({ interest: 0n, penalty: 0n, status: 'paid', unpaid: 0n });
          const line = await paylater.getLine(u);
          expect(line).toMatchObject({ used: 0n, totalOwed: 0n, accruedInterest: 0n });
          expect((await ledger.getAccount(line.ledgerAccountId)).balances.posted).toBe(0n);
        }
      }),
      { numRuns: 2, endOnFailure: true },
    );
  });

  it('close steps are idempotent for their date: running them again changes nothing', async () => {
    const last = (await close.lastClosedDate())!;
    const snapshot = async () => ({
      lines: (
        await t.db.query(
          'SELECT id, accrued_interest, unbilled_principal, status FROM paylater_lines ORDER BY id',
        )
      ).rows,
      statements: (
        await t.db.query('SELECT id, interest, penalty, paid_principal FROM paylater_statements ORDER BY id')
      ).rows,
      charges: (
        await t.db.query('SELECT * FROM paylater_charge_days ORDER BY product_id, business_date, kind')
      ).rows,
      entries: (await ledger.verify()).entries,
    });
    const before = await snapshot();
    for (const step of paylater.closeSteps({ chunkSize: 2 }))
      await step.run({
        businessDate: last,
        asOf: new Date(`${last}T23:59:59.999+08:00`),
        cursor: null,
        checkpoint: async () => {},
      });
    expect(await snapshot()).toEqual(before);
  });

  it('a purchase made after midnight, before the day before has closed, is billed and charged from its own day', async () => {
    const statementDate = await nextFirstOfMonth();
    const billed = await customer('after-midnight', { score: 700 });
    const daily = await customer('after-midnight-daily', { score: 700 });
    await paylater.openLine({ userId: billed, productId: huabei });
    await paylater.setAutoRepay(billed, false);
    await paylater.openLine({ userId: daily, productId: fenfu });
    await paylater.setRepaymentDay(daily, 15);
    await at(statementDate);
    await buy(billed, 100_000n);
    // 00:10 the next day: the close of the statement date runs at about 00:30, after these.
    clock.set(new Date(`${addDays(statementDate, 1)}T00:10:00+08:00`));
    await buy(billed, 50_000n);
    await buy(daily, 1_000_000n);
    await closeThrough(statementDate);
    const line = await paylater.getLine(billed);
    expect(line.bill).toMatchObject({ statementDate, principal: 100_000n, minPayment: 10_000n });
    expect(line.unbilled).toBe(50_000n);
    expect((await paylater.getLine(daily)).accruedInterest).toBe(0n);
    // Its own day's close charges its first day (0.04% of 10,000.00) and bills nothing yet.
    await closeThrough(addDays(statementDate, 1));
    expect((await paylater.getLine(daily)).accruedInterest).toBe(400n);
    expect((await paylater.getLine(billed)).unbilled).toBe(50_000n);
  });

  it('a purchase made after midnight and refunded before the day before has closed leaves that day whole', async () => {
    const statementDate = await nextFirstOfMonth();
    const refunded = await customer('after-midnight-refunded', { score: 700 });
    const partly = await customer('after-midnight-partly-refunded', { score: 700 });
    const daily = await customer('after-midnight-refunded-daily', { score: 700 });
    for (const u of [refunded, partly]) {
      await paylater.openLine({ userId: u, productId: huabei });
      await paylater.setAutoRepay(u, false);
    }
    await paylater.openLine({ userId: daily, productId: fenfu });
    await paylater.setRepaymentDay(daily, 15);
    await at(statementDate);
    await buy(refunded, 100_000n);
    await buy(partly, 100_000n);
    await buy(daily, 1_000_000n);
    clock.set(new Date(`${addDays(statementDate, 1)}T00:05:00+08:00`));
    const late = await buy(refunded, 50_000n);
    const partlyLate = await buy(partly, 50_000n);
    const dailyLate = await buy(daily, 500_000n);
    clock.set(new Date(`${addDays(statementDate, 1)}T00:10:00+08:00`));
    await refund(refunded, late, 50_000n);
    await refund(partly, partlyLate, 20_000n);
    await refund(daily, dailyLate, 500_000n);
    await closeThrough(statementDate);
    expect(await paylater.getLine(refunded)).toMatchObject({
      bill: { statementDate, principal: 100_000n, minPayment: 10_000n },
      used: 100_000n,
      unbilled: 0n,
    });
    expect(await paylater.getLine(partly)).toMatchObject({
      bill: { statementDate, principal: 100_000n },
      used: 130_000n,
      unbilled: 30_000n,
    });
    // The statement date's interest is on the 10,000.00 used that day, not less.
    expect((await paylater.getLine(daily)).accruedInterest).toBe(400n);
    for (const u of [refunded, partly, daily])
      expect(await receivable(u)).toBe((await paylater.getLine(u)).used);
  });

  it('a purchase in the last millisecond of the statement date is billed on it, and refunding it pays that statement', async () => {
    const statementDate = await nextFirstOfMonth();
    const lastMs = await customer('last-millisecond', { score: 700 });
    await paylater.openLine({ userId: lastMs, productId: huabei });
    await paylater.setAutoRepay(lastMs, false);
    await at(statementDate);
    clock.set(new Date(`${statementDate}T23:59:59.999+08:00`));
    const purchase = await buy(lastMs, 100_000n);
    await closeThrough(statementDate);
    const bill = (await paylater.getLine(lastMs)).bill!;
    expect(bill).toMatchObject({ statementDate, principal: 100_000n, unpaid: 100_000n });
    clock.set(new Date(`${addDays(statementDate, 1)}T10:00:00+08:00`));
    await buy(lastMs, 300_000n);
    await refund(lastMs, purchase, 100_000n);
    expect(await paylater.getStatement(lastMs, bill.id)).toMatchObject({ unpaid: 0n, status: 'paid' });
    expect(await paylater.getLine(lastMs)).toMatchObject({ used: 300_000n, unbilled: 300_000n });
  });

  it('auto-repayment on a due date also pays a revolved older statement, so the new one is not left overdue', async () => {
    const first = await nextFirstOfMonth();
    const revolver = await customer('auto-repay-revolver', { score: 700, funds: 1_000_000n });
    await paylater.openLine({ userId: revolver, productId: huabei });
    await paylater.setAutoRepay(revolver, false);
    await at(addDays(first, -3));
    await buy(revolver, 100_000n);
    await at(addDays(first, 1));
    const revolved = (await paylater.getLine(revolver)).bill!;
    await paylater.repay({ id: newId(), userId: revolver, amount: revolved.minPayment });
    await buy(revolver, 10_000n);
    let second = addDays(first, 28);
    while (!second.endsWith('-01')) second = addDays(second, 1);
    await at(addDays(second, 1));
    await paylater.setAutoRepay(revolver, true);
    const bill = (await paylater.getLine(revolver)).bill!;
    expect(bill).toMatchObject({ principal: 10_000n, paid: 0n });
    const walletBefore = await walletBalance(revolver);
    await at(addDays(bill.dueDate, 1));
    // Both statements are paid off, older one first, by the one auto-repayment of the due date.
    expect(await paylater.getStatement(revolver, bill.id)).toMatchObject({
      status: 'paid',
      paidOn: bill.dueDate,
    });
    expect(await paylater.getStatement(revolver, revolved.id)).toMatchObject({ status: 'paid' });
    const line = await paylater.getLine(revolver);
    expect(line).toMatchObject({ status: 'active', used: 0n, totalOwed: 0n });
    const revolvedNow = await paylater.getStatement(revolver, revolved.id);
    expect(walletBefore - (await walletBalance(revolver))).toBe(
      10_000n + 90_000n + revolvedNow.interest + revolvedNow.penalty,
    );
    expect(await receivable(revolver)).toBe(0n);
  });

  it('auto-repayment never spills onto unbilled spending when the user repaid the bill meanwhile', async () => {
    const first = await nextFirstOfMonth();
    const spender = await customer('auto-repay-race', { score: 700, funds: 1_000_000n });
    await paylater.openLine({ userId: spender, productId: huabei });
    await at(addDays(first, -3));
    await buy(spender, 50_000n);
    await at(addDays(first, 1));
    const bill = (await paylater.getLine(spender)).bill!;
    await buy(spender, 60_000n);
    await at(bill.dueDate);
    // The close has read what the bill asks; the user's own repayment lands before its auto-repayment.
    walletReadHooks.set(spender, async () => {
      await paylater.repay({ id: newId(), userId: spender, amount: 50_000n });
    });
    await closeThrough(bill.dueDate);
    expect(walletReadHooks.has(spender)).toBe(false);
    expect(await paylater.getStatement(spender, bill.id)).toMatchObject({ status: 'paid', paid: 50_000n });
    expect(await paylater.getLine(spender)).toMatchObject({ unbilled: 60_000n, used: 60_000n });
    expect(await walletBalance(spender)).toBe(1_000_000n - 50_000n);
  });

  it('asking to convert a converted statement into other terms is refused, not answered with the first plan', async () => {
    const first = await nextFirstOfMonth();
    const splitter = await customer('convert-twice', { score: 700, funds: 1_000_000n });
    await paylater.openLine({ userId: splitter, productId: huabei });
    await paylater.setAutoRepay(splitter, false);
    await at(addDays(first, -3));
    await buy(splitter, 100_000n);
    await at(addDays(first, 1));
    const bill = (await paylater.getLine(splitter)).bill!;
    const plan = await paylater.convertStatement({ userId: splitter, statementId: bill.id, terms: 3 });
    expect(plan.terms).toBe(3);
    expect(await paylater.convertStatement({ userId: splitter, statementId: bill.id, terms: 3 })).toEqual(
      plan,
    );
    expect(await code(paylater.convertStatement({ userId: splitter, statementId: bill.id, terms: 6 }))).toBe(
      'PAYLATER_STATEMENT_NOT_CONVERTIBLE',
    );
    expect(await paylater.listPlans(splitter)).toEqual([plan]);
  });

  it("converting another user's statement is not found, whether or not its owner converted it", async () => {
    const first = await nextFirstOfMonth();
    const owner = await customer('convert-owner', { score: 700, funds: 1_000_000n });
    const stranger = await customer('convert-stranger', { score: 700, funds: 1_000_000n });
    for (const user of [owner, stranger]) {
      await paylater.openLine({ userId: user, productId: huabei });
      await paylater.setAutoRepay(user, false);
    }
    await at(addDays(first, -3));
    await buy(owner, 100_000n);
    await at(addDays(first, 1));
    const bill = (await paylater.getLine(owner)).bill!;
    expect(await code(paylater.convertStatement({ userId: stranger, statementId: bill.id, terms: 3 }))).toBe(
      'PAYLATER_STATEMENT_NOT_FOUND',
    );
    await paylater.convertStatement({ userId: owner, statementId: bill.id, terms: 3 });
    for (const terms of [3, 6])
      expect(await code(paylater.convertStatement({ userId: stranger, statementId: bill.id, terms }))).toBe(
        'PAYLATER_STATEMENT_NOT_FOUND',
      );
    expect(await paylater.listPlans(stranger)).toEqual([]);
  });

  it('the same statement conversion sent twice at once answers both with the one plan', async () => {
    const first = await nextFirstOfMonth();
    const user = await customer('convert-same-at-once', { score: 700, funds: 1_000_000n });
    await paylater.openLine({ userId: user, productId: huabei });
    await paylater.setAutoRepay(user, false);
    await at(addDays(first, -3));
    await buy(user, 100_000n);
    await at(addDays(first, 1));
    const bill = (await paylater.getLine(user)).bill!;
    const answers = await Promise.allSettled(
      [1, 2, 3].map(() => paylater.convertStatement({ userId: user, statementId: bill.id, terms: 3 })),
    );
    const plans = await paylater.listPlans(user);
    expect(plans.length).toBe(1);
    expect(answers.map((a) => (a.status === 'fulfilled' ? a.value : a.reason))).toEqual([
      plans[0],
      plans[0],
      plans[0],
    ]);
    expect(await paylater.getStatement(user, bill.id)).toMatchObject({ convertedPrincipal: 100_000n });
  });

  it('converting a statement splits only its new purchases: instalment months already billed on it get no second fee', async () => {
    const first = await nextFirstOfMonth();
    const user = await customer('convert-no-instalments-on-instalments', { score: 700, funds: 1_000_000n });
    await paylater.openLine({ userId: user, productId: huabei });
    await paylater.setAutoRepay(user, false);
    await at(addDays(first, -3));
    await buy(user, 111_111n, 'pay_later_instalments', { terms: '3' });
    await buy(user, 100_000n);
    await at(addDays(first, 1));
    const bill = (await paylater.getLine(user)).bill!;
    // Month 1 of the checkout plan (37,037 + fee 852) and the new 1,000.00.
    expect(bill).toMatchObject({ principal: 137_037n, instalmentPrincipal: 37_037n, fees: 852n });
    const offers = await paylater.statementOffers(user, bill.id);
    expect(offers.map((o) => [o.terms, o.principal, o.fee])).toEqual([
      [3, 100_000n, 2_300n],
      [6, 100_000n, 4_500n],
      [12, 100_000n, 7_500n],
    ]);
    const plan = await paylater.convertStatement({ userId: user, statementId: bill.id, terms: 3 });
    expect(plan).toMatchObject({ principal: 100_000n, fee: 2_300n });
    // The month already in instalments stays due on this statement, with its fee; the minimum is
    // the usual share of what principal is left plus the fee.
    const after = await paylater.getStatement(user, bill.id);
    expect(after).toMatchObject({
      convertedPrincipal: 100_000n,
      totalDue: 37_037n + 852n,
      minPayment: 3_704n + 852n,
      status: 'open',
    });
    expect(await code(paylater.statementOffers(user, bill.id))).toBe('PAYLATER_STATEMENT_NOT_CONVERTIBLE');
    // The next statement bills month 2 of the checkout plan and month 1 of the statement's plan:
    // converting it splits nothing (no new purchases).
    let second = addDays(first, 28);
    while (!second.endsWith('-01')) second = addDays(second, 1);
    await paylater.repay({ id: newId(), userId: user, amount: after.totalDue });
    await at(addDays(second, 1));
    const next = (await paylater.getLine(user)).bill!;
    expect(next).toMatchObject({ principal: 37_037n + 33_334n, instalmentPrincipal: 37_037n + 33_334n });
    expect(await code(paylater.convertStatement({ userId: user, statementId: next.id, terms: 3 }))).toBe(
      'PAYLATER_STATEMENT_NOT_CONVERTIBLE',
    );
    expect((await paylater.listPlans(user)).length).toBe(2);
    const report = await ledger.verify();
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
  });

  it('a refund of a purchase on a converted statement ends its plan, not the instalment month billed beside it', async () => {
    const first = await nextFirstOfMonth();
    const user = await customer('refund-converted-beside-instalments', { score: 700 });
    await paylater.openLine({ userId: user, productId: huabei });
    await paylater.setAutoRepay(user, false);
    await at(addDays(first, -3));
    await buy(user, 111_111n, 'pay_later_instalments', { terms: '3' });
    const returned = await buy(user, 90_000n);
    await at(addDays(first, 1));
    const bill = (await paylater.getLine(user)).bill!;
    const plan = await paylater.convertStatement({ userId: user, statementId: bill.id, terms: 3 });
    expect(plan.principal).toBe(90_000n);
    await refund(user, returned, 90_000n);
    const [, statementPlan] = (await paylater.listPlans(user)).sort((a, b) =>
      a.source.localeCompare(b.source),
    );
    expect(statementPlan!.id).toBe(plan.id);
    expect(statementPlan!.periods.map((p) => p.settledPrincipal)).toEqual([30_000n, 30_000n, 30_000n]);
    // The checkout plan's month 1 is still owed on the statement.
    expect(await paylater.getStatement(user, bill.id)).toMatchObject({ totalDue: 37_037n + 852n, paid: 0n });
    expect((await paylater.getLine(user)).used).toBe(111_111n);
    expect(await receivable(user)).toBe(111_111n);
  });

  it('a refund of a billed purchase pays the statement that billed it, not an older one; only the excess goes on', async () => {
    const first = await nextFirstOfMonth();
    const older = await customer('refund-own-statement', { score: 700 });
    const excess = await customer('refund-own-statement-excess', { score: 700, funds: 1_000_000n });
    for (const u of [older, excess]) {
      await paylater.openLine({ userId: u, productId: huabei });
      await paylater.setAutoRepay(u, false);
    }
    await at(addDays(first, -3));
    await buy(older, 100_000n);
    await at(addDays(first, 1));
    const olderBill = (await paylater.getLine(older)).bill!;
    const returned = await buy(older, 50_000n);
    const partlyRepaid = await buy(excess, 50_000n);
    let second = addDays(first, 28);
    while (!second.endsWith('-01')) second = addDays(second, 1);
    await at(addDays(second, 1));
    const ownBill = (await paylater.getLine(older)).bill!;
    expect(ownBill).toMatchObject({ statementDate: second, principal: 50_000n });
    await refund(older, returned, 50_000n);
    // The refunded purchase's own statement is cleared; the older (overdue) one still owes its principal.
    expect(await paylater.getStatement(older, ownBill.id)).toMatchObject({ unpaid: 0n, status: 'paid' });
    const olderNow = await paylater.getStatement(older, olderBill.id);
    expect(olderNow.principal - olderNow.paid).toBe(100_000n - olderNow.paid);
    expect(olderNow.paid).toBe(0n);
    expect(await receivable(older)).toBe(100_000n);
    // The statement holding the purchase asks only 20,000 more: that first, the rest to other debt.
    const excessBill = (await paylater.getLine(excess)).bill!;
    await paylater.repay({ id: newId(), userId: excess, amount: 30_000n });
    await buy(excess, 40_000n);
    const walletBefore = await walletBalance(excess);
    await refund(excess, partlyRepaid, 50_000n);
    expect(await paylater.getStatement(excess, excessBill.id)).toMatchObject({ unpaid: 0n, status: 'paid' });
    expect(await paylater.getLine(excess)).toMatchObject({ unbilled: 10_000n, used: 10_000n });
    expect(await walletBalance(excess)).toBe(walletBefore);
    const report = await ledger.verify();
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
  });

  it('a full refund of a purchase on a statement turned into instalments ends the plan and its future fees', async () => {
    const first = await nextFirstOfMonth();
    const user = await customer('refund-converted', { score: 700 });
    await paylater.openLine({ userId: user, productId: huabei });
    await paylater.setAutoRepay(user, false);
    await at(addDays(first, -3));
    const converted = await buy(user, 90_000n);
    await at(addDays(first, 1));
    const bill = (await paylater.getLine(user)).bill!;
    const plan = await paylater.convertStatement({ userId: user, statementId: bill.id, terms: 3 });
    expect(plan.fee).toBe(2_070n);
    await buy(user, 100_000n);
    await refund(user, converted, 90_000n);
    // The refund ends the plan that holds the purchase, not the newer unbilled spending.
    expect((await paylater.getLine(user)).unbilled).toBe(100_000n);
    const [after] = await paylater.listPlans(user);
    expect(after!.periods.map((p) => p.settledPrincipal)).toEqual([30_000n, 30_000n, 30_000n]);
    let second = addDays(first, 28);
    while (!second.endsWith('-01')) second = addDays(second, 1);
    await at(addDays(second, 1));
    // Nothing of the refunded purchase is billed: no instalment principal, no fee.
    expect((await paylater.getLine(user)).bill).toMatchObject({ principal: 100_000n, fees: 0n });
    expect(await receivable(user)).toBe((await paylater.getLine(user)).used);
    expect((await paylater.getLine(user)).used).toBe(100_000n);
  });

  it('a partial refund of an instalment purchase waives the future fees pro rata', async () => {
    const first = await nextFirstOfMonth();
    const user = await customer('refund-instalments-partly', { score: 700 });
    await paylater.openLine({ userId: user, productId: huabei });
    await paylater.setAutoRepay(user, false);
    await at(addDays(first, -3));
    const purchase = await buy(user, 111_111n, 'pay_later_instalments', { terms: '3' });
    // Half back: month 3 (37,037) wholly, month 2 for 18,518 of its 37,037.
    await refund(user, purchase, 55_555n);
    await at(addDays(first, 1));
    expect((await paylater.getLine(user)).bill).toMatchObject({ principal: 37_037n, fees: 852n });
    let second = addDays(first, 28);
    while (!second.endsWith('-01')) second = addDays(second, 1);
    await at(addDays(second, 1));
    // 852 × 18,519 / 37,037 = 426.01 → 426, not the whole month's 852.
    expect((await paylater.getLine(user)).bill).toMatchObject({ principal: 18_519n, fees: 426n });
  });

  it('the total owed shown pays the line off, future instalments too (their unbilled fees waived)', async () => {
    const first = await nextFirstOfMonth();
    const user = await customer('pay-total-owed', { score: 700, funds: 1_000_000n });
    await paylater.openLine({ userId: user, productId: huabei });
    await paylater.setAutoRepay(user, false);
    await at(addDays(first, -3));
    await buy(user, 111_111n, 'pay_later_instalments', { terms: '3' });
    await buy(user, 100_000n);
    await at(addDays(first, 1));
    const bill = (await paylater.getLine(user)).bill!;
    await paylater.convertStatement({ userId: user, statementId: bill.id, terms: 6 });
    await buy(user, 20_000n);
    const line = await paylater.getLine(user);
    // The statement's 1,000.00 is in 6 instalments; it still asks month 1 of the checkout plan and its
    // fee. The rest is future principal of both plans and the unbilled 200.00.
    expect(line.totalOwed).toBe(37_037n + 852n + 74_074n + 100_000n + 20_000n);
    expect(await code(paylater.repay({ id: newId(), userId: user, amount: line.totalOwed + 1n }))).toBe(
      'PAYLATER_REPAYMENT_EXCEEDS_BALANCE',
    );
    const payoff = await paylater.repay({ id: newId(), userId: user, amount: line.totalOwed });
    expect(payoff).toMatchObject({ amount: line.totalOwed, charges: 852n, toWallet: 0n });
    expect(await paylater.getLine(user)).toMatchObject({ used: 0n, totalOwed: 0n, unbilled: 0n });
    expect(await receivable(user)).toBe(0n);
    expect(await walletBalance(user)).toBe(1_000_000n - line.totalOwed);
    let second = addDays(first, 28);
    while (!second.endsWith('-01')) second = addDays(second, 1);
    await at(addDays(second, 1));
    expect((await paylater.getLine(user)).bill).toMatchObject({ principal: 0n, fees: 0n, interest: 0n });
    const report = await ledger.verify();
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
  });

  it('a refund of a purchase on a statement overdue past suspension clears its principal; charges stay, penalty stops', async () => {
    const first = await nextFirstOfMonth();
    const user = await customer('refund-overdue', { score: 700 });
    await paylater.openLine({ userId: user, productId: huabei });
    await paylater.setAutoRepay(user, false);
    await at(addDays(first, -3));
    const purchase = await buy(user, 100_000n);
    await at(addDays(first, 1));
    const bill = (await paylater.getLine(user)).bill!;
    await at(addDays(bill.dueDate, 31));
    expect((await paylater.getLine(user)).status).toBe('suspended');
    const overdue = await paylater.getStatement(user, bill.id);
    expect(overdue.penalty).toBeGreaterThan(0n);
    const walletBefore = await walletBalance(user);
    await refund(user, purchase, 100_000n);
    const after = await paylater.getStatement(user, bill.id);
    expect(after).toMatchObject({ unpaid: overdue.interest + overdue.penalty, paid: 100_000n });
    expect(after.minPaidOn).not.toBeNull();
    expect(await walletBalance(user)).toBe(walletBefore);
    expect(await paylater.getLine(user)).toMatchObject({ used: 0n, totalOwed: after.unpaid });
    // The minimum is met by the refund: no more penalty, no principal to revolve; reinstated at the close.
    await at(addDays(bill.dueDate, 33));
    expect(await paylater.getStatement(user, bill.id)).toMatchObject({
      interest: overdue.interest,
      penalty: overdue.penalty,
    });
    expect((await paylater.getLine(user)).status).toBe('active');
    expect(await receivable(user)).toBe(0n);
    const report = await ledger.verify();
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
  });

  it('the same repayment sent twice at once moves money once and answers both with it', async () => {
    const user = await customer('repay-same-id-at-once', { score: 700, funds: 1_000_000n });
    await paylater.openLine({ userId: user, productId: huabei });
    await buy(user, 100_000n);
    const id = newId();
    const answers = await Promise.all(
      [1, 2, 3].map(() => paylater.repay({ id, userId: user, amount: 30_000n })),
    );
    expect(answers.map((a) => [a.id, a.status, a.principal])).toEqual(
      [1, 2, 3].map(() => [id, 'succeeded', 30_000n]),
    );
    expect((await paylater.getLine(user)).used).toBe(70_000n);
    expect(await receivable(user)).toBe(70_000n);
    expect(await walletBalance(user)).toBe(1_000_000n - 30_000n);
    // The same id with other details, at once, is still refused as such.
    const other = newId();
    const mixed = await Promise.allSettled([
      paylater.repay({ id: other, userId: user, amount: 10_000n }),
      paylater.repay({ id: other, userId: user, amount: 20_000n }),
    ]);
    expect(
      mixed.map((r) => (r.status === 'fulfilled' ? 'ok' : isMilletError(r.reason) && r.reason.code)),
    ).toEqual(expect.arrayContaining(['ok', 'IDEMPOTENCY_KEY_REUSED']));
  });

  it('paying the minimum of a suspended line reinstates it at once, not at the next close', async () => {
    const first = await nextFirstOfMonth();
    const user = await customer('reinstate-on-repayment', { score: 700, funds: 1_000_000n });
    await paylater.openLine({ userId: user, productId: huabei });
    await paylater.setAutoRepay(user, false);
    await at(addDays(first, -3));
    await buy(user, 100_000n);
    await at(addDays(first, 1));
    const bill = (await paylater.getLine(user)).bill!;
    await at(addDays(bill.dueDate, 31));
    expect((await paylater.getLine(user)).status).toBe('suspended');
    const overdue = await paylater.getStatement(user, bill.id);
    // Short of the minimum (penalty and interest first): still suspended.
    await paylater.repay({ id: newId(), userId: user, amount: overdue.penalty + overdue.interest });
    expect((await paylater.getLine(user)).status).toBe('suspended');
    expect(await code(buy(user, 100n))).toBe('PAYLATER_LINE_SUSPENDED');
    await paylater.repay({ id: newId(), userId: user, amount: overdue.minPayment });
    expect((await paylater.getStatement(user, bill.id)).minPaidOn).not.toBeNull();
    expect((await paylater.getLine(user)).status).toBe('active');
    expect(await code(buy(user, 100n))).toBe('ok');
    // The close agrees: the line stays active.
    await at(addDays(bill.dueDate, 32));
    expect((await paylater.getLine(user)).status).toBe('active');
  });

  it('line history: a full payer’s repayments line up with the bills they pay, as in the Taiwan data', async () => {
    // Scored between the newest statement and its due date, with a different bill each month: a
    // repayment counted on the statement it pays (not in the month it was made) shows a full payer
    // repaying nothing of the last bill and the wrong share of the others.
    const first = await nextFirstOfMonth();
    const payer = await customer('history-full-payer', { score: 700, funds: 5_000_000n });
    await paylater.openLine({ userId: payer, productId: huabei });
    await at(addDays(first, -3));
    await buy(payer, 30_000n);
    let date = first;
    for (const amount of [120_000n, 50_000n]) {
      await at(addDays(date, 1));
      await buy(payer, amount);
      date = addDays(date, 28);
      while (!date.endsWith('-01')) date = addDays(date, 1);
    }
    await at(addDays(date, 2));
    const history = (await paylater.lineHistories([payer], clock.now())).get(payer)!;
    expect(history.statements.map((s) => [s.monthsPastDue, s.statementBalance, s.amountRepaid])).toEqual([
      [0, 50_000n, 120_000n], // not due yet; the month's repayment paid the bill before
      [-1, 120_000n, 30_000n],
      [-1, 30_000n, 0n], // the line's first statement: nothing was owed before it
    ]);
    const features = behaviourFeatures(history);
    const derive = (name: string) => {
      const spec = modelSpec('behaviour').features.find((f) => f.name === name)!;
      return spec.derive!(spec.from!.map((column) => features[column]!));
    };
    expect([derive('REPAID_SHARE_1'), derive('REPAID_SHARE_2'), derive('REPAID_SHARE_AVG')]).toEqual([
      1, 1, 1,
    ]);
  });

  it('a refund of merchant-paid instalments returns the fee for the refunded part to the merchant, once, never more than was charged', async () => {
    const user = await customer('merchant-fee-refunds', { score: 700 });
    await paylater.openLine({ userId: user, productId: huabei });
    await at(addDays(await nextFirstOfMonth(), 3));
    const owedByMerchants = async () =>
      -(await ledger.getAccount(productAccountId(huabei, 'merchantFee'))).balances.posted;
    const feeIncome = async () => (await ledger.getAccount(productAccountId(huabei, 'fee'))).balances.posted;
    const returned = async () =>
      (await code(ledger.getAccount(productAccountId(huabei, 'merchantFeeRefund')))) === 'ok'
        ? -(await ledger.getAccount(productAccountId(huabei, 'merchantFeeRefund'))).balances.posted
        : 0n;
    const [owed0, income0, returned0] = [await owedByMerchants(), await feeIncome(), await returned()];
    const whole = await buy(user, 120_000n, 'pay_later_instalments', { terms: '6', fee_payer: 'merchant' });
    const split = await buy(user, 100_001n, 'pay_later_instalments', { terms: '3', fee_payer: 'merchant' });
    const wholeFee = instalmentFee(120_000n, 450); // 54.00
    const splitFee = instalmentFee(100_001n, 230); // 23.00
    const refundOf = (paymentId: string, amount: bigint, refundId = newId()) =>
      methods.get('pay_later')!.refund!({
        refundId,
        paymentId,
        merchantId: newId(),
        userId: user,
        amount,
        merchantAccountId: merchantAccount,
      });
    // A full refund the same day, retried; two partial refunds at once.
    const full = newId();
    await refundOf(whole, 120_000n, full);
    await refundOf(whole, 120_000n, full);
    const first = newId();
    await Promise.all([refundOf(split, 33_333n, first), refundOf(split, 33_334n)]);
    await refundOf(split, 33_333n, first);
    await closeThrough(businessDateOf(clock));
    // Half-even of 23.00 × 66,667 / 100,001 = 15.33.
    const splitReturned = (splitFee * 66_667n * 2n + 100_001n) / (2n * 100_001n);
    expect(splitReturned).toBe(1_533n);
    expect(await returned()).toBe(returned0 + wholeFee + splitReturned);
    expect(await owedByMerchants()).toBe(owed0 + splitFee - splitReturned);
    // The income booked stays as charged (credit_only); the contra account carries what went back.
    expect(await feeIncome()).toBe(income0 + wholeFee + splitFee);
    // The last part: the whole fee is back, not a cent more.
    await at(addDays(businessDateOf(clock), 1));
    await refundOf(split, 33_334n);
    await closeThrough(businessDateOf(clock));
    expect(await returned()).toBe(returned0 + wholeFee + splitFee);
    expect(await owedByMerchants()).toBe(owed0);
    const report = await ledger.verify();
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
  });

  it('a partly repaid statement turns its unpaid purchases into instalments; the fee is on them only and the minimum and due amount follow', async () => {
    const first = await nextFirstOfMonth();
    const most = await customer('convert-partly-repaid', { score: 700, funds: 1_000_000n });
    const little = await customer('convert-partly-repaid-little', { score: 700, funds: 1_000_000n });
    for (const u of [most, little]) {
      await paylater.openLine({ userId: u, productId: huabei });
      await paylater.setAutoRepay(u, false);
    }
    await at(addDays(first, -3));
    for (const u of [most, little]) {
      await buy(u, 111_111n, 'pay_later_instalments', { terms: '3' });
      await buy(u, 100_000n);
    }
    await at(addDays(first, 1));
    const bill = (await paylater.getLine(most)).bill!;
    expect(bill).toMatchObject({ principal: 137_037n, instalmentPrincipal: 37_037n, fees: 852n });
    // 400.00 repaid: the fee first (852), then principal — the instalment month (37,037) before the
    // purchases (2,111), so 978.89 of the purchases is left to convert.
    await paylater.repay({ id: newId(), userId: most, amount: 40_000n });
    expect(await paylater.getStatement(most, bill.id)).toMatchObject({ convertiblePrincipal: 97_889n });
    const offers = await paylater.statementOffers(most, bill.id);
    expect(offers.map((o) => [o.terms, o.principal, o.fee])).toEqual(
      [3, 6, 12].map((terms, i) => [terms, 97_889n, instalmentFee(97_889n, [230, 450, 750][i]!)]),
    );
    const plan = await paylater.convertStatement({ userId: most, statementId: bill.id, terms: 3 });
    expect(plan).toMatchObject({ principal: 97_889n, fee: instalmentFee(97_889n, 230) });
    expect(plan.fee).toBe(2_251n);
    // Left on the statement: what was repaid; nothing more is due, and the minimum is the usual share.
    expect(await paylater.getStatement(most, bill.id)).toMatchObject({
      convertedPrincipal: 97_889n,
      totalDue: 40_000n,
      paid: 40_000n,
      unpaid: 0n,
      minPayment: 3_915n + 852n,
      convertiblePrincipal: 0n,
      status: 'paid',
    });
    // Idempotent: the same conversion again is answered with its plan; nothing is left to convert.
    expect(await paylater.convertStatement({ userId: most, statementId: bill.id, terms: 3 })).toEqual(plan);
    expect(await paylater.listPlans(most)).toHaveLength(2);
    expect(await paylater.getLine(most)).toMatchObject({ used: 211_111n - 39_148n });
    expect(await receivable(most)).toBe(211_111n - 39_148n);
    // Less than the instalment month repaid: all the purchases convert; the month stays due, its
    // minimum already met by the repayment.
    const littleBill = (await paylater.getLine(little)).bill!;
    await paylater.repay({ id: newId(), userId: little, amount: 10_000n });
    const littlePlan = await paylater.convertStatement({
      userId: little,
      statementId: littleBill.id,
      terms: 6,
    });
    expect(littlePlan).toMatchObject({ principal: 100_000n, fee: 4_500n });
    const littleAfter = await paylater.getStatement(little, littleBill.id);
    expect(littleAfter).toMatchObject({
      totalDue: 37_037n + 852n,
      unpaid: 37_037n + 852n - 10_000n,
      minPayment: 3_704n + 852n,
      status: 'open',
    });
    expect(littleAfter.minPaidOn).not.toBeNull();
    // The next statement bills month 1 of each plan, with the fee on the converted amount only.
    let second = addDays(first, 28);
    while (!second.endsWith('-01')) second = addDays(second, 1);
    await paylater.repay({ id: newId(), userId: little, amount: littleAfter.unpaid });
    await at(addDays(second, 1));
    const [month1] = (await paylater.listPlans(most)).find((p) => p.id === plan.id)!.periods;
    expect(month1).toMatchObject({ principal: 32_631n, fee: 751n });
    expect((await paylater.getLine(most)).bill).toMatchObject({
      principal: 37_037n + 32_631n,
      fees: 852n + 751n,
    });
    const report = await ledger.verify();
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
  });

  it('a statement partly paid by refunding one of its purchases converts only its other purchases, never its instalment month', async () => {
    const first = await nextFirstOfMonth();
    const user = await customer('convert-after-refund', { score: 700, funds: 1_000_000n });
    const late = await customer('convert-partly-repaid-late', { score: 700, funds: 1_000_000n });
    for (const u of [user, late]) {
      await paylater.openLine({ userId: u, productId: huabei });
      await paylater.setAutoRepay(u, false);
    }
    await at(addDays(first, -3));
    await buy(user, 111_111n, 'pay_later_instalments', { terms: '3' });
    const returned = await buy(user, 100_000n);
    await buy(user, 50_000n);
    await buy(late, 100_000n);
    await at(addDays(first, 1));
    const bill = (await paylater.getLine(user)).bill!;
    expect(bill).toMatchObject({ principal: 187_037n, instalmentPrincipal: 37_037n });
    await refund(user, returned, 100_000n);
    expect(await paylater.getStatement(user, bill.id)).toMatchObject({ paid: 100_000n });
    const plan = await paylater.convertStatement({ userId: user, statementId: bill.id, terms: 3 });
    expect(plan).toMatchObject({ principal: 50_000n, fee: 1_150n });
    // The instalment month and its fee are still due on the statement.
    expect(await paylater.getStatement(user, bill.id)).toMatchObject({ unpaid: 37_037n + 852n });
    expect(await receivable(user)).toBe((await paylater.getLine(user)).used);
    // After the due date a partly repaid statement stays unconvertible, as an unpaid one is.
    const lateBill = (await paylater.getLine(late)).bill!;
    await paylater.repay({ id: newId(), userId: late, amount: 20_000n });
    await at(addDays(lateBill.dueDate, 1));
    expect(await code(paylater.convertStatement({ userId: late, statementId: lateBill.id, terms: 3 }))).toBe(
      'PAYLATER_STATEMENT_NOT_CONVERTIBLE',
    );
  });

  it('a product due on its statement date (due_days 0) is refused: the bill would be overdue before it is issued', async () => {
    const refused = await paylater
      .createProduct({ ...(await paylater.getProduct(fenfu)), id: undefined, dueDays: 0 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isMilletError(refused) && [refused.code, refused.details]).toEqual([
      'VALIDATION_FAILED',
      { field: 'due_days' },
    ]);
    // A daily-mode bill is first seen the morning after its statement date: it is due that day, not overdue.
    const user = await customer('daily-due-next-day', { score: 700, funds: 2_000_000n });
    await paylater.openLine({ userId: user, productId: fenfu });
    await paylater.setAutoRepay(user, false);
    const statementDate = await nextFirstOfMonth();
    await paylater.setRepaymentDay(user, 1);
    await at(addDays(statementDate, -1));
    await buy(user, 100_000n);
    await at(addDays(statementDate, 1));
    const bill = (await paylater.getLine(user)).bill!;
    expect(bill).toMatchObject({ statementDate, dueDate: addDays(statementDate, 1), status: 'open' });
    await paylater.repay({ id: newId(), userId: user, amount: bill.totalDue });
    await at(addDays(statementDate, 3));
    expect(await paylater.getStatement(user, bill.id)).toMatchObject({ status: 'paid', penalty: 0n });
    const history = (await paylater.lineHistories([user], clock.now())).get(user)!;
    expect(history.statements[0]!.monthsPastDue).toBe(-1);
  });
});

describe('pay-later migration 0002', () => {
  it('links the purchases billed in the last millisecond of a statement date to that statement', async () => {
    const t = await openTestDatabase(paylaterMigrations.filter((m) => m.version === 1));
    try {
      const product = newId();
      const line = newId();
      const statement = newId();
      await t.db.query(
        `INSERT INTO paylater_products (id, code, version, name, mode, statement_day, due_days, daily_rate_ppm,
           revolving_rate_ppm, penalty_multiplier_bp, min_payment_bp, suspend_after_days, instalment_fees, created_at)
         VALUES ($1, 'hb', 1, 'hb', 'statement', 1, 9, 0, 500, 15000, 1000, 30, '{}', now())`,
        [product],
      );
      await t.db.query(
        `INSERT INTO paylater_lines (id, user_id, product_id, limit_amount, score, status, statement_day,
           ledger_account_id, principal_outstanding, unbilled_principal, opened_at, opened_date)
         VALUES ($1, $2, $3, 1000000, 700, 'active', 1, $4, 130000, 30000, now(), '2025-06-01')`,
        [line, newId(), product, newId()],
      );
      await t.db.query(
        `INSERT INTO paylater_statements (id, line_id, product_id, statement_date, due_date, principal, fees,
           interest, carried, min_payment) VALUES ($1, $2, $3, '2025-07-01', '2025-07-10', 100000, 0, 0, 0, 10000)`,
        [statement, line, product],
      );
      const purchase = (amount: bigint, date: string, createdAt: string) => {
        const id = newId();
        return t.db
          .query(
            `INSERT INTO paylater_purchases (payment_id, line_id, amount, business_date, created_at)
             VALUES ($1, $2, $3, $4, $5)`,
            [id, line, amount, date, new Date(createdAt)],
          )
          .then(() => id);
      };
      const lastMs = await purchase(100_000n, '2025-07-01', '2025-07-01T23:59:59.999+08:00');
      const nextDay = await purchase(30_000n, '2025-07-02', '2025-07-02T00:00:00+08:00');
      await applyMigrations(t.db, paylaterMigrations);
      const links = await t.db.query<{ payment_id: string; statement_id: string | null }>(
        'SELECT payment_id, statement_id FROM paylater_purchases',
      );
      const linkOf = (id: string) => links.rows.find((r) => r.payment_id === id)!.statement_id;
      expect(linkOf(lastMs)).toBe(statement);
      expect(linkOf(nextDay)).toBeNull();
    } finally {
      await t.close();
    }
  });
});

describe('pay-later migration 0004', () => {
  it('gives earlier statements the instalment principal they billed, so converting them leaves it out', async () => {
    const t = await openTestDatabase(paylaterMigrations.filter((m) => m.version <= 3));
    try {
      const product = newId();
      const line = newId();
      const [withMonths, withoutMonths] = [newId(), newId()];
      await t.db.query(
        `INSERT INTO paylater_products (id, code, version, name, mode, statement_day, due_days, daily_rate_ppm,
           revolving_rate_ppm, penalty_multiplier_bp, min_payment_bp, suspend_after_days, instalment_fees, created_at)
         VALUES ($1, 'hb', 1, 'hb', 'statement', 1, 9, 0, 500, 15000, 1000, 30, '{}', now())`,
        [product],
      );
      await t.db.query(
        `INSERT INTO paylater_lines (id, user_id, product_id, limit_amount, score, status, statement_day,
           ledger_account_id, principal_outstanding, opened_at, opened_date)
         VALUES ($1, $2, $3, 1000000, 700, 'active', 1, $4, 500000, now(), '2025-06-01')`,
        [line, newId(), product, newId()],
      );
      for (const [id, date, principal] of [
        [withMonths, '2025-07-01', 166_037n],
        [withoutMonths, '2025-08-01', 50_000n],
      ] as const)
        await t.db.query(
          `INSERT INTO paylater_statements (id, line_id, product_id, statement_date, due_date, principal, fees,
             interest, carried, min_payment) VALUES ($1, $2, $3, $4, $4::date + 9, $5, 0, 0, 0, 0)`,
          [id, line, product, date, principal],
        );
      // Two plans' months billed on the July statement, one of them partly settled before it was billed.
      for (const [principal, settled, statement] of [
        [37_037n, 0n, withMonths],
        [30_000n, 1_000n, withMonths],
        [30_000n, 0n, null],
      ] as const) {
        const plan = newId();
        await t.db.query(
          `INSERT INTO paylater_plans (id, line_id, source, source_id, principal, fee_total, fee_rate_bp, terms,
             fee_payer, apr_percent, created_at) VALUES ($1, $2, 'checkout', $3, $4, 0, 0, 1, 'user', '0', now())`,
          [plan, line, newId(), principal],
        );
        await t.db.query(
          `INSERT INTO paylater_plan_periods (plan_id, period, line_id, principal, fee, settled_principal, statement_id)
           VALUES ($1, 1, $2, $3, 0, $4, $5)`,
          [plan, line, principal, settled, statement],
        );
      }
      await applyMigrations(t.db, paylaterMigrations);
      const rows = await t.db.query<{ id: string; instalment_principal: bigint }>(
        'SELECT id, instalment_principal FROM paylater_statements',
      );
      const of = (id: string) => rows.rows.find((r) => r.id === id)!.instalment_principal;
      expect(of(withMonths)).toBe(37_037n + 29_000n);
      expect(of(withoutMonths)).toBe(0n);
    } finally {
      await t.close();
    }
  });
});

describe('pay-later migrations 0005 and 0006', () => {
  it('count the principal refunds paid on earlier statements as their purchases, and bill due_days 0 products the next day', async () => {
    const t = await openTestDatabase(paylaterMigrations.filter((m) => m.version <= 4));
    try {
      const [hb, daily] = [newId(), newId()];
      for (const [id, code, dueDays] of [
        [hb, 'hb', 9],
        [daily, 'fenfu', 0],
      ] as const)
        await t.db.query(
          `INSERT INTO paylater_products (id, code, version, name, mode, statement_day, due_days, daily_rate_ppm,
             revolving_rate_ppm, penalty_multiplier_bp, min_payment_bp, suspend_after_days, instalment_fees, created_at)
           VALUES ($1, $2, 1, $2, 'statement', 1, $3, 0, 500, 15000, 1000, 30, '{}', now())`,
          [id, code, dueDays],
        );
      const line = newId();
      await t.db.query(
        `INSERT INTO paylater_lines (id, user_id, product_id, limit_amount, score, status, statement_day,
           ledger_account_id, principal_outstanding, opened_at, opened_date)
         VALUES ($1, $2, $3, 1000000, 700, 'active', 1, $4, 500000, now(), '2025-06-01')`,
        [line, newId(), hb, newId()],
      );
      const [refunded, repaid] = [newId(), newId()];
      // 1,370.37 billed (370.37 an instalment month); 600.00 of it paid by refunds, 100.00 by a repayment.
      for (const [id, date, paid] of [
        [refunded, '2025-07-01', 60_000n],
        [repaid, '2025-08-01', 10_000n],
      ] as const)
        await t.db.query(
          `INSERT INTO paylater_statements (id, line_id, product_id, statement_date, due_date, principal,
             instalment_principal, fees, interest, carried, min_payment, paid_principal)
           VALUES ($1, $2, $3, $4, $4::date + 9, 137037, 37037, 0, 0, 0, 13704, $5)`,
          [id, line, hb, date, paid],
        );
      const movement = async (kind: string, items: object[]) =>
        t.db.query(
          `INSERT INTO paylater_movements (id, line_id, kind, amount, allocation, status, business_date, created_at)
           VALUES ($1, $2, $3, 1, $4::jsonb, 'succeeded', '2025-07-02', now())`,
          [newId(), line, kind, JSON.stringify({ items, principal: '0', charges: '0' })],
        );
      await movement('refund', [
        { t: 'statement', id: refunded, c: 'principal', a: '50000' },
        { t: 'line', c: 'unbilled', a: '7000' },
      ]);
      await movement('refund', [{ t: 'statement', id: refunded, c: 'principal', a: '10000' }]);
      await movement('repayment', [{ t: 'statement', id: repaid, c: 'principal', a: '10000' }]);
      await applyMigrations(t.db, paylaterMigrations);
      const rows = await t.db.query<{ id: string; refunded_purchases: bigint }>(
        'SELECT id, refunded_purchases FROM paylater_statements',
      );
      const of = (id: string) => rows.rows.find((r) => r.id === id)!.refunded_purchases;
      expect([of(refunded), of(repaid)]).toEqual([60_000n, 0n]);
      const products = await t.db.query<{ id: string; due_days: number }>(
        'SELECT id, due_days FROM paylater_products',
      );
      expect(Object.fromEntries(products.rows.map((r) => [r.id, r.due_days]))).toEqual({
        [hb]: 9,
        [daily]: 1,
      });
      await expect(
        t.db.query('UPDATE paylater_products SET due_days = 0 WHERE id = $1', [hb]),
      ).rejects.toThrow();
    } finally {
      await t.close();
    }
  });
});
