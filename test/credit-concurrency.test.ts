import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ApiResponse } from './support/api-harness.ts';
import { checkedApiHarness } from './support/checked-harness.ts';
import { newCustomer, scoreCustomer, type Customer } from './support/customers.ts';
import { cashLoanTerms, statementProductTerms } from './support/credit-products.ts';
import { newMerchant } from './support/merchants.ts';

/**
 * Credit asked for more than it allows, often at once: purchases racing a pay-later limit, loan
 * offers that fit the credit limit one by one but not together, applications racing the co-debt
 * limit, one loan offer accepted by several requests, repayments racing what is owed. Each time
 * exactly what fits is done, once, every refusal is a problem with its stable code, and the money on
 * every side adds up to the fen. The ledger verifies after each test (checkedApiHarness).
 */
const h = checkedApiHarness();

const LIMIT = 100_000n;
const PURCHASE = 30_000n;
const LOAN = 100_000n;

let lineProductId = '';
let shop = { id: '', key: '' };

beforeAll(async () => {
  const product = await h().post('/v1/operator/paylater/products', {
    code: 'race-later',
    name: 'Race later',
    ...statementProductTerms,
  });
  expect(product.statusCode, product.body).toBe(201);
  lineProductId = product.json<{ id: string }>().id;
  const bands = await h().post('/v1/operator/paylater/limit-bands', {
    bands: [{ min_score: 350, limit: LIMIT.toString() }],
  });
  expect(bands.statusCode, bands.body).toBe(201);
  const cash = await h().post('/v1/operator/lending/products', {
    code: 'race-cash',
    name: 'Race cash',
    ...cashLoanTerms,
  });
  expect(cash.statusCode, cash.body).toBe(201);
  shop = await newMerchant(h(), '抢购小店');
});

async function scoredWithLine(funds: bigint): Promise<Customer> {
  const c = await newCustomer(h(), { funds });
  await scoreCustomer(h(), c);
  const line = await h().post('/v1/paylater/line', { product_id: lineProductId }, { key: c.token });
  expect(line.statusCode, line.body).toBe(201);
  expect(line.json<{ limit: string }>().limit).toBe(LIMIT.toString());
  return c;
}

const wallet = async (c: Customer) =>
  BigInt((await h().get('/v1/wallet', c.token)).json<{ balance: string }>().balance);

const line = async (c: Customer) => {
  const l = (await h().get('/v1/paylater/line', c.token)).json<Record<string, string>>();
  return { used: BigInt(l.used!), available: BigInt(l.available!), owed: BigInt(l.total_owed!) };
};

/** Each answer a problem with one of `codes` (code → status). */
function expectRefusals(answers: ApiResponse[], codes: Record<string, number>): void {
  for (const res of answers) {
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const { code } = res.json<{ code: string }>();
    expect(Object.keys(codes), res.body).toContain(code);
    expect(res.statusCode, res.body).toBe(codes[code]);
  }
}

/** A six-month cash loan application on the test's product. */
const applyForCash = (c: Customer, amount: string) =>
  h().post('/v1/loans/applications', { product_code: 'race-cash', amount, terms: 6 }, { key: c.token });

const split = (answers: ApiResponse[]) => ({
  done: answers.filter((r) => r.statusCode === 201),
  refused: answers.filter((r) => r.statusCode !== 201),
});

