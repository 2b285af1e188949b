import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, MilletError, derivedId, isMilletError } from '../core/index.ts';
import { addDays, createEndOfDayClose, jobsMigrations, type EndOfDayClose } from '../jobs/index.ts';
import { createLedger, ledgerMigrations, type Ledger } from '../ledger/index.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';
import { createLending, lendingMigrations, type Lending } from './lending.ts';
import type { LendingWallets } from './ports.ts';

/**
 * Cash loans on the module's public API with a real ledger and close: vector 1's loan drawn,
 * auto-debited on its due date and paid off on 2024-02-15 for vector 2's 83.81; another left
 * unpaid through 61 days past due (61–90), penalties, charge-off and a recovery; the ledger's
 * receivables equal the loan sub-ledger's, and the ledger verifies.
 */
describe('lending (close-driven)', () => {
  let t: TestDatabase;
  let ledger: Ledger;
  let lending: Lending;
  let close: EndOfDayClose;
  let world: string;
  const clock = new ManualClock('2024-01-01T04:00:00Z');
  const wallets = new Map<string, string>();
  /** The fake bank's card requests by loan id, and how the test delivers a settlement. */
  const cardRequests = new Map<string, 'pending' | 'succeeded' | 'failed'>();
  let settleCard: (loanId: string, outcome: 'succeeded' | 'failed') => Promise<void> = () =>
    Promise.reject(new Error('lending registered no card settlement handler'));
  const people: Record<
    string,
    { kycStatus: 'none' | 'verified'; accountClass: string | null; isAdult: boolean; score?: number }
  > = {
    alice: { kycStatus: 'verified', accountClass: 'II', isAdult: true, score: 800 },
    bob: { kycStatus: 'verified', accountClass: 'III', isAdult: true, score: 700 },
    minor: { kycStatus: 'verified', accountClass: 'II', isAdult: false, score: 800 },
    classOne: { kycStatus: 'verified', accountClass: 'I', isAdult: true, score: 800 },
    unscored: { kycStatus: 'verified', accountClass: 'II', isAdult: true },
    lowScore: { kycStatus: 'verified', accountClass: 'II', isAdult: true, score: 500 },
    busy: { kycStatus: 'verified', accountClass: 'II', isAdult: true, score: 900 },
  };
  const id = (name: string) => derivedId('lending-test', name);
  const byId = new Map(Object.keys(people).map((name) => [id(name), name]));
  const at = (date: string) => clock.set(`${date}T04:00:00Z`); // noon in Shanghai
  const balance = async (accountId: string) => (await ledger.getAccount(accountId)).balances.posted;
  const closeThrough = async (date: string) => {
    for (;;) {
      const last = await close.lastClosedDate();
      if (last !== null && last >= date) return;
      const next = last === null ? '2024-01-01' : addDays(last, 1);
      clock.set(`${next}T15:00:00Z`); // just after midnight of the next day, Shanghai
      const run = await close.close(next, { fastForward: true });
      if (run.status !== 'completed') throw new Error(`close ${next}: ${run.error}`);
    }
  };
  const codeOf = async (promise: Promise<unknown>) =>
    promise.then(
      () => 'no error',
      (e: unknown) => (isMilletError(e) ? e.code : String(e)),
    );

  beforeAll(async () => {
    t = await openTestDatabase([...ledgerMigrations, ...jobsMigrations, ...lendingMigrations]);
    ledger = createLedger({ db: t.db, clock, registry: new Registry() });
    world = (await ledger.openAccount({ currency: 'CNY', code: 'world', bound: { kind: 'unbounded' } })).id;
    for (const name of Object.keys(people)) {
      const account = await ledger.openAccount({
        currency: 'CNY',
        code: 'user_wallet',
        bound: { kind: 'no_overdraft' },
      });
      wallets.set(id(name), account.id);
    }
    const walletPort: LendingWallets = {
      async getWallet(userId) {
        const account = await ledger.getAccount(wallets.get(userId)!);
        return { ledgerAccountId: account.id, currency: 'CNY', available: account.balances.available };
      },
      creditCard(request) {
        if (request.cardToken === 'sandbox_decline')
          return Promise.reject(Object.assign(new Error('declined'), { name: 'BankDeclinedError' }));
        // A connector's own failure before anything reached the bank.
        if (request.cardToken === 'sandbox_reset') return Promise.reject(new TypeError('fetch failed'));
        cardRequests.set(request.id, 'pending');
        if (request.cardToken === 'sandbox_timeout')
          return Promise.reject(Object.assign(new Error('timeout'), { name: 'BankTimeoutError' }));
        return Promise.resolve({ bankReference: `bank-${request.id}` });
      },
      onCardSettlement: (namespace, handler) => {
        expect(namespace).toBe('loan');
        settleCard = async (loanId, outcome) => {
          cardRequests.set(loanId, outcome);
          await handler({ id: loanId, outcome });
        };
      },
      cardStatus: (_namespace, loanId) => Promise.resolve(cardRequests.get(loanId) ?? 'unknown'),
      bankClearingAccountId: () => world,
    };
    lending = createLending({
      db: t.db,
      ledger,
      clock,
      users: { getUser: (userId) => Promise.resolve(people[byId.get(userId)!]!) },
      scores: {
        getLatestScore(userId) {
          const score = people[byId.get(userId)!]!.score;
          if (score === undefined) return Promise.reject(new MilletError('CREDIT_SCORE_NOT_FOUND', 'none'));
          return Promise.resolve({ score });
        },
      },
      wallets: walletPort,
      closeChunkSize: 2, // several chunks even with a handful of loans
    });
    close = createEndOfDayClose({ db: t.db, clock, steps: lending.closeSteps() });
    await lending.createProduct('cash', {
      name: 'Cash loan',
      scheduleType: 'equal_instalments',
      dayCount: '30/360',
      annualRate: '7',
      terms: [6, 12],
      minAmount: 10_000n,
      maxAmount: 5_000_000n,
      penaltyRate: '10.5',
      chargeOffDays: 90,
    });
  });
  afterAll(async () => {
    await ledger?.close();
    await t?.close();
  });

  it('refuses products above 24% APR and versions products', async () => {
    const base = {
      name: 'Dear',
      scheduleType: 'equal_instalments' as const,
      dayCount: 'actual/365' as const,
      terms: [3, 12],
      minAmount: 10_000n,
      maxAmount: 100_000n,
    };
    expect(await codeOf(lending.createProduct('dear', { ...base, annualRate: '24.5' }))).toBe(
      'APR_ABOVE_CAP',
    );
    expect(
      await codeOf(lending.createProduct('big', { ...base, annualRate: '10', maxAmount: 20_000_001n })),
    ).toBe('LOAN_PRODUCT_INVALID');
    const v1 = await lending.createProduct('dear', { ...base, annualRate: '18' });
    const v2 = await lending.createProduct('dear', { ...base, annualRate: '19.2' });
    expect([v1.version, v2.version]).toEqual([1, 2]);
    expect(Number(v2.maxApr)).toBeGreaterThan(Number(v1.maxApr));
    expect((await lending.listProducts('dear')).map((p) => p.annualRate)).toEqual(['18', '19.2']);
    expect((await lending.latestProduct('dear')).id).toBe(v2.id);
  });

  it('declines by the rules', async () => {
    const ask = (name: string) => lending.apply(id(name), { productCode: 'cash', amount: 10_000n, terms: 6 });
    expect((await ask('minor')).declineReason).toBe('under_18');
    expect((await ask('classOne')).declineReason).toBe('account_class');
    expect((await ask('unscored')).declineReason).toBe('no_score');
    expect((await ask('lowScore')).declineReason).toBe('score');
    for (let i = 0; i < 5; i++) expect((await ask('busy')).status).toBe('approved');
    expect((await ask('busy')).declineReason).toBe('co_debt');
    expect(await codeOf(lending.apply(id('alice'), { productCode: 'cash', amount: 9_999n, terms: 6 }))).toBe(
      'LOAN_AMOUNT_OUT_OF_RANGE',
    );
    // Exposure: the limit at 700 is well under 50,000.00.
    expect(
      (await lending.apply(id('bob'), { productCode: 'cash', amount: 5_000_000n, terms: 6 })).declineReason,
    ).toBe('exposure');
  });

  let aliceLoan: string;
  let bobLoan: string;

  it('offers with the APR first, draws to the wallet, auto-debits and pays off at vector 2’s amount', async () => {
    at('2024-01-01');
    const application = await lending.apply(id('alice'), { productCode: 'cash', amount: 10_000n, terms: 6 });
    const offer = application.offer!;
    expect(Object.keys(offer)[0]).toBe('apr');
    expect(offer.schedule.map((i) => i.total)).toEqual([1701n, 1701n, 1701n, 1701n, 1701n, 1700n]);
    expect(Math.abs(Number(offer.apr) - 7)).toBeLessThan(0.05);
    const loan = await lending.acceptOffer(id('alice'), offer.id, { to: 'wallet' });
    // Accepting again returns the same loan; nothing is paid twice.
    expect((await lending.acceptOffer(id('alice'), offer.id, { to: 'wallet' })).id).toBe(loan.id);
    aliceLoan = loan.id;
    expect(loan.status).toBe('active');
    expect(await balance(wallets.get(id('alice'))!)).toBe(10_000n);
    await ledger.transfer({
      id: id('alice-top-up'),
      debitAccountId: world,
      creditAccountId: wallets.get(id('alice'))!,
      amount: 10_000n,
    });

    const bobOffer = (await lending.apply(id('bob'), { productCode: 'cash', amount: 100_000n, terms: 12 }))
      .offer!;
    bobLoan = (await lending.acceptOffer(id('bob'), bobOffer.id, { to: 'wallet' })).id;
    // Bob spends it all: nothing for the auto-debit.
    await ledger.transfer({
      id: id('bob-spends'),
      debitAccountId: wallets.get(id('bob'))!,
      creditAccountId: world,
      amount: 100_000n,
    });

    await closeThrough('2024-02-01');
    const afterDebit = await lending.getLoan(aliceLoan);
    expect(afterDebit.principalOutstanding).toBe(8357n);
    expect(afterDebit.daysPastDue).toBe(0);
    expect(await balance(wallets.get(id('alice'))!)).toBe(20_000n - 1701n);
    const schedule = await lending.schedule(aliceLoan);
    expect(schedule[0]).toMatchObject({ principalPaid: 1643n, interestPaid: 58n });
    // Bob's first instalment fell due today unpaid: due, not yet late. No penalty on the due date.
    expect(await lending.getLoan(bobLoan)).toMatchObject({ daysPastDue: 0, penaltyAccrued: 0n });

    await closeThrough('2024-02-14');
    // 13 days late: 13 days of penalty at 10.5% a year on the overdue principal, each rounded down.
    const bobLate = await lending.getLoan(bobLoan);
    const overdue = (await lending.schedule(bobLoan))[0]!.principal;
    expect(bobLate.daysPastDue).toBe(13);
    expect(bobLate.penaltyAccrued).toBe(13n * ((overdue * 105n) / 365_000n));
    at('2024-02-15');
    const quote = await lending.payoffQuote(aliceLoan, id('alice'));
    expect(quote).toMatchObject({ principal: 8357n, interest: 24n, total: 8381n });
    expect(await codeOf(lending.repay({ userId: id('alice'), loanId: aliceLoan, amount: 8382n }))).toBe(
      'LOAN_PREPAYMENT_INVALID',
    );
    const payoff = await lending.repay({ userId: id('alice'), loanId: aliceLoan, amount: 8381n });
    expect(payoff).toMatchObject({ principal: 8357n, interest: 24n, status: 'posted' });
    expect((await lending.getLoan(aliceLoan)).status).toBe('repaid');
    // Nothing of Alice's loan is left in the ledger's receivables (Bob's loan is all of them).
  });

  it('ages an unpaid loan to 61 days past due (61–90), charges penalties, charges off at 90 and recovers', async () => {
    // Bob's first instalment fell due on 2024-02-01; 2024-04-02 is 61 days later.
    await closeThrough('2024-04-02');
    const late = await lending.getLoan(bobLoan);
    expect(late.daysPastDue).toBe(61);
    expect(late.bucket).toBe('61-90');
    expect(late.penaltyAccrued).toBeGreaterThan(0n);
    const book = await lending.bookByBucket('cash');
    expect(book.find((b) => b.bucket === '61-90')).toMatchObject({
      loans: 1,
      principalOutstanding: late.principalOutstanding,
    });
    expect(book.find((b) => b.bucket === 'current')!.loans).toBe(0);

    const accounts = lending.productAccounts('cash');
    expect(-(await balance(accounts.principalReceivable))).toBe(late.principalOutstanding);
    expect(-(await balance(accounts.interestReceivable))).toBe(late.interestAccrued - late.interestPaid);
    expect(-(await balance(accounts.penaltyReceivable))).toBe(late.penaltyAccrued);
    // The provision holds 50% of the 61–90 bucket.
    expect(await balance(accounts.lossProvision)).toBe(late.principalOutstanding / 2n);

    await closeThrough('2024-05-01'); // 90 days past due
    const off = await lending.getLoan(bobLoan);
    expect(off.status).toBe('charged_off');
    expect(off.chargedOffAmount).toBe(
      off.principalOutstanding + off.interestAccrued - off.interestPaid + off.penaltyAccrued,
    );
    expect(await balance(accounts.principalReceivable)).toBe(0n);
    expect(await balance(accounts.interestReceivable)).toBe(0n);
    expect(-(await balance(accounts.chargeOffs))).toBe(off.chargedOffAmount);

    at('2024-05-03');
    await ledger.transfer({
      id: id('bob-top-up'),
      debitAccountId: world,
      creditAccountId: wallets.get(id('bob'))!,
      amount: 30_000n,
    });
    const recovery = await lending.repay({ userId: id('bob'), loanId: bobLoan, amount: 30_000n });
    expect(recovery).toMatchObject({ kind: 'recovery', recovery: 30_000n });
    expect(await balance(accounts.recoveries)).toBe(30_000n);

    const vintages = await lending.vintages('cash');
    const january = vintages.filter((v) => v.originationMonth === '2024-01');
    expect(january.find((v) => v.monthsOnBook === 3)).toMatchObject({
      loans: 2,
      loans30Plus: 1,
      share30Plus: '50.00',
    });

    const report = await ledger.verify();
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('disburses to a bank card through bank clearing; a declined card cancels the loan and reverses the entry', async () => {
    at('2024-05-03');
    const accounts = lending.productAccounts('cash');
    const before = await balance(accounts.principalReceivable);
    const card = (await lending.apply(id('alice'), { productCode: 'cash', amount: 20_000n, terms: 6 }))
      .offer!;
    const toCard = await lending.acceptOffer(id('alice'), card.id, { to: 'card', cardToken: 'card_1' });
    expect(toCard.status).toBe('disbursing');
    await settleCard(toCard.id, 'succeeded');
    expect((await lending.getLoan(toCard.id)).status).toBe('active');
    expect(await balance(accounts.principalReceivable)).toBe(before - 20_000n);
    expect(await balance(world)).toBeGreaterThan(0n);
    const declined = (await lending.apply(id('alice'), { productCode: 'cash', amount: 30_000n, terms: 6 }))
      .offer!;
    expect(
      await codeOf(
        lending.acceptOffer(id('alice'), declined.id, { to: 'card', cardToken: 'sandbox_decline' }),
      ),
    ).toBe('BANK_DECLINED');
    const cancelled = (await lending.listLoans(id('alice'))).items.find((l) => l.principal === 30_000n)!;
    expect(cancelled).toMatchObject({ status: 'cancelled', principalOutstanding: 0n });
    expect(await balance(accounts.principalReceivable)).toBe(before - 20_000n);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('keeps a card disbursement pending until the bank settles: a failure cancels the loan, reverses the entry and gives the limit back', async () => {
    at('2024-05-04');
    const accounts = lending.productAccounts('cash');
    const receivable = await balance(accounts.principalReceivable);
    const clearing = await balance(world);
    const offer = (await lending.apply(id('busy'), { productCode: 'cash', amount: 40_000n, terms: 6 }))
      .offer!;
    const pending = await lending.acceptOffer(id('busy'), offer.id, { to: 'card', cardToken: 'card_2' });
    expect(pending).toMatchObject({ status: 'disbursing', nextPayment: null });
    // Not disbursed yet: nothing is repayable, and the close neither accrues nor auto-debits it.
    expect(await codeOf(lending.repay({ userId: id('busy'), loanId: pending.id, amount: 100n }))).toBe(
      'LOAN_DISBURSING',
    );
    await closeThrough('2024-05-04');
    expect((await lending.getLoan(pending.id)).interestAccrued).toBe(0n);
    await settleCard(pending.id, 'failed');
    const failed = await lending.getLoan(pending.id);
    expect(failed).toMatchObject({ status: 'cancelled', principalOutstanding: 0n, interestAccrued: 0n });
    expect(await balance(accounts.principalReceivable)).toBe(receivable);
    expect(await balance(world)).toBe(clearing);
    // A late or repeated settlement changes nothing.
    await settleCard(pending.id, 'succeeded');
    expect((await lending.getLoan(pending.id)).status).toBe('cancelled');
    expect(await lending.openLoanCounts([id('busy')])).toEqual(new Map());
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('asks the bank about card disbursements unsettled after a minute (a timeout, a lost callback)', async () => {
    at('2024-05-05');
    const accounts = lending.productAccounts('cash');
    const receivable = await balance(accounts.principalReceivable);
    const lost = (await lending.apply(id('busy'), { productCode: 'cash', amount: 10_000n, terms: 6 })).offer!;
    const timedOut = (await lending.apply(id('busy'), { productCode: 'cash', amount: 11_000n, terms: 6 }))
      .offer!;
    const paid = await lending.acceptOffer(id('busy'), lost.id, { to: 'card', cardToken: 'card_3' });
    const unpaid = await lending.acceptOffer(id('busy'), timedOut.id, {
      to: 'card',
      cardToken: 'sandbox_timeout',
    });
    expect([paid.status, unpaid.status]).toEqual(['disbursing', 'disbursing']);
    // The bank settled both, but the callbacks were lost.
    cardRequests.set(paid.id, 'succeeded');
    cardRequests.set(unpaid.id, 'failed');
    expect(await lending.reconcileCardDisbursements()).toBe(0); // not a minute old yet
    clock.set('2024-05-05T04:01:00Z');
    expect(await lending.reconcileCardDisbursements()).toBe(2);
    expect((await lending.getLoan(paid.id)).status).toBe('active');
    expect(await lending.getLoan(unpaid.id)).toMatchObject({ status: 'cancelled', principalOutstanding: 0n });
    expect(await balance(accounts.principalReceivable)).toBe(receivable - 10_000n);
    expect(await lending.reconcileCardDisbursements()).toBe(0);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('a connector failing with an ordinary error leaves the card disbursement pending, and reconciliation ends it', async () => {
    at('2024-05-05');
    const accounts = lending.productAccounts('cash');
    const receivable = await balance(accounts.principalReceivable);
    const offer = (await lending.apply(id('busy'), { productCode: 'cash', amount: 12_000n, terms: 6 }))
      .offer!;
    // Not a failed request: what the bank did is unknown, as after a timeout.
    const loan = await lending.acceptOffer(id('busy'), offer.id, { to: 'card', cardToken: 'sandbox_reset' });
    expect(loan.status).toBe('disbursing');
    clock.set('2024-05-05T04:01:00Z');
    // The bank never got it: the loan is cancelled and the entry reversed.
    expect(await lending.reconcileCardDisbursements()).toBe(1);
    expect(await lending.getLoan(loan.id)).toMatchObject({ status: 'cancelled', principalOutstanding: 0n });
    expect(await balance(accounts.principalReceivable)).toBe(receivable);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('runs each close step once per date (a rerun of a closed date does nothing)', async () => {
    const before = await lending.getLoan(bobLoan);
    const rerun = await close.close('2024-05-01', { fastForward: true });
    expect(rerun.status).toBe('completed');
    expect(await lending.getLoan(bobLoan)).toEqual(before);
  });

  it('starts a card loan’s schedule and interest on the day the bank settles it, with the APR of that schedule', async () => {
    await closeThrough('2024-05-29');
    at('2024-05-30');
    const alice = id('alice');
    const drawToCard = async (productCode: string, amount: bigint, terms: number) => {
      const applied = await lending.apply(alice, { productCode, amount, terms });
      expect(applied.declineReason).toBeNull();
      const offer = applied.offer!;
      const loan = await lending.acceptOffer(alice, offer.id, { to: 'card', cardToken: 'card_late' });
      expect(loan.status).toBe('disbursing');
      return { offer, loan };
    };
    const thirty360 = await drawToCard('cash', 20_000n, 6);
    const actual365 = await drawToCard('dear', 20_000n, 3);
    // Not paid out yet: every way of paying is refused with a code saying so.
    const repayment = { userId: alice, loanId: thirty360.loan.id };
    expect(await codeOf(lending.repay({ ...repayment, amount: 100n }))).toBe('LOAN_DISBURSING');
    expect(await codeOf(lending.repay({ ...repayment, amount: 20_000n }))).toBe('LOAN_DISBURSING');
    expect(await codeOf(lending.payInstalmentEarly(repayment))).toBe('LOAN_DISBURSING');
    // The bank takes three days; the close meanwhile neither accrues, ages nor charges off.
    await closeThrough('2024-06-01');
    expect(await lending.getLoan(thirty360.loan.id)).toMatchObject({
      status: 'disbursing',
      interestAccrued: 0n,
      daysPastDue: 0,
    });
    at('2024-06-02');
    await settleCard(thirty360.loan.id, 'succeeded');
    await settleCard(actual365.loan.id, 'succeeded');
    for (const { offer, loan } of [thirty360, actual365]) {
      // The same schedule (and APR) as an offer drawn on the settlement day.
      const today = await lending.getOffer(alice, offer.id);
      const settled = await lending.getLoan(loan.id);
      expect(settled).toMatchObject({ status: 'active', drawnOn: '2024-06-02', apr: today.apr });
      const schedule = await lending.schedule(loan.id);
      expect(schedule[0]).toMatchObject({ periodStart: '2024-06-02' });
      expect(schedule.map((i) => [i.periodStart, i.dueDate, i.principal, i.interest])).toEqual(
        today.schedule.map((i) => [i.periodStart, i.dueDate, i.principal, i.interest]),
      );
      expect(settled.nextPayment).toMatchObject({ dueDate: '2024-07-02' });
    }
    // The actual/365 schedule's periods differ from those counted from the accept day, and so does its APR.
    expect((await lending.getLoan(actual365.loan.id)).apr).not.toBe(actual365.offer.apr);
    // Interest for the three days she has had the money: 200.00 × 7% / 12 × 3/30, not six days'.
    await closeThrough('2024-06-05');
    expect((await lending.getLoan(thirty360.loan.id)).interestAccrued).toBe(12n);

    // Settled on the day it was drawn: the schedule and APR it was drawn with.
    const sameDay = await drawToCard('cash', 30_000n, 6);
    await settleCard(sameDay.loan.id, 'succeeded');
    expect(await lending.getLoan(sameDay.loan.id)).toMatchObject({
      status: 'active',
      drawnOn: sameDay.loan.drawnOn,
      apr: sameDay.offer.apr,
    });
    expect(
      (await lending.schedule(sameDay.loan.id)).map((i) => [
        i.periodStart,
        i.dueDate,
        i.principal,
        i.interest,
      ]),
    ).toEqual(sameDay.offer.schedule.map((i) => [i.periodStart, i.dueDate, i.principal, i.interest]));

    const accounts = lending.productAccounts('cash');
    const book = await t.db.query<{ principal: bigint }>(
      `SELECT sum(principal_outstanding)::int8 AS principal FROM lending_loans WHERE product_code = 'cash' AND status IN ('disbursing', 'active')`,
    );
    expect(-(await balance(accounts.principalReceivable))).toBe(BigInt(book.rows[0]!.principal));
    const report = await ledger.verify();
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
  });
});
