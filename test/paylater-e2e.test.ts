import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../src/jobs/index.ts';
import { openApiHarness, type ApiHarness, type JsonObject } from './support/api-harness.ts';
import { businessDays } from './support/business-days.ts';
import { newCustomer, scoreCustomer, type Customer } from './support/customers.ts';
import { expectLedgerVerifies } from './support/ledger-verify.ts';
import { statementProductTerms } from './support/credit-products.ts';
import { productAccountId } from '../src/paylater/accounts.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await openApiHarness();
});
afterAll(async () => {
  await h.close();
});

const { customers, advanceTo } = businessDays(() => h);

const line = async (c: Customer) => (await h.get('/v1/paylater/line', c.token)).json();
const walletBalance = async (c: Customer) =>
  BigInt((await h.get('/v1/wallet', c.token)).json().balance as string);
const statementOn = async (c: Customer, date: string) =>
  ((await h.get('/v1/paylater/statements', c.token)).json().items as JsonObject[]).find(
    (s) => s.statement_date === date,
  )!;

describe('pay-later over HTTP across ~90 business days', () => {
  it('purchases, a statement paid in full, one revolved, one in 6 instalments, a refund; the ledger verifies', async () => {
    await advanceTo('2025-06-02');
    // Operators: a Huabei-style product and the band table.
    const product = await h.post('/v1/operator/paylater/products', {
      code: 'huabei',
      name: '花呗',
      ...statementProductTerms,
    });
    expect(product.statusCode, product.body).toBe(201);
    const bands = await h.post('/v1/operator/paylater/limit-bands', {
      bands: [
        { min_score: 350, limit: '1000000' },
        { min_score: 700, limit: '2000000' },
      ],
    });
    expect(bands.statusCode, bands.body).toBe(201);
    // A bill due on its own statement date would be overdue before the close that writes it ends.
    const dueSameDay = await h.post('/v1/operator/paylater/products', {
      code: 'fenfu',
      name: '分付',
      ...statementProductTerms,
      mode: 'daily',
      due_days: 0,
    });
    expect(dueSameDay.statusCode, dueSameDay.body).toBe(400);
    expect(dueSameDay.json().code).toBe('VALIDATION_FAILED');

    // The merchant.
    const merchant = (await h.post('/v1/operator/merchants', { name: '小米之家', fee_bps: 60 })).json();
    const mk = (
      await h.post(`/v1/operator/merchants/${merchant.id}/api-keys`, {
        name: 'till',
        scopes: ['payments:write', 'payments:read', 'refunds:write'],
      })
    ).json().key as string;
    const pay = async (c: Customer, amount: string, body: JsonObject = { method: 'pay_later' }) => {
      const order = await h.post(
        '/v1/merchant/payment-orders',
        { merchant_reference: `R-${Math.random()}`, amount, description: 'phone' },
        { key: mk },
      );
      const paid = await h.post(`/v1/payment-orders/${order.json().id}/pay`, body, { key: c.token });
      expect(paid.statusCode, paid.body).toBe(201);
      expect(paid.json().status).toBe('succeeded');
      return paid.json().id as string;
    };

    // Three users, scored, each with a line and a wallet with money in it.
    const [full, revolver, splitter] = [
      await newCustomer(h, { funds: 500_000n }),
      await newCustomer(h, { funds: 500_000n }),
      await newCustomer(h, { funds: 500_000n }),
    ];
    const minor = await newCustomer(h, { birth: '20100101' });
    customers.push(full, revolver, splitter);
    for (const c of [full, revolver, splitter]) {
      await scoreCustomer(h, c);
      const opened = await h.post('/v1/paylater/line', { product_id: product.json().id }, { key: c.token });
      expect(opened.statusCode, opened.body).toBe(201);
      expect(['1000000', '2000000']).toContain(opened.json().limit);
    }
    const refused = await h.post(
      '/v1/paylater/line',
      { product_id: product.json().id },
      { key: minor.token },
    );
    expect(refused.statusCode).toBe(422);
    expect(refused.json().code).toBe('PAYLATER_NOT_ELIGIBLE');
    expect(
      (await h.post('/v1/paylater/auto-repay', { enabled: false }, { key: revolver.token })).json()
        .auto_repay,
    ).toBe(false);

    // June: purchases on the line; a partial refund lowers the line's balance, not the wallet.
    await advanceTo('2025-06-05');
    await pay(full, '30000');
    await pay(revolver, '60000');
    await pay(splitter, '120000');
    const refundable = await pay(splitter, '20000');
    const walletBefore = await walletBalance(splitter);
    const refund = await h.post(
      '/v1/merchant/refunds',
      { payment_id: refundable, amount: '8000' },
      { key: mk },
    );
    expect(refund.statusCode, refund.body).toBe(201);
    expect(refund.json().status).toBe('succeeded');
    expect(await walletBalance(splitter)).toBe(walletBefore);
    expect((await line(splitter)).used).toBe('132000');
    expect((await line(full)).available).toBe(String(BigInt((await line(full)).limit as string) - 30_000n));

    // The statement of 1 July: due on the 10th, minimum 10%.
    await advanceTo('2025-07-02');
    const bill = (await line(revolver)).bill;
    expect(bill).toMatchObject({
      statement_date: '2025-07-01',
      due_date: '2025-07-10',
      principal: '60000',
      min_payment: '6000',
      interest: '0',
    });
    // The splitter turns the statement into 6 instalments; the offers show their APR first.
    const splitBill = await statementOn(splitter, '2025-07-01');
    const offers = await h.get(`/v1/paylater/statements/${splitBill.id}/instalment-offers`, splitter.token);
    expect(offers.statusCode, offers.body).toBe(200);
    const six = (offers.json().items as JsonObject[]).find((o) => o.terms === 6)!;
    expect(Object.keys(six)[0]).toBe('apr_percent');
    expect(six.headline).toMatch(/^APR \d+\.\d\d% · 6 × /);
    expect(Number(six.apr_percent)).toBeGreaterThan(Number(six.fee_rate_percent));
    const plan = await h.post(
      `/v1/paylater/statements/${splitBill.id}/instalments`,
      { terms: 6 },
      { key: splitter.token },
    );
    expect(plan.statusCode, plan.body).toBe(201);
    // 132,000 over 6: 22,000 a month; fee 5,940 (4.5%), 990 a month.
    expect(plan.json().periods.map((p: JsonObject) => [p.principal, p.fee])).toEqual(
      Array(6).fill(['22000', '990']),
    );
    expect(plan.json().apr_percent).toBe(six.apr_percent);

    // The revolver pays the minimum by the due date; the full payer's auto-repayment pays it all.
    await advanceTo('2025-07-05');
    const min = await h.post('/v1/paylater/repayments', { amount: '6000' }, { key: revolver.token });
    expect(min.statusCode, min.body).toBe(201);
    await advanceTo('2025-08-02');
    const paidInFull = await statementOn(full, '2025-07-01');
    expect(paidInFull).toMatchObject({ status: 'paid', paid_on: '2025-07-10', interest: '0', penalty: '0' });
    expect(await walletBalance(full)).toBe(500_000n - 30_000n);
    // 54,000 left × 0.05 % = 27.00 fen a day, 11 July … 1 August (22 days) = 594, no penalty.
    const revolved = await statementOn(revolver, '2025-07-01');
    expect(revolved).toMatchObject({
      interest: '594',
      penalty: '0',
      status: 'open',
      unpaid: String(54_000 + 594),
    });
    const august = await statementOn(revolver, '2025-08-01');
    expect(august).toMatchObject({ principal: '0', carried: String(54_000 + 594) });
    const owed = (await line(revolver)).total_owed as string;
    expect(owed).toBe(String(54_000 + 594));
    const payoff = await h.post('/v1/paylater/repayments', { amount: owed }, { key: revolver.token });
    expect(payoff.json()).toMatchObject({ principal: '54000', charges: '594' });
    // The first instalment is on August's statement, auto-repaid on the 10th.
    const splitAugust = await statementOn(splitter, '2025-08-01');
    expect(splitAugust).toMatchObject({ principal: '22000', fees: '990', min_payment: String(2_200 + 990) });

    // On to September (about 90 business days in all).
    await advanceTo('2025-09-02');
    expect(await statementOn(splitter, '2025-08-01')).toMatchObject({ status: 'paid', interest: '0' });
    expect(await statementOn(splitter, '2025-09-01')).toMatchObject({ principal: '22000', fees: '990' });
    expect((await line(splitter)).used).toBe(String(132_000 - 22_000 - 22_000 + 22_000));
    expect((await line(revolver)).total_owed).toBe('0');
    const plans = (await h.get('/v1/paylater/plans', splitter.token)).json().items as JsonObject[];
    expect(plans[0]!.periods.filter((p: JsonObject) => p.billed)).toHaveLength(2);
    // The total owed shown pays the line off: September's bill and the four months not billed yet
    // (whose fees are then never charged).
    const splitterOwed = (await line(splitter)).total_owed as string;
    expect(splitterOwed).toBe(String(22_000 + 990 + 4 * 22_000));
    const splitterPayoff = await h.post(
      '/v1/paylater/repayments',
      { amount: splitterOwed },
      { key: splitter.token },
    );
    expect(splitterPayoff.statusCode, splitterPayoff.body).toBe(201);
    expect(splitterPayoff.json()).toMatchObject({ principal: String(5 * 22_000), charges: '990' });
    expect(await line(splitter)).toMatchObject({ used: '0', total_owed: '0', instalment_principal: '0' });
    const repayMore = await h.post(
      '/v1/paylater/repayments',
      { amount: '99999999' },
      { key: revolver.token },
    );
    expect(repayMore.statusCode).toBe(422);
    expect(repayMore.json().code).toBe('PAYLATER_REPAYMENT_EXCEEDS_BALANCE');

    // The score now reads the line's statements: the behaviour model (DESIGN §2.3).
    const rescored = await h.post('/v1/me/score', {}, { key: revolver.token });
    expect(rescored.statusCode, rescored.body).toBe(201);
    expect(rescored.json().model).toBe('behaviour');

    await expectLedgerVerifies(h);
    // About 90 closes over HTTP: past the default minute on a busy machine.
  }, 180_000);

  it('refunds of interest-free instalments (fee_payer merchant) give the merchant back the fee of the refunded part; the ledger verifies', async () => {
    const today = h.clock.now().toISOString().slice(0, 10);
    const product = await h.post('/v1/operator/paylater/products', {
      code: 'huabei-merchant-fees',
      name: '花呗 免息',
      ...statementProductTerms,
    });
    expect(product.statusCode, product.body).toBe(201);
    const productId = product.json().id as string;
    const merchant = (await h.post('/v1/operator/merchants', { name: '免息商家', fee_bps: 0 })).json();
    const mk = (
      await h.post(`/v1/operator/merchants/${merchant.id}/api-keys`, {
        name: 'till',
        scopes: ['payments:write', 'payments:read', 'refunds:write'],
      })
    ).json().key as string;
    const buyer = await newCustomer(h, { funds: 100_000n });
    customers.push(buyer);
    await scoreCustomer(h, buyer);
    expect(
      (await h.post('/v1/paylater/line', { product_id: productId }, { key: buyer.token })).statusCode,
    ).toBe(201);
    const pay = async (amount: string, terms: number) => {
      const order = await h.post(
        '/v1/merchant/payment-orders',
        { merchant_reference: `F-${Math.random()}`, amount, description: 'laptop' },
        { key: mk },
      );
      const paid = await h.post(
        `/v1/payment-orders/${order.json().id}/pay`,
        { method: 'pay_later_instalments', terms, fee_payer: 'merchant' },
        { key: buyer.token },
      );
      expect(paid.statusCode, paid.body).toBe(201);
      return paid.json().id as string;
    };
    const refund = async (paymentId: string, amount: string, key?: string) => {
      const r = await h.post(
        '/v1/merchant/refunds',
        { payment_id: paymentId, amount },
        { key: mk, idempotencyKey: key },
      );
      expect(r.statusCode, r.body).toBe(201);
      expect(r.json().status).toBe('succeeded');
    };
    const balance = async (account: 'merchantFee' | 'merchantFeeRefund' | 'fee') => {
      const a = await h.ledger.getAccount(productAccountId(productId, account)).catch(() => undefined);
      return a ? a.balances.posted : 0n;
    };
    const whole = await pay('120000', 6); // the merchant pays 120,000 × 4.50% = 5,400
    const split = await pay('100001', 3); // 100,001 × 2.30% = 2,300.023 → 2,300
    await refund(whole, '120000', 'full-refund');
    await refund(whole, '120000', 'full-refund'); // a retry: the fee goes back once
    await Promise.all([refund(split, '30000'), refund(split, '20000')]);
    await advanceTo(addDays(today, 2));
    // All of the first fee back; of the second, half-even 2,300 × 50,000 / 100,001 = 1,149.99 → 1,150.
    expect(-(await balance('merchantFeeRefund'))).toBe(5_400n + 1_150n);
    expect(-(await balance('merchantFee'))).toBe(2_300n - 1_150n);
    expect(await balance('fee')).toBe(5_400n + 2_300n);
    // The close paid the merchant out: a new sale funds the last refund.
    const order = await h.post(
      '/v1/merchant/payment-orders',
      { merchant_reference: `F-${Math.random()}`, amount: '60000', description: 'bag' },
      { key: mk },
    );
    const sale = await h.post(
      `/v1/payment-orders/${order.json().id}/pay`,
      { method: 'pay_later' },
      { key: buyer.token },
    );
    expect(sale.statusCode, sale.body).toBe(201);
    await refund(split, '50001');
    await advanceTo(addDays(today, 3));
    expect(-(await balance('merchantFeeRefund'))).toBe(5_400n + 2_300n);
    expect(await balance('merchantFee')).toBe(0n);
    await expectLedgerVerifies(h);
  }, 60_000);
});