describe('the score once consent is withdrawn', () => {
  it('opens no pay-later line and backs no loan application; the user still sees it', async () => {
    const c = await newCustomer(h(), { funds: 0n });
    await scoreCustomer(h(), c);
    const scored = (await h().get('/v1/me/score', c.token)).json<{ id: string }>();
    const withdrawn = await h().post('/v1/me/credit-consent/withdraw', {}, { key: c.token });
    expect(withdrawn.statusCode, withdrawn.body).toBe(200);

    const opened = await h().post('/v1/paylater/line', { product_id: lineProductId }, { key: c.token });
    expect(opened.statusCode, opened.body).toBe(422);
    expect(opened.json()).toMatchObject({ code: 'PAYLATER_NOT_ELIGIBLE' });
    const applied = await applyForCash(c, LOAN.toString());
    expect(applied.statusCode, applied.body).toBe(201);
    expect(applied.json()).toMatchObject({ status: 'declined', decline_reason: 'no_score' });

    // The history is kept: the user's own latest score is still shown.
    const mine = await h().get('/v1/me/score', c.token);
    expect(mine.statusCode, mine.body).toBe(200);
    expect(mine.json<{ id: string }>().id).toBe(scored.id);
  });

  it('granted again: still no line nor loan on the earlier consent’s score, until a new score', async () => {
    const c = await newCustomer(h(), { funds: 0n });
    await scoreCustomer(h(), c);
    expect((await h().post('/v1/me/credit-consent/withdraw', {}, { key: c.token })).statusCode).toBe(200);
    expect((await h().post('/v1/me/credit-consent', {}, { key: c.token })).statusCode).toBe(201);

    const opened = await h().post('/v1/paylater/line', { product_id: lineProductId }, { key: c.token });
    expect(opened.statusCode, opened.body).toBe(422);
    expect(opened.json()).toMatchObject({ code: 'PAYLATER_NOT_ELIGIBLE' });
    const applied = await applyForCash(c, LOAN.toString());
    expect(applied.statusCode, applied.body).toBe(201);
    expect(applied.json()).toMatchObject({ status: 'declined', decline_reason: 'no_score' });

    // A score under the consent in force (the answers given before are reused) is used again.
    const rescored = await h().post('/v1/me/score', {}, { key: c.token });
    expect(rescored.statusCode, rescored.body).toBe(201);
    const reopened = await h().post('/v1/paylater/line', { product_id: lineProductId }, { key: c.token });
    expect(reopened.statusCode, reopened.body).toBe(201);
  });
});

