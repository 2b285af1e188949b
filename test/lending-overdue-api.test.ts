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

/** Moves the clock into `date` (10:00 Shanghai). */
const at = (date: string) => h.clock.set(`${date}T10:00:00+08:00`);

/** Closes every date up to and including `date`, a day at a time. */
async function closeThrough(date: string): Promise<void> {
  for (;;) {
    const last = await h.endOfDay.lastClosedDate();
    if (last !== null && last >= date) return;
    const next = last === null ? date : addDays(last, 1);
    h.clock.set(`${addDays(next, 1)}T00:30:00+08:00`);
    const [run] = await h.endOfDay.closeDays(1);
    expect(run!.status, run!.error ?? '').toBe('completed');
  }
}

async function relogin(c: Customer): Promise<void> {
  const session = await h.post('/v1/sessions', { phone: c.phone, password: 'password-1' }, { key: null });
  expect(session.statusCode, session.body).toBe(201);
  c.token = session.json().access_token as string;
}

const product = {
  name: 'Overdue',
  schedule_type: 'equal_instalments',
  day_count: '30/360',
  annual_rate: '20',
  terms: [6],
  min_amount: '100000',
  max_amount: '5000000',
  min_score: 350,
};

/** A scored customer who draws 2,000.00 CNY over six months on `code` and spends it (no auto-debit). */
async function borrower(code: string): Promise<{ c: Customer; loan: JsonObject; first: JsonObject }> {
  const c = await newCustomer(h);
  expect((await h.post('/v1/me/credit-consent', {}, { key: c.token })).statusCode).toBe(201);
  expect((await h.post('/v1/me/score', { application }, { key: c.token })).statusCode).toBe(201);
  const applied = await h.post(
    '/v1/loans/applications',
    { product_code: code, amount: '200000', terms: 6 },
    { key: c.token },
  );
  expect(applied.json().status, applied.body).toBe('approved');
  const offer = applied.json().offer as JsonObject;
  const loan = await h.post(`/v1/loans/offers/${offer.id}/accept`, { to: 'wallet' }, { key: c.token });
  expect(loan.statusCode, loan.body).toBe(201);
  await h.ledger.transfer({
    id: randomUUID(),
    debitAccountId: (await h.wallet.getWallet(c.id)).ledgerAccountId,
    creditAccountId: h.wallet.bankClearingAccountId(),
    amount: 200_000n,
  });
  return { c, loan: loan.json(), first: offer.schedule[0] as JsonObject };
}

describe('overdue cash loans: penalty interest within the 24% ceiling, paid in the product’s order', () => {
  it('defaults the penalty rate to 1.5 × the rate only up to 24%, and refuses a product above it', async () => {
    at('2025-06-01');
    await closeThrough('2025-05-31');
    const defaulted = await h.post('/v1/operator/lending/products', { ...product, code: 'od-default' });
    expect(defaulted.statusCode, defaulted.body).toBe(201);
    // 1.5 × 20% = 30% would charge overdue principal more than the 24% ceiling.
    expect(defaulted.json().penalty_rate).toBe('24');
    const low = await h.post('/v1/operator/lending/products', {
      ...product,
      code: 'od-low',
      annual_rate: '7.2',
    });
    expect(low.json().penalty_rate).toBe('10.8');
    const dear = await h.post('/v1/operator/lending/products', {
      ...product,
      code: 'od-dear',
      penalty_rate: '24.01',
    });
    expect([dear.statusCode, dear.json().code]).toEqual([422, 'LOAN_PRODUCT_INVALID']);
    expect(dear.json()).toMatchObject({ penalty_rate: '24.01', cap_percent: '24.0000' });
    const atCap = await h.post('/v1/operator/lending/products', {
      ...product,
      code: 'od-cap',
      penalty_rate: '24',
    });
    expect(atCap.statusCode, atCap.body).toBe(201);
  });

  it('pays penalties where the allocation order puts them, and accrues at most 24% on a product made before', async () => {
    const last = await h.post('/v1/operator/lending/products', {
      ...product,
      code: 'od-last',
      penalty_rate: '18',
      allocation_order: ['interest', 'principal', 'fee', 'penalty'],
    });
    expect(last.statusCode, last.body).toBe(201);
    const old = await h.post('/v1/operator/lending/products', {
      ...product,
      code: 'od-old',
      penalty_rate: '18',
    });
    expect(old.statusCode, old.body).toBe(201);
    // As a product made before the ceiling was checked could have it.
    await h.t.db.query(`UPDATE lending_products SET penalty_rate = 300 WHERE code = 'od-old'`);
    const bob = await borrower('od-last');
    const carl = await borrower('od-old');

    // The first instalments fell due on 2025-07-01 unpaid: 14 days of penalty by 2025-07-15.
    await closeThrough('2025-07-15');
    at('2025-07-16');
    await relogin(bob.c);
    await relogin(carl.c);
    const daily = (principal: bigint, percent: bigint) => (principal * percent) / 36_500n;
    const carlLoan = (await h.get(`/v1/loans/${carl.loan.id}`, carl.c.token)).json();
    expect(BigInt(carlLoan.penalty_accrued)).toBe(14n * daily(BigInt(carl.first.principal as string), 24n));
    const bobLoan = (await h.get(`/v1/loans/${bob.loan.id}`, bob.c.token)).json();
    expect(BigInt(bobLoan.penalty_accrued)).toBe(14n * daily(BigInt(bob.first.principal as string), 18n));
    expect(BigInt(bobLoan.penalty_accrued)).toBeGreaterThan(0n);

    // Less than the first instalment's interest: all of it is interest, the penalty comes last.
    await h.ledger.transfer({
      id: randomUUID(),
      debitAccountId: h.wallet.bankClearingAccountId(),
      creditAccountId: (await h.wallet.getWallet(bob.c.id)).ledgerAccountId,
      amount: 3_000n,
    });
    expect(BigInt(bob.first.interest as string)).toBeGreaterThan(3_000n);
    const paid = await h.post(
      `/v1/loans/${bob.loan.id}/repayments`,
      { amount: '3000' },
      { key: bob.c.token },
    );
    expect(paid.statusCode, paid.body).toBe(201);
    expect(paid.json()).toMatchObject({ interest: '3000', principal: '0', penalty: '0', status: 'posted' });
    await expectLedgerVerifies(h);
  });
});
