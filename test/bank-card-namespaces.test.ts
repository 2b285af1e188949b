import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiHarness, type ApiHarness } from './support/api-harness.ts';
import { newCustomer, scoreCustomer } from './support/customers.ts';
import { cashLoanTerms } from './support/credit-products.ts';
import { newMerchant } from './support/merchants.ts';

/**
 * Every module that moves money on a card goes through the wallet's one bank connector, and the bank
 * keys its idempotency on the request's reference. A client chooses its card payment's id and sees
 * its loan's: the two must never name one request at the bank.
 */
let h: ApiHarness;
beforeAll(async () => {
  h = await openApiHarness();
});
afterAll(async () => {
  await h.close();
});

describe('card requests of different modules', () => {
  it('a card payment named by the payer’s loan id is judged on its own card, not taken for the loan’s disbursement', async () => {
    const product = { code: 'ns-cash', name: 'Cash', ...cashLoanTerms };
    expect((await h.post('/v1/operator/lending/products', product)).statusCode).toBe(201);
    const user = await newCustomer(h);
    await scoreCustomer(h, user);
    const applied = await h.post(
      '/v1/loans/applications',
      { product_code: 'ns-cash', amount: '100000', terms: 6 },
      { key: user.token },
    );
    expect(applied.statusCode, applied.body).toBe(201);
    const offerId = applied.json<{ offer: { id: string } }>().offer.id;
    const loan = await h.post(
      `/v1/loans/offers/${offerId}/accept`,
      { to: 'card', card_token: 'card_ok' },
      { key: user.token },
    );
    expect(loan.statusCode, loan.body).toBe(201);
    const loanId = loan.json<{ id: string }>().id;

    const shop = await newMerchant(h, 'namespaces shop');
    const order = await h.post(
      '/v1/merchant/payment-orders',
      { merchant_reference: 'ns-1', amount: '90000', description: 'x' },
      { key: shop.key },
    );
    expect(order.statusCode, order.body).toBe(201);
    const pay = await h.post(
      `/v1/payment-orders/${order.json<{ id: string }>().id}/pay`,
      { id: loanId, method: 'bank_card', card_token: 'sandbox_decline' },
      { key: user.token },
    );
    // The bank declines the card; had it taken the payment for the disbursement, it would have
    // accepted it and later reported it succeeded: the merchant paid with money nobody paid in.
    expect(pay.statusCode, pay.body).toBe(422);
    expect(pay.json().code).toBe('BANK_DECLINED');
    await new Promise((resolve) => setTimeout(resolve, 400));
    await h.merchants.reconcileCardPayments(0);
    const payment = await h.get(`/v1/merchant/payments/${loanId}`, shop.key);
    expect(payment.json<{ status: string }>().status).toBe('failed');
  });
});
