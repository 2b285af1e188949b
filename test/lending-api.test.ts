import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../src/jobs/index.ts';
import { openApiHarness, type ApiHarness, type JsonObject } from './support/api-harness.ts';
import { newCustomer, type Customer } from './support/customers.ts';
import { expectLedgerVerifies } from './support/ledger-verify.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await openApiHarness();
});
afterAll(async () => {
  await h.close();
});

const application = {
  amount: '300000',
  duration_months: 6,
  purpose: 'furniture',
  employment: '4_to_7_years',
  housing: 'own',
};

async function scored(c: Customer): Promise<void> {
  expect((await h.post('/v1/me/credit-consent', {}, { key: c.token })).statusCode).toBe(201);
  const score = await h.post('/v1/me/score', { application }, { key: c.token });
  expect(score.statusCode, score.body).toBe(201);
}

/** Moves the clock into `date` (10:00 Shanghai). */
const at = (date: string) => h.clock.set(`${date}T10:00:00+08:00`);

/** A fresh access token after the clock moved (tokens last 15 minutes of business time). */
async function relogin(...customers: Customer[]): Promise<void> {
  for (const c of customers) {
    const session = await h.post('/v1/sessions', { phone: c.phone, password: 'password-1' }, { key: null });
    expect(session.statusCode, session.body).toBe(201);
    c.token = session.json().access_token as string;
  }
}

/** Closes every date up to and including `date` through the close's fast-forward, a day at a time. */
async function closeThrough(date: string): Promise<number> {
  let closed = 0;
  for (;;) {
    const last = await h.endOfDay.lastClosedDate();
    if (last !== null && last >= date) return closed;
    const next = last === null ? date : addDays(last, 1);
    h.clock.set(`${addDays(next, 1)}T00:30:00+08:00`);
    const [run] = await h.endOfDay.closeDays(1);
    expect(run!.status, run!.error ?? '').toBe('completed');
    closed++;
  }
}

const product = {
  code: 'cash-e2e',
  name: '随星借 e2e',
  schedule_type: 'equal_instalments',
  day_count: '30/360',
  annual_rate: '7.2',
  terms: [6, 12],
  min_amount: '100000',
  max_amount: '5000000',
  min_score: 350,
  charge_off_days: 120,
};

