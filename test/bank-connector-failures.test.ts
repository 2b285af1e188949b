import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BankRequest } from '../src/wallet/index.ts';
import { openApiHarness, type ApiHarness } from './support/api-harness.ts';
import { newCustomer } from './support/customers.ts';
import { newMerchant } from './support/merchants.ts';

/**
 * A bank connector that fails with an ordinary error (a reset connection, a connector's own bug)
 * leaves what the bank did unknown, as a timeout does: the request is answered as pending, never
 * with a 500, and reconciliation asks the bank and settles it.
 */
let h: ApiHarness;
let restore: (() => void) | undefined;
beforeAll(async () => {
  h = await openApiHarness();
});
afterEach(() => {
  restore?.();
  restore = undefined;
});
afterAll(async () => {
  await h.close();
});

/** Makes the connector's requests fail with `error`, after passing them on when `reachesBank`. */
function breakConnector(error: Error, reachesBank: boolean): void {
  const { requestDebit, requestCredit } = h.bank;
  const broken =
    (call: (request: BankRequest) => Promise<{ bankReference: string }>) => async (request: BankRequest) => {
      if (reachesBank) await call.call(h.bank, request);
      throw error;
    };
  h.bank.requestDebit = broken(requestDebit);
  h.bank.requestCredit = broken(requestCredit);
  restore = () => {
    h.bank.requestDebit = requestDebit;
    h.bank.requestCredit = requestCredit;
  };
}

const balance = async (token: string) => (await h.get('/v1/wallet', token)).json();

describe('a bank connector failing with an ordinary error', () => {
  it('answers a top-up and a withdrawal as pending; reconciliation fails those the bank never got', async () => {
    const user = await newCustomer(h, { funds: 10_000n });
    breakConnector(new TypeError("Cannot read properties of undefined (reading 'token')"), false);
    const topUp = await h.post(
      '/v1/wallet/top-ups',
      { amount: '500', card_token: 'card_ok' },
      { key: user.token },
    );
    expect(topUp.statusCode, topUp.body).toBe(201);
    expect(topUp.json()).toMatchObject({ status: 'pending' });
    const withdrawal = await h.post(
      '/v1/wallet/withdrawals',
      { amount: '4000', card_token: 'card_ok' },
      { key: user.token },
    );
    expect(withdrawal.statusCode, withdrawal.body).toBe(201);
    expect(withdrawal.json()).toMatchObject({ status: 'pending' });
    expect(await balance(user.token)).toMatchObject({ balance: '10000', available: '6000' });
    restore!();
    h.clock.advance(61_000);
    await h.wallet.reconcileBankOperations();
    for (const [kind, answer] of [
      ['top-ups', topUp],
      ['withdrawals', withdrawal],
    ] as const)
      expect((await h.get(`/v1/wallet/${kind}/${answer.json().id}`, user.token)).json()).toMatchObject({
        status: 'failed',
        failure_code: 'BANK_DECLINED',
      });
    expect(await balance(user.token)).toMatchObject({ balance: '10000', available: '10000' });
  });

  it('answers a bank_card payment as pending; the bank settles it when the request did reach it', async () => {
    const shop = await newMerchant(h, 'broken connector shop');
    const user = await newCustomer(h, { funds: 0n });
    const order = await h.post(
      '/v1/merchant/payment-orders',
      { merchant_reference: 'broken-1', amount: '2500', description: 'x' },
      { key: shop.key },
    );
    expect(order.statusCode, order.body).toBe(201);
    const orderId = order.json<{ id: string }>().id;
    breakConnector(new Error('read ECONNRESET'), true);
    const pay = await h.post(
      `/v1/payment-orders/${orderId}/pay`,
      { method: 'bank_card', card_token: 'card_ok' },
      { key: user.token },
    );
    expect(pay.statusCode, pay.body).toBe(201);
    expect(pay.json()).toMatchObject({ status: 'pending' });
    const paymentId = pay.json<{ id: string }>().id;
    for (let i = 0; i < 400; i++) {
      if ((await h.get(`/v1/merchant/payments/${paymentId}`, shop.key)).json().status !== 'pending') break;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect((await h.get(`/v1/merchant/payments/${paymentId}`, shop.key)).json()).toMatchObject({
      status: 'succeeded',
    });
    expect((await h.get(`/v1/payment-orders/${orderId}`, user.token)).json().status).toBe('paid');
  });

  it('a bank_card payment the bank never got is failed by reconciliation and its order payable again', async () => {
    const shop = await newMerchant(h, 'broken connector shop');
    const user = await newCustomer(h, { funds: 0n });
    const order = await h.post(
      '/v1/merchant/payment-orders',
      { merchant_reference: 'broken-2', amount: '2500', description: 'x' },
      { key: shop.key },
    );
    const orderId = order.json<{ id: string }>().id;
    breakConnector(new TypeError('fetch failed'), false);
    const pay = await h.post(
      `/v1/payment-orders/${orderId}/pay`,
      { method: 'bank_card', card_token: 'card_ok' },
      { key: user.token },
    );
    expect(pay.statusCode, pay.body).toBe(201);
    expect(pay.json()).toMatchObject({ status: 'pending' });
    restore!();
    h.clock.advance(61_000);
    await h.merchants.reconcileCardPayments();
    expect((await h.get(`/v1/merchant/payments/${pay.json().id}`, shop.key)).json()).toMatchObject({
      status: 'failed',
    });
    expect((await h.get(`/v1/payment-orders/${orderId}`, user.token)).json().status).toBe('open');
  });
});
