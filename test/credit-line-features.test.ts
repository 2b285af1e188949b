import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { behaviourFeatures } from '../src/credit/index.ts';
import { openApiHarness, type ApiHarness } from './support/api-harness.ts';
import { businessDays } from './support/business-days.ts';
import { newCustomer, scoreCustomer } from './support/customers.ts';
import { statementProductTerms } from './support/credit-products.ts';
import { newMerchant } from './support/merchants.ts';

/**
 * The behaviour score over the real pay-later line: a statement whose due date has not passed
 * has no repayment status yet, so it counts neither as paid on time nor as late, and the score's
 * reasons never name it.
 */
let h: ApiHarness;
beforeAll(async () => {
  h = await openApiHarness();
});
afterAll(async () => {
  await h.close();
});

const { customers, advanceTo } = businessDays(() => h);

const statuses = (features: Record<string, number>) =>
  ['PAY_0', 'PAY_2', 'PAY_3', 'PAY_4', 'PAY_5', 'PAY_6'].map((name) => features[name]);

describe('credit features from pay-later statements', () => {
  it('a statement not yet due has no repayment status; once due and paid in full it is "paid in full"', async () => {
    await advanceTo('2025-06-02');
    const product = await h.post('/v1/operator/paylater/products', {
      code: 'due-later',
      name: 'Due later',
      ...statementProductTerms,
    });
    expect(product.statusCode, product.body).toBe(201);
    const bands = await h.post('/v1/operator/paylater/limit-bands', {
      bands: [{ min_score: 350, limit: '1000000' }],
    });
    expect(bands.statusCode, bands.body).toBe(201);
    const shop = await newMerchant(h, '到期小店');
    const c = await newCustomer(h, { funds: 500_000n });
    customers.push(c);
    await scoreCustomer(h, c);
    const opened = await h.post('/v1/paylater/line', { product_id: product.json().id }, { key: c.token });
    expect(opened.statusCode, opened.body).toBe(201);

    await advanceTo('2025-06-05');
    const order = await h.post(
      '/v1/merchant/payment-orders',
      { merchant_reference: 'DUE-1', amount: '300000', description: 'a bike' },
      { key: shop.key },
    );
    expect(order.statusCode, order.body).toBe(201);
    const paid = await h.post(
      `/v1/payment-orders/${order.json().id}/pay`,
      { method: 'pay_later' },
      { key: c.token },
    );
    expect(paid.statusCode, paid.body).toBe(201);

    // 2 July: the statement of 1 July (due on the 10th) is the line's only one, not due yet.
    await advanceTo('2025-07-02');
    const before = (await h.paylater.lineHistories([c.id], h.clock.now())).get(c.id)!;
    expect(before.statements).toHaveLength(1);
    expect(before.statements[0]).toMatchObject({ due: false, statementBalance: 300_000n });
    // No status known: the six months read as "no use", not as a month of revolving (0).
    expect(statuses(behaviourFeatures(before))).toEqual([-2, -2, -2, -2, -2, -2]);
    const early = await h.post('/v1/me/score', {}, { key: c.token });
    expect(early.statusCode, early.body).toBe(201);
    expect(early.json().model).toBe('behaviour');
    const codes = (early.json().reasons as Array<{ code: string }>).map((r) => r.code);
    // B02–B07: a statement's status; B27–B30, B32: the summaries of the statuses.
    for (const code of codes) expect(code).not.toMatch(/^B(0[2-7]|2[7-9]|30|32)$/);

    // Repaid in full on the due date; the day after, the statement is due and paid in full (−1).
    await advanceTo('2025-07-10');
    const repaid = await h.post('/v1/paylater/repayments', { amount: '300000' }, { key: c.token });
    expect(repaid.statusCode, repaid.body).toBe(201);
    await advanceTo('2025-07-11');
    const after = (await h.paylater.lineHistories([c.id], h.clock.now())).get(c.id)!;
    expect(after.statements[0]).toMatchObject({ due: true, monthsPastDue: -1 });
    expect(statuses(behaviourFeatures(after))).toEqual([-1, -2, -2, -2, -2, -2]);
  });
});