describe('cash loans over HTTP across 90 business days', () => {
  it('refuses a product above 24% APR with a stable code', async () => {
    const dear = await h.post('/v1/operator/lending/products', {
      ...product,
      code: 'dear',
      annual_rate: '25',
    });
    expect(dear.statusCode).toBe(422);
    expect(dear.headers['content-type']).toContain('application/problem+json');
    expect(dear.json().code).toBe('APR_ABOVE_CAP');
    const bad = await h.post('/v1/operator/lending/products', { ...product, code: 'bad', min_amount: '-1' });
    expect(bad.statusCode).toBe(400);
  });

  it('one loan repaid early, another 61 days past due in the 61–90 bucket; the ledger verifies', async () => {
    at('2025-06-01');
    await closeThrough('2025-05-31');
    const created = await h.post('/v1/operator/lending/products', product);
    expect(created.statusCode, created.body).toBe(201);
    expect(Object.keys(created.json())[0]).toBe('max_apr');
    const v2 = await h.post('/v1/operator/lending/products/cash-e2e/versions', {
      ...product,
      code: undefined,
      annual_rate: '7.2',
    });
    expect(v2.json().version).toBe(2);
    expect((await h.get('/v1/operator/lending/products/cash-e2e/versions')).json().items).toHaveLength(2);

    const alice = await newCustomer(h, { funds: 500_000n });
    const bob = await newCustomer(h);
    await scored(alice);
    await scored(bob);

    const apply = async (c: Customer, amount: string, terms: number) => {
      const response = await h.post(
        '/v1/loans/applications',
        { product_code: 'cash-e2e', amount, terms },
        { key: c.token },
      );
      expect(response.statusCode, response.body).toBe(201);
      expect(response.json().status, response.body).toBe('approved');
      return response.json().offer as JsonObject;
    };
    const aliceOffer = await apply(alice, '300000', 6);
    // APR first, then the rate; the schedule repays the principal.
    expect(Object.keys(aliceOffer)[0]).toBe('apr');
    expect(Math.abs(Number(aliceOffer.apr) - 7.2)).toBeLessThan(0.1);
    expect(aliceOffer.schedule.reduce((s: bigint, i: JsonObject) => s + BigInt(i.principal), 0n)).toBe(
      300_000n,
    );
    expect(
      (await h.get('/v1/loans/offers', alice.token)).json().items.map((o: JsonObject) => o.id),
    ).toContain(aliceOffer.id);

    const acceptKey = randomUUID();
    const accept = (c: Customer, offer: JsonObject, key = randomUUID()) =>
      h.post(`/v1/loans/offers/${offer.id}/accept`, { to: 'wallet' }, { key: c.token, idempotencyKey: key });
    const aliceLoan = await accept(alice, aliceOffer, acceptKey);
    expect(aliceLoan.statusCode, aliceLoan.body).toBe(201);
    expect(aliceLoan.json()).toMatchObject({
      status: 'active',
      principal_outstanding: '300000',
      bucket: 'current',
    });
    // The same Idempotency-Key replays; the money arrives once.
    expect((await accept(alice, aliceOffer, acceptKey)).json().id).toBe(aliceLoan.json().id);
    expect((await h.get('/v1/wallet', alice.token)).json().balance).toBe('800000');

    const bobOffer = await apply(bob, '200000', 12);
    const bobLoan = (await accept(bob, bobOffer)).json();
    expect((await h.get('/v1/wallet', bob.token)).json().balance).toBe('200000');
    // Bob spends the money elsewhere: nothing left for the auto-debit.
    await h.ledger.transfer({
      id: randomUUID(),
      debitAccountId: (await h.wallet.getWallet(bob.id)).ledgerAccountId,
      creditAccountId: h.wallet.bankClearingAccountId(),
      amount: 200_000n,
    });

    // The first due date: Alice's instalment is auto-debited from her wallet; Bob's is not.
    await closeThrough('2025-07-01');
    await relogin(alice, bob);
    const aliceAfterResponse = await h.get(`/v1/loans/${aliceLoan.json().id}`, alice.token);
    expect(aliceAfterResponse.statusCode, aliceAfterResponse.body).toBe(200);
    const aliceAfter = aliceAfterResponse.json();
    const firstInstalment = BigInt(aliceOffer.schedule[0].total);
    expect(BigInt(aliceAfter.principal_outstanding)).toBe(
      300_000n - BigInt(aliceOffer.schedule[0].principal),
    );
    expect(BigInt((await h.get('/v1/wallet', alice.token)).json().balance)).toBe(800_000n - firstInstalment);
    // It is 2025-07-02 now: Bob's instalment of yesterday is 1 day past due.
    expect((await h.get(`/v1/loans/${bobLoan.id}`, bob.token)).json()).toMatchObject({
      days_past_due: 1,
      bucket: '1-3',
    });

    // Alice repays the rest early on 2025-07-10: the payoff is principal + interest for 9 of 31 days.
    await closeThrough('2025-07-09');
    at('2025-07-10');
    await relogin(alice, bob);
    const schedule = (await h.get(`/v1/loans/${aliceLoan.json().id}/schedule`, alice.token)).json();
    expect(schedule.instalments[0]).toMatchObject({ principal_paid: aliceOffer.schedule[0].principal });
    const outstanding = BigInt(aliceAfter.principal_outstanding);
    const interestToDate = BigInt(schedule.payoff) - outstanding;
    // 7.2%/12 of the outstanding × 9/31 days, rounded half-even.
    const exact = (outstanding * 72n * 9n * 2n) / (1000n * 12n * 31n);
    expect(interestToDate).toBe((exact + 1n) / 2n);
    const invalid = await h.post(
      `/v1/loans/${aliceLoan.json().id}/repayments`,
      { amount: '-5' },
      { key: alice.token },
    );
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().code).toBe('VALIDATION_FAILED');
    const prepayKey = randomUUID();
    const prepay = await h.post(
      `/v1/loans/${aliceLoan.json().id}/prepayments`,
      {},
      { key: alice.token, idempotencyKey: prepayKey },
    );
    expect(prepay.statusCode, prepay.body).toBe(201);
    expect(prepay.json()).toMatchObject({
      amount: schedule.payoff,
      principal: outstanding.toString(),
      status: 'posted',
    });
    const replay = await h.post(
      `/v1/loans/${aliceLoan.json().id}/prepayments`,
      {},
      { key: alice.token, idempotencyKey: prepayKey },
    );
    expect(replay.json().id).toBe(prepay.json().id);
    expect((await h.get(`/v1/loans/${aliceLoan.json().id}`, alice.token)).json().status).toBe('repaid');
    const more = await h.post(
      `/v1/loans/${aliceLoan.json().id}/repayments`,
      { amount: '100' },
      { key: alice.token },
    );
    expect(more.statusCode).toBe(409);
    expect(more.json().code).toBe('LOAN_NOT_ACTIVE');

    // Bob never pays: on 2025-08-31 his 2025-07-01 instalment is 61 days past due.
    const closes = await closeThrough('2025-08-31');
    expect(closes).toBeGreaterThan(50);
    at('2025-08-31'); // read the loan as of the date just closed
    await relogin(alice, bob);
    const late = (await h.get(`/v1/loans/${bobLoan.id}`, bob.token)).json();
    expect(late).toMatchObject({ status: 'active', days_past_due: 61, bucket: '61-90' });
    expect(BigInt(late.penalty_accrued)).toBeGreaterThan(0n);
    const mine = (await h.get('/v1/loans', bob.token)).json();
    expect(mine.items.map((l: JsonObject) => l.id)).toEqual([bobLoan.id]);
    expect((await h.get(`/v1/loans/${bobLoan.id}`, alice.token)).statusCode).toBe(404);

    const book = (await h.get('/v1/operator/lending/book/buckets?product=cash-e2e')).json()
      .items as JsonObject[];
    expect(book.find((b) => b.bucket === '61-90')).toMatchObject({
      loans: 1,
      principal_outstanding: late.principal_outstanding,
    });
    expect(book.filter((b) => b.bucket !== '61-90').every((b) => b.loans === 0)).toBe(true);
    const vintages = (await h.get('/v1/operator/lending/book/vintages?product=cash-e2e')).json()
      .items as JsonObject[];
    // June's two loans at the end of August (2 months on book): Bob's is 30+ days past due.
    expect(vintages.find((v) => v.origination_month === '2025-06' && v.months_on_book === 2)).toMatchObject({
      loans: 2,
      loans_30_plus: 1,
      share_30_plus: '50.00',
    });
    expect((await h.get('/v1/operator/lending/book/buckets', bob.token)).statusCode).toBe(401);

    // The product's receivables in the ledger equal what the loan book says is owed.
    const accounts = h.lending.productAccounts('cash-e2e');
    const owed = async (id: string) => -(await h.ledger.getAccount(id)).balances.posted;
    expect(await owed(accounts.principalReceivable)).toBe(BigInt(late.principal_outstanding));
    expect(await owed(accounts.interestReceivable)).toBe(
      BigInt(late.interest_accrued) - BigInt(late.interest_paid),
    );
    expect(await owed(accounts.penaltyReceivable)).toBe(BigInt(late.penalty_accrued));

    await expectLedgerVerifies(h);
  }, 240_000);
});

