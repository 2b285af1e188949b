import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiHarness, type ApiHarness, type ApiResponse } from './support/api-harness.ts';
import { newCustomer, scoreCustomer } from './support/customers.ts';

/**
 * The consent to credit scoring names the platform as the score's only recipient: a Pay Points
 * merchant learns whether its deposit is waived, never the user's score.
 */
let h: ApiHarness;
beforeAll(async () => {
  h = await openApiHarness();
});
afterAll(async () => {
  await h.close();
});

describe('Pay Points orders as the merchant sees them', () => {
  it('carry the deposit decision but not the score, in every merchant answer and replay', async () => {
    const created = await h.post('/v1/operator/merchants', {
      name: `租借 ${randomUUID().slice(0, 8)}`,
      fee_bps: 60,
    });
    expect(created.statusCode, created.body).toBe(201);
    const merchantId = created.json().id as string;
    const apiKey = await h.post(`/v1/operator/merchants/${merchantId}/api-keys`, {
      name: 'desk',
      scopes: ['payments:write', 'payments:read'],
    });
    const key = apiKey.json().key as string;
    const user = await newCustomer(h, { funds: 100_000n });
    await scoreCustomer(h, user);

    const offered = await h.post(
      '/v1/merchant/service-orders',
      { merchant_reference: 'rent-1', description: 'Power bank', risk_amount: '50000', score_bar: 350 },
      { key },
    );
    expect(offered.statusCode, offered.body).toBe(201);
    const id = offered.json().id as string;
    const accepted = await h.post(`/v1/service-orders/${id}/accept`, {}, { key: user.token });
    expect(accepted.statusCode, accepted.body).toBe(200);
    // The user sees their own score on the order.
    expect(accepted.json()).toMatchObject({ decision: 'score_cleared_bar', deposit: 'waived' });
    expect(accepted.json().score).toEqual(expect.any(Number));
    expect(accepted.json().score_id).toEqual(expect.any(String));

    const notShared = (r: ApiResponse) => {
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json()).toMatchObject({ decision: 'score_cleared_bar', score: null, score_id: null });
      expect(r.body).not.toContain(accepted.json().score_id as string);
    };
    notShared(await h.get(`/v1/merchant/service-orders/${id}`, key));
    const completeKey = randomUUID();
    const complete = () =>
      h.post(
        `/v1/merchant/service-orders/${id}/complete`,
        { final_fee: '1000' },
        { key, idempotencyKey: completeKey },
      );
    notShared(await complete());
    notShared(await complete()); // the stored replay too

    // Also after the user withdraws the consent.
    expect((await h.post('/v1/me/credit-consent/withdraw', {}, { key: user.token })).statusCode).toBe(200);
    notShared(await h.get(`/v1/merchant/service-orders/${id}`, key));
  });
});