describe('credit asked for more than it allows, often at once', () => {
  it('pay-later purchases racing the limit: what fits is bought, then repayments racing what is owed', async () => {
    const buyer = await scoredWithLine(1_000_000n);
    const orders = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const res = await h().post(
          '/v1/merchant/payment-orders',
          {
            merchant_reference: `race-${i}-${randomUUID().slice(0, 8)}`,
            amount: PURCHASE.toString(),
            description: 'phone',
          },
          { key: shop.key },
        );
        expect(res.statusCode, res.body).toBe(201);
        return res.json<{ id: string }>().id;
      }),
    );
    const bought = split(
      await Promise.all(
        orders.map((id) =>
          h().post(`/v1/payment-orders/${id}/pay`, { method: 'pay_later' }, { key: buyer.token }),
        ),
      ),
    );
    const fits = LIMIT / PURCHASE;
    expect(bought.done).toHaveLength(Number(fits));
    expectRefusals(bought.refused, { PAYLATER_LIMIT_EXCEEDED: 422 });
    expect(await line(buyer)).toEqual({
      used: fits * PURCHASE,
      available: LIMIT - fits * PURCHASE,
      owed: fits * PURCHASE,
    });
    // The purchases were credit, not the wallet's money.
    expect(await wallet(buyer)).toBe(1_000_000n);

    // Four repayments of one purchase each against three purchases owed: three are taken.
    const repaid = split(
      await Promise.all(
        [1, 2, 3, 4].map(() =>
          h().post('/v1/paylater/repayments', { amount: PURCHASE.toString() }, { key: buyer.token }),
        ),
      ),
    );
    expect(repaid.done).toHaveLength(Number(fits));
    expectRefusals(repaid.refused, { PAYLATER_REPAYMENT_EXCEEDS_BALANCE: 422 });
    expect(await line(buyer)).toEqual({ used: 0n, available: LIMIT, owed: 0n });
    expect(await wallet(buyer)).toBe(1_000_000n - fits * PURCHASE);
  });

  it('offers that each fit the credit limit but not together: the draws that fit pay out, one after another or at once', async () => {
    for (const together of [false, true]) {
      const borrower = await newCustomer(h(), { funds: 0n });
      await scoreCustomer(h(), borrower);
      const probe = await applyForCash(borrower, LOAN.toString());
      const limit = probe.json<{ credit_limit: string }>().credit_limit;
      const offers = [];
      for (let i = 0; i < 2; i++) {
        const application = await applyForCash(borrower, limit);
        expect(application.json<{ status: string }>().status, application.body).toBe('approved');
        offers.push(application.json<{ offer: { id: string } }>().offer.id);
      }
      const draw = (offer: string) =>
        h().post(`/v1/loans/offers/${offer}/accept`, { to: 'wallet' }, { key: borrower.token });
      const drawn = split(
        together ? await Promise.all(offers.map(draw)) : [await draw(offers[0]!), await draw(offers[1]!)],
      );
      expect(drawn.done).toHaveLength(1);
      expectRefusals(drawn.refused, { LOAN_CREDIT_LIMIT_EXCEEDED: 422 });
      expect(await wallet(borrower)).toBe(BigInt(limit));
      expect((await h().get('/v1/loans', borrower.token)).json<{ items: unknown[] }>().items).toHaveLength(1);
    }
  });

  it('applications sent at once stop at the co-debt limit (five in 30 days)', async () => {
    const borrower = await newCustomer(h(), { funds: 0n });
    await scoreCustomer(h(), borrower);
    const applications = await Promise.all(
      Array.from({ length: 8 }, () => applyForCash(borrower, LOAN.toString())),
    );
    for (const res of applications) expect(res.statusCode, res.body).toBe(201);
    const outcomes = applications.map((res) => res.json<{ status: string; decline_reason: string | null }>());
    expect(outcomes.filter((o) => o.status === 'approved')).toHaveLength(5);
    expect(outcomes.filter((o) => o.status === 'declined').map((o) => o.decline_reason)).toEqual([
      'co_debt',
      'co_debt',
      'co_debt',
    ]);
  });

  it('one loan offer accepted by four requests at once is one loan, its money paid out once', async () => {
    const borrower = await newCustomer(h(), { funds: 0n });
    await scoreCustomer(h(), borrower);
    const application = await applyForCash(borrower, LOAN.toString());
    expect(application.statusCode, application.body).toBe(201);
    const offer = application.json<{ offer: { id: string } }>().offer.id;
    const accepted = await Promise.all(
      [1, 2, 3, 4].map(() =>
        h().post(
          `/v1/loans/offers/${offer}/accept`,
          { to: 'wallet' },
          { key: borrower.token, idempotencyKey: randomUUID() },
        ),
      ),
    );
    for (const res of accepted) expect(res.statusCode, res.body).toBe(201);
    const loanIds = new Set(accepted.map((res) => res.json<{ id: string }>().id));
    expect(loanIds.size).toBe(1);
    const loans = (await h().get('/v1/loans', borrower.token)).json<{ items: unknown[] }>().items;
    expect(loans).toHaveLength(1);
    expect(await wallet(borrower)).toBe(LOAN);

    // Four repayments of 60% of a loan whose payoff is 100%: one is taken, the rest would overpay.
    const [loanId] = loanIds;
    const payoff = BigInt(
      (await h().get(`/v1/loans/${loanId}/schedule`, borrower.token)).json<{ payoff: string }>().payoff,
    );
    expect(payoff).toBe(LOAN);
    const part = (LOAN * 6n) / 10n;
    const repaid = split(
      await Promise.all(
        [1, 2, 3, 4].map(() =>
          h().post(`/v1/loans/${loanId}/repayments`, { amount: part.toString() }, { key: borrower.token }),
        ),
      ),
    );
    expect(repaid.done).toHaveLength(1);
    // One that arrives while the first is still moving its money is told to try again; one after,
    // that it would pay more than the payoff.
    expectRefusals(repaid.refused, { LOAN_PREPAYMENT_INVALID: 422, LOAN_REPAYMENT_IN_PROGRESS: 409 });
    const loan = (await h().get(`/v1/loans/${loanId}`, borrower.token)).json<{
      principal_outstanding: string;
    }>();
    expect(BigInt(loan.principal_outstanding)).toBe(LOAN - part);
    expect(await wallet(borrower)).toBe(LOAN - part);
  });
});