describe('paying the next instalment early', () => {
  const early = { ...product, code: 'cash-early', name: '随星借 early' };
  const payEarly = (
    c: Customer,
    loanId: string,
    idempotencyKey: string = randomUUID(),
    body: { instalment?: number } = {},
  ) => h.post(`/v1/loans/${loanId}/early-instalment-payments`, body, { key: c.token, idempotencyKey });
  const balanceOf = async (c: Customer) => BigInt((await h.get('/v1/wallet', c.token)).json().balance);
  const instalments = async (c: Customer, loanId: string) =>
    (await h.get(`/v1/loans/${loanId}/schedule`, c.token)).json().instalments as JsonObject[];
  const autoDebits = async (loanId: string) =>
    (
      await h.t.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM lending_repayments WHERE loan_id = $1 AND kind = 'auto_debit'`,
        [loanId],
      )
    ).rows[0]!.n;
  async function drawLoan(c: Customer, amount: string): Promise<{ loan: JsonObject; offer: JsonObject }> {
    await scored(c);
    const applied = await h.post(
      '/v1/loans/applications',
      { product_code: early.code, amount, terms: 6 },
      { key: c.token },
    );
    expect(applied.json().status, applied.body).toBe('approved');
    const offer = applied.json().offer as JsonObject;
    const loan = await h.post(`/v1/loans/offers/${offer.id}/accept`, { to: 'wallet' }, { key: c.token });
    expect(loan.statusCode, loan.body).toBe(201);
    return { loan: loan.json(), offer };
  }
  /** The product's receivables in the ledger against its loan book, then the whole ledger. */
  async function booksAgree(): Promise<void> {
    const accounts = h.lending.productAccounts(early.code);
    const owed = async (id: string) => -(await h.ledger.getAccount(id)).balances.posted;
    const book = (
      await h.t.db.query<{ principal: bigint; interest: bigint }>(
        `SELECT sum(principal_outstanding)::int8 AS principal, sum(interest_accrued - interest_paid)::int8 AS interest
         FROM lending_loans WHERE product_code = $1`,
        [early.code],
      )
    ).rows[0]!;
    expect(await owed(accounts.principalReceivable)).toBe(BigInt(book.principal));
    expect(await owed(accounts.interestReceivable)).toBe(BigInt(book.interest));
    await expectLedgerVerifies(h);
  }

  it('settles the next instalment at its scheduled amount: its due date takes nothing and the rest of the schedule stays', async () => {
    at('2025-09-10');
    await closeThrough('2025-09-09');
    expect((await h.post('/v1/operator/lending/products', early)).statusCode).toBe(201);
    const carol = await newCustomer(h, { funds: 500_000n });
    const { loan, offer } = await drawLoan(carol, '300000');
    const drawn = await instalments(carol, loan.id);
    expect(drawn[0]!.due_date).toBe('2025-10-10');

    // No such loan, or another user's: 404; no Idempotency-Key: 400.
    const stranger = await newCustomer(h);
    for (const response of [await payEarly(carol, randomUUID()), await payEarly(stranger, loan.id)])
      expect([response.statusCode, response.json().code]).toEqual([404, 'LOAN_NOT_FOUND']);
    const keyless = await h.post(
      `/v1/loans/${loan.id}/early-instalment-payments`,
      {},
      { key: carol.token, idempotencyKey: null },
    );
    expect([keyless.statusCode, keyless.json().code]).toEqual([400, 'IDEMPOTENCY_KEY_REQUIRED']);

    // Ten days into the period (the close has recognised part of its interest), the first instalment
    // is paid: its scheduled principal and interest, not interest to date.
    await closeThrough('2025-09-19');
    at('2025-09-20');
    await relogin(carol);
    const before = await balanceOf(carol);
    const key = randomUUID();
    const paid = await payEarly(carol, loan.id, key);
    expect(paid.statusCode, paid.body).toBe(201);
    expect(paid.json()).toMatchObject({
      kind: 'repayment',
      amount: offer.schedule[0].total,
      principal: offer.schedule[0].principal,
      interest: offer.schedule[0].interest,
      penalty: '0',
      status: 'posted',
    });
    const replay = await payEarly(carol, loan.id, key);
    expect([replay.json().id, replay.headers['idempotent-replayed']]).toEqual([paid.json().id, 'true']);
    const afterPayment = await balanceOf(carol);
    expect(afterPayment).toBe(before - BigInt(offer.schedule[0].total));
    const settled = await instalments(carol, loan.id);
    expect(settled[0]).toMatchObject({
      principal_paid: drawn[0]!.principal,
      interest_paid: drawn[0]!.interest,
      total: drawn[0]!.total,
    });
    expect(settled.slice(1)).toEqual(drawn.slice(1));
    // Its interest is paid for the whole period, so today's payoff is the principal left.
    const schedule = (await h.get(`/v1/loans/${loan.id}/schedule`, carol.token)).json();
    expect(BigInt(schedule.payoff)).toBe(300_000n - BigInt(drawn[0]!.principal));
    const again = await payEarly(carol, loan.id);
    expect([again.statusCode, again.json().code]).toEqual([409, 'LOAN_NOTHING_DUE']);
    expect(await balanceOf(carol)).toBe(afterPayment);

    // The due date: the auto-debit takes nothing (the wallet could pay), and the loan is current.
    await closeThrough('2025-10-10');
    at('2025-10-11');
    await relogin(carol);
    expect(await balanceOf(carol)).toBe(afterPayment);
    expect(await autoDebits(loan.id)).toBe(0);
    expect((await h.get(`/v1/loans/${loan.id}`, carol.token)).json()).toMatchObject({
      status: 'active',
      days_past_due: 0,
      principal_outstanding: (300_000n - BigInt(drawn[0]!.principal)).toString(),
    });
    expect(await instalments(carol, loan.id)).toEqual(settled);

    // The second instalment early too, then a partial prepayment: it re-amortises from the third
    // and leaves the second paid, so its due date again takes nothing.
    const second = await payEarly(carol, loan.id);
    expect(second.json()).toMatchObject({ amount: drawn[1]!.total, principal: drawn[1]!.principal });
    const prepaid = await h.post(
      `/v1/loans/${loan.id}/repayments`,
      { amount: '50000' },
      { key: carol.token },
    );
    expect(prepaid.json()).toMatchObject({ principal: '50000', interest: '0', status: 'posted' });
    const rescheduled = await instalments(carol, loan.id);
    expect(rescheduled.slice(0, 2).map((i) => [i.principal_paid, i.interest_paid])).toEqual(
      drawn.slice(0, 2).map((i) => [i.principal, i.interest]),
    );
    expect(rescheduled.slice(2).reduce((s, i) => s + BigInt(i.principal), 0n)).toBe(
      300_000n - BigInt(drawn[0]!.principal) - BigInt(drawn[1]!.principal) - 50_000n,
    );
    const beforeSecondDue = await balanceOf(carol);
    await closeThrough('2025-11-10');
    await relogin(carol);
    expect(await balanceOf(carol)).toBe(beforeSecondDue);
    expect(await autoDebits(loan.id)).toBe(0);
    expect((await h.get(`/v1/loans/${loan.id}`, carol.token)).json().days_past_due).toBe(0);
    await booksAgree();
  }, 240_000);

  it('refuses a wallet that cannot pay (422), while anything is due (409) and on a closed loan (409)', async () => {
    at('2025-11-12');
    await closeThrough('2025-11-11');
    if ((await h.get(`/v1/operator/lending/products/${early.code}/versions`)).statusCode === 404)
      expect((await h.post('/v1/operator/lending/products', early)).statusCode).toBe(201);
    const dave = await newCustomer(h);
    const { loan, offer } = await drawLoan(dave, '200000');
    const wallet = (await h.wallet.getWallet(dave.id)).ledgerAccountId;
    const move = (amount: bigint, toWallet: boolean) =>
      h.ledger.transfer({
        id: randomUUID(),
        debitAccountId: toWallet ? h.wallet.bankClearingAccountId() : wallet,
        creditAccountId: toWallet ? wallet : h.wallet.bankClearingAccountId(),
        amount,
      });
    // Dave spends all but 1.00 of the loan.
    await move(199_900n, false);
    const drawn = await instalments(dave, loan.id);
    const poor = await payEarly(dave, loan.id);
    expect([poor.statusCode, poor.json().code]).toEqual([422, 'INSUFFICIENT_FUNDS']);
    expect(await balanceOf(dave)).toBe(100n);
    expect(await instalments(dave, loan.id)).toEqual(drawn);

    // The first due date passes unpaid: the next instalment cannot be paid ahead of the one due.
    await closeThrough('2025-12-12');
    at('2025-12-13');
    await relogin(dave);
    expect((await h.get(`/v1/loans/${loan.id}`, dave.token)).json().days_past_due).toBe(1);
    await move(400_000n, true);
    const overdue = await payEarly(dave, loan.id);
    expect([overdue.statusCode, overdue.json().code]).toEqual([409, 'LOAN_INSTALMENT_DUE']);
    // What is due: the instalment less the 1.00 the auto-debit found, and the penalty since.
    const late = (await h.get(`/v1/loans/${loan.id}`, dave.token)).json();
    expect(BigInt(overdue.json().due)).toBe(
      BigInt(offer.schedule[0].total) - 100n + BigInt(late.penalty_accrued) - BigInt(late.penalty_paid),
    );
    // The loan shows that as its next payment, dated in the past; nothing can be paid early.
    expect(late).toMatchObject({
      next_payment_due_date: drawn[0]!.due_date,
      next_payment_amount: overdue.json().due,
      early_instalment: null,
    });

    // Repaid: nothing is left to pay early.
    const payoff = await h.post(`/v1/loans/${loan.id}/prepayments`, {}, { key: dave.token });
    expect(payoff.statusCode, payoff.body).toBe(201);
    expect((await h.get(`/v1/loans/${loan.id}`, dave.token)).json()).toMatchObject({
      status: 'repaid',
      next_payment_due_date: null,
      next_payment_amount: null,
      early_instalment: null,
    });
    const closed = await payEarly(dave, loan.id);
    expect([closed.statusCode, closed.json().code]).toEqual([409, 'LOAN_NOT_ACTIVE']);
    await booksAgree();
  }, 240_000);

  it('after an early payment the loan and its schedule show the following instalment as the next payment', async () => {
    at('2025-12-20');
    await closeThrough('2025-12-19');
    if ((await h.get(`/v1/operator/lending/products/${early.code}/versions`)).statusCode === 404)
      expect((await h.post('/v1/operator/lending/products', early)).statusCode).toBe(201);
    const erin = await newCustomer(h, { funds: 500_000n });
    const { loan } = await drawLoan(erin, '300000');
    const drawn = await instalments(erin, loan.id);
    const ahead = (i: JsonObject) => ({
      next_payment_due_date: i.due_date,
      next_payment_amount: i.total,
    });
    const shown = { instalment: 1, due_date: drawn[0]!.due_date, amount: drawn[0]!.total };
    expect(loan).toMatchObject({ next_due_date: '2026-01-20', ...ahead(drawn[0]!), early_instalment: shown });
    expect((await h.get(`/v1/loans/${loan.id}/schedule`, erin.token)).json()).toMatchObject({
      ...ahead(drawn[0]!),
      early_instalment: shown,
    });

    const paid = await payEarly(erin, loan.id, randomUUID(), { instalment: 1 });
    expect(paid.statusCode, paid.body).toBe(201);
    // The paid instalment's date is still the current interest period's end, but what the borrower
    // pays next is the second instalment; nothing more can be paid early until the first's date.
    const after = (await h.get(`/v1/loans/${loan.id}`, erin.token)).json();
    expect(after).toMatchObject({
      next_due_date: drawn[0]!.due_date,
      ...ahead(drawn[1]!),
      early_instalment: null,
    });
    expect(
      (await h.get('/v1/loans', erin.token)).json().items.find((l: JsonObject) => l.id === loan.id),
    ).toMatchObject({ ...ahead(drawn[1]!), early_instalment: null });
    expect((await h.get(`/v1/loans/${loan.id}/schedule`, erin.token)).json()).toMatchObject({
      ...ahead(drawn[1]!),
      early_instalment: null,
    });
    const second = await payEarly(erin, loan.id, randomUUID(), { instalment: 2 });
    expect([second.statusCode, second.json()]).toEqual([
      409,
      expect.objectContaining({ code: 'LOAN_NOTHING_DUE', instalment: 1 }),
    ]);
    await booksAgree();
  }, 240_000);

  it('pays only the instalment the borrower was shown: a due date passed meanwhile is 409 LOAN_INSTALMENT_NOT_NEXT', async () => {
    at('2025-12-21');
    await closeThrough('2025-12-20');
    if ((await h.get(`/v1/operator/lending/products/${early.code}/versions`)).statusCode === 404)
      expect((await h.post('/v1/operator/lending/products', early)).statusCode).toBe(201);
    const frank = await newCustomer(h, { funds: 500_000n });
    const { loan } = await drawLoan(frank, '300000');
    const drawn = await instalments(frank, loan.id);
    expect(loan.early_instalment).toMatchObject({ instalment: 1, due_date: '2026-01-21' });
    const invalid = await payEarly(frank, loan.id, randomUUID(), { instalment: 0 });
    expect([invalid.statusCode, invalid.json().code]).toEqual([400, 'VALIDATION_FAILED']);

    // The screen showing instalment 1 is left open past its due date; the auto-debit pays it.
    await closeThrough('2026-01-21');
    at('2026-01-22');
    await relogin(frank);
    expect(await autoDebits(loan.id)).toBe(1);
    const before = await balanceOf(frank);
    const stale = await payEarly(frank, loan.id, randomUUID(), { instalment: 1 });
    expect(stale.statusCode, stale.body).toBe(409);
    expect(stale.headers['content-type']).toContain('application/problem+json');
    expect(stale.json()).toMatchObject({
      code: 'LOAN_INSTALMENT_NOT_NEXT',
      requested_instalment: 1,
      next_instalment: 2,
      next_due_date: drawn[1]!.due_date,
      next_amount: drawn[1]!.total,
    });
    expect(await balanceOf(frank)).toBe(before);
    expect((await instalments(frank, loan.id))[1]).toEqual(drawn[1]);

    // The refreshed screen shows instalment 2: that one is paid.
    const shown = (await h.get(`/v1/loans/${loan.id}`, frank.token)).json().early_instalment;
    expect(shown).toEqual({ instalment: 2, due_date: drawn[1]!.due_date, amount: drawn[1]!.total });
    const paid = await payEarly(frank, loan.id, randomUUID(), { instalment: shown.instalment });
    expect(paid.json()).toMatchObject({ amount: drawn[1]!.total, status: 'posted' });
    expect(await balanceOf(frank)).toBe(before - BigInt(drawn[1]!.total));
    await booksAgree();
  }, 240_000);

  it('is in the OpenAPI document with its Idempotency-Key', async () => {
    const doc = (await h.get('/openapi.json', '')).json();
    const route = doc.paths['/v1/loans/{id}/early-instalment-payments'].post;
    expect(route.summary).toMatch(/next instalment early/);
    expect(route.parameters).toContainEqual(
      expect.objectContaining({ name: 'idempotency-key', in: 'header', required: true }),
    );
    expect(route.description).toMatch(/LOAN_INSTALMENT_NOT_NEXT/);
    expect(JSON.stringify(route.requestBody)).toMatch(/"instalment"/);
  });
});

describe('drawing a loan to a bank card', () => {
  const cardProduct = { ...product, code: 'cash-card', name: '随星借 card' };
  const loanOf = async (c: Customer, loanId: string) => (await h.get(`/v1/loans/${loanId}`, c.token)).json();
  /** Waits (real time) for the sandbox bank's settlement to reach the loan. */
  async function settled(c: Customer, loanId: string): Promise<JsonObject> {
    for (let i = 0; i < 100; i++) {
      const loan = await loanOf(c, loanId);
      if (loan.status !== 'disbursing') return loan;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`loan ${loanId} is still disbursing`);
  }
  async function drawToCard(c: Customer, amount: string, cardToken: string): Promise<JsonObject> {
    const applied = await h.post(
      '/v1/loans/applications',
      { product_code: cardProduct.code, amount, terms: 6 },
      { key: c.token },
    );
    expect(applied.json().status, applied.body).toBe('approved');
    const offer = applied.json().offer as JsonObject;
    const loan = await h.post(
      `/v1/loans/offers/${offer.id}/accept`,
      { to: 'card', card_token: cardToken },
      { key: c.token },
    );
    expect(loan.statusCode, loan.body).toBe(201);
    return loan.json();
  }
  async function bookAgrees(): Promise<void> {
    const accounts = h.lending.productAccounts(cardProduct.code);
    const owed = -(await h.ledger.getAccount(accounts.principalReceivable)).balances.posted;
    const book = await h.t.db.query<{ principal: bigint | null }>(
      `SELECT sum(principal_outstanding)::int8 AS principal FROM lending_loans WHERE product_code = $1`,
      [cardProduct.code],
    );
    expect(owed).toBe(BigInt(book.rows[0]!.principal ?? 0n));
    await expectLedgerVerifies(h);
  }

  it('is disbursing until the bank settles; a card the bank fails after accepting cancels the loan with nothing owed', async () => {
    at('2026-01-23');
    expect((await h.post('/v1/operator/lending/products', cardProduct)).statusCode).toBe(201);
    const dora = await newCustomer(h);
    await scored(dora);
    const paid = await drawToCard(dora, '200000', 'card_ok');
    expect(paid.status).toBe('disbursing');
    expect((await settled(dora, paid.id as string)).status).toBe('active');

    const failing = await drawToCard(dora, '300000', 'sandbox_fail');
    expect(failing.status).toBe('disbursing');
    expect(await settled(dora, failing.id as string)).toMatchObject({
      status: 'cancelled',
      principal_outstanding: '0',
    });
    const repay = await h.post(`/v1/loans/${failing.id}/repayments`, { amount: '100' }, { key: dora.token });
    expect([repay.statusCode, repay.json().code]).toEqual([409, 'LOAN_NOT_ACTIVE']);
    await bookAgrees();
  });

  it('keeps a timed-out card request disbursing until the bank settles it, then it is active', async () => {
    at('2026-01-23');
    const emil = await newCustomer(h);
    await scored(emil);
    const loan = await drawToCard(emil, '150000', 'sandbox_timeout');
    expect(loan.status).toBe('disbursing');
    expect((await settled(emil, loan.id as string)).status).toBe('active');
    // Nothing left for the reconciliation a minute later.
    h.clock.set('2026-01-23T10:05:00+08:00');
    expect(await h.lending.reconcileCardDisbursements()).toBe(0);
    await bookAgrees();
  });

  it('starts the schedule on the day the bank settles a card loan, not the day it was accepted', async () => {
    at('2026-01-23');
    const fay = await newCustomer(h);
    await scored(fay);
    const loan = await drawToCard(fay, '120000', 'card_ok');
    expect(loan.status).toBe('disbursing');
    // The bank's settlement reaches the loan three business days later.
    at('2026-01-26');
    await relogin(fay);
    expect(await settled(fay, loan.id as string)).toMatchObject({
      status: 'active',
      drawn_on: '2026-01-26',
      next_due_date: '2026-02-26',
      next_payment_due_date: '2026-02-26',
      interest_accrued: '0',
    });
    const schedule = (await h.get(`/v1/loans/${loan.id}/schedule`, fay.token)).json();
    expect(schedule.instalments[0].due_date).toBe('2026-02-26');
    expect(schedule.instalments.at(-1).due_date).toBe('2026-07-26');
    await bookAgrees();
  });

  it('refuses every payment on a card loan the bank has not paid out yet with LOAN_DISBURSING', async () => {
    at('2026-01-26');
    const gus = await newCustomer(h, { funds: 100_000n });
    await scored(gus);
    const loan = await drawToCard(gus, '100000', 'card_ok');
    // The bank never answers (its settlement is dropped): the loan stays disbursing.
    h.bank.close();
    expect(loan.status).toBe('disbursing');
    const refused = async (path: string, body: object) => {
      const response = await h.post(`/v1/loans/${loan.id}/${path}`, body, { key: gus.token });
      expect([response.statusCode, response.json().code], response.body).toEqual([409, 'LOAN_DISBURSING']);
    };
    await refused('repayments', { amount: '100' });
    await refused('prepayments', {});
    await refused('early-instalment-payments', {});
    expect(await loanOf(gus, loan.id as string)).toMatchObject({
      status: 'disbursing',
      interest_paid: '0',
      next_payment_due_date: null,
    });
    await bookAgrees();
  });
});

describe('the 24% APR cap over start dates', () => {
  const monthly = {
    ...product,
    day_count: 'actual/365',
    terms: [1],
    min_amount: '100000',
    max_amount: '1000000',
  };
  /** Puts a product's rate where one made before the start-date check could have left it. */
  async function repriceAsOldProduct(code: string, annualRate: string): Promise<void> {
    await h.t.db.query('UPDATE lending_products SET annual_rate = $2::numeric WHERE code = $1', [
      code,
      annualRate,
    ]);
  }

  it('refuses a product whose loans starting on some date would cost more than 24% APR', async () => {
    // From 2024-01-31 (a 29-day month) 25% over one month is 23.84% APR, but over a 31-day month
    // it is 25.48%: the product is refused, not only its dearest start date.
    const dear = await h.post('/v1/operator/lending/products', {
      ...monthly,
      code: 'monthly-dear',
      annual_rate: '25',
    });
    expect([dear.statusCode, dear.json().code], dear.body).toEqual([422, 'APR_ABOVE_CAP']);
    const fair = await h.post('/v1/operator/lending/products', {
      ...monthly,
      code: 'monthly-fair',
      annual_rate: '23.5',
    });
    expect(fair.statusCode, fair.body).toBe(201);
    // 23.5% × 31/365 × 12 = 23.9507%, the dearest month, plus the fen rounding: most at 1,002.31 CNY
    // (1,000.00 CNY, the smallest amount, is at 23.9520%).
    expect(fair.json().max_apr).toBe('23.9567');
    expect(fair.json().max_apr_at).toEqual({ amount: '100231', terms: 1 });
  });

  it('refuses a product within 24% APR at its smallest and largest amounts but above it between', async () => {
    // 23.99% / 12 on 100.00 CNY is 2.00 of interest (24.0000% APR); on 100.30 it is 2.00516 → 2.01,
    // 24.0479%: no amount of the range may go above the cap, not only its two ends.
    const between = await h.post('/v1/operator/lending/products', {
      ...product,
      code: 'edge-between',
      annual_rate: '23.99',
      terms: [1],
      min_amount: '10000',
      max_amount: '1000000',
    });
    expect([between.statusCode, between.json().code], between.body).toEqual([422, 'APR_ABOVE_CAP']);
    expect(between.json()).toMatchObject({ apr_percent: '24.0479', amount: '10030', terms: 1 });
    expect((await h.get('/v1/operator/lending/products/edge-between/versions')).json().items ?? []).toEqual(
      [],
    );
  });

  it('refuses an offer, and the draw of an offer, whose own schedule is above 24% APR', async () => {
    at('2026-04-30');
    expect(
      (await h.post('/v1/operator/lending/products', { ...monthly, code: 'monthly-old', annual_rate: '20' }))
        .statusCode,
    ).toBe(201);
    // 24% over one month: 23.67% APR for a 30-day month, 24.46% for a 31-day one.
    await repriceAsOldProduct('monthly-old', '24');
    const ida = await newCustomer(h);
    await scored(ida);
    const applied = await h.post(
      '/v1/loans/applications',
      { product_code: 'monthly-old', amount: '100000', terms: 1 },
      { key: ida.token },
    );
    expect(applied.statusCode, applied.body).toBe(201);
    const offer = applied.json().offer as JsonObject;
    expect(offer.apr).toBe('23.6760');

    // Accepted the next day, the loan's only month (May 1 → June 1) has 31 days.
    at('2026-05-01');
    await relogin(ida);
    const drawn = await h.post(`/v1/loans/offers/${offer.id}/accept`, { to: 'wallet' }, { key: ida.token });
    expect([drawn.statusCode, drawn.json().code], drawn.body).toEqual([422, 'APR_ABOVE_CAP']);
    const again = await h.post(
      '/v1/loans/applications',
      { product_code: 'monthly-old', amount: '100000', terms: 1 },
      { key: ida.token },
    );
    expect([again.statusCode, again.json().code], again.body).toEqual([422, 'APR_ABOVE_CAP']);
    await expectLedgerVerifies(h);
  });
});
