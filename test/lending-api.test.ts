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
