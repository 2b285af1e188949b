import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../src/jobs/index.ts';
import { paymentCode } from '../src/merchants/index.ts';
import { verifyWebhook } from '../src/webhooks/index.ts';
import { openApiHarness, type ApiHarness, type JsonObject } from './support/api-harness.ts';
import { signUpOverHttp } from './support/customers.ts';
import { expectLedgerVerifies } from './support/ledger-verify.ts';
import { makeResidentId } from './support/resident-ids.ts';
import { startReceiver, type Receiver } from './support/webhook-receiver.ts';

let h: ApiHarness;
let receiver: Receiver;
beforeAll(async () => {
  h = await openApiHarness();
  receiver = await startReceiver(() => ({ status: 200 }));
});
afterAll(async () => {
  await receiver.close();
  await h.close();
});

const json = { key: null } as const;

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function signUp(phone: string, idSuffix: string): Promise<{ id: string; token: string }> {
  const user = await signUpOverHttp(h, phone, 'correct-horse');
  expect(user.statusCode, user.body).toBe(201);
  const session = await h.post('/v1/sessions', { phone, password: 'correct-horse' }, json);
  const token = session.json().access_token as string;
  const kyc = await h.post(
    '/v1/me/identity',
    {
      real_name: '王小明',
      resident_id: makeResidentId('110105', '19900101', idSuffix),
      account_class: 'II',
    },
    { key: token },
  );
  expect(kyc.statusCode, kyc.body).toBe(200);
  expect((await h.post('/v1/wallet', {}, { key: token })).statusCode).toBe(201);
  return { id: user.json().id as string, token };
}

const balance = async (token: string) => (await h.get('/v1/wallet', token)).json().balance as string;

describe('payments end to end over HTTP', () => {
  it('sign up, verify, top up, pay by order and by code, refund, transfer, settle T+1, verify the ledger', async () => {
    const day = '2025-06-02';
    h.clock.set(`${day}T10:00:00+08:00`);

    // The merchant: onboarded by an operator, with a key and a webhook endpoint.
    const onboarded = await h.post('/v1/operator/merchants', { name: '街角咖啡', fee_bps: 60 });
    expect(onboarded.statusCode, onboarded.body).toBe(201);
    const merchant = onboarded.json();
    const ownerSecret = merchant.signing_secret as string;
    expect(ownerSecret).toMatch(/^whsec_/);
    const keyRes = await h.post(`/v1/operator/merchants/${merchant.id}/api-keys`, {
      name: 'till',
      scopes: ['payments:write', 'payments:read', 'refunds:write'],
    });
    const mk = keyRes.json().key as string;
    const endpoint = await h.post(
      '/v1/merchant/webhook-endpoints',
      { url: receiver.url, event_types: ['payment.succeeded', 'settlement.paid'] },
      { key: mk },
    );
    expect(endpoint.statusCode, endpoint.body).toBe(201);
    const endpointSecret = endpoint.json().secret as string;

    // Two users; Alice tops up 500.00 through the sandbox bank.
    const alice = await signUp('13812345678', '001');
    const bob = await signUp('13912345678', '002');
    const topUp = await h.post(
      '/v1/wallet/top-ups',
      { amount: '50000', card_token: 'card_1' },
      { key: alice.token },
    );
    expect(topUp.statusCode, topUp.body).toBe(201);
    await until(
      () => balance(alice.token),
      (b) => b === '50000',
      'the top-up to settle',
    );

    // Pay an order by scanning it: 12.50 (fee 7.5 fen → 8, half-even).
    const order = await h.post(
      '/v1/merchant/payment-orders',
      { merchant_reference: 'A-1001', amount: '1250', description: 'latte', notify_url: receiver.url },
      { key: mk },
    );
    expect(order.statusCode, order.body).toBe(201);
    const byOrder = await h.post(
      `/v1/payment-orders/${order.json().id}/pay`,
      { method: 'balance' },
      { key: alice.token },
    );
    expect(byOrder.json()).toMatchObject({ status: 'succeeded', amount: '1250' });

    // The merchant scans Alice's payment code: 7.50 (fee 4.5 fen → 4, half-even).
    const device = await h.post('/v1/me/payment-devices', { name: 'phone' }, { key: alice.token });
    const secret = Buffer.from(device.json().secret as string, 'base64');
    const code = paymentCode(secret, device.json().device_index as number, h.clock.now());
    const byCode = await h.post('/v1/merchant/payments/scan', { code, amount: '750' }, { key: mk });
    expect(byCode.statusCode, byCode.body).toBe(201);
    expect(byCode.json()).toMatchObject({ status: 'succeeded', source: 'code' });

    // Refund part of the order; transfer to a friend.
    const refund = await h.post(
      '/v1/merchant/refunds',
      { payment_id: byOrder.json().id, amount: '300' },
      { key: mk },
    );
    expect(refund.json()).toMatchObject({ status: 'succeeded', amount: '300' });
    const transfer = await h.post(
      '/v1/transfers',
      { to_user_id: bob.id, amount: '2000' },
      { key: alice.token },
    );
    expect(transfer.statusCode, transfer.body).toBe(201);
    expect(await balance(alice.token)).toBe(String(50_000 - 1250 - 750 + 300 - 2000));
    expect(await balance(bob.token)).toBe('2000');

    // The end-of-day close of the day: fees booked, payout scheduled (held) for tomorrow.
    expect((await h.endOfDay.close(day, { fastForward: true })).status).toBe('completed');
    const [settlement] = (await h.get(`/v1/merchant/settlements?from=${day}&to=${day}`, mk)).json()
      .items as JsonObject[];
    expect(settlement).toMatchObject({
      payments_count: 2,
      gross: '2000',
      refunds_count: 1,
      refunds: '300',
      fees: '12',
      net: '1688',
      payout: { status: 'scheduled', amount: '1688', due_date: addDays(day, 1) },
    });
    expect((await h.get(`/v1/operator/merchants/${merchant.id}`)).json()).toMatchObject({
      balance: '1688',
      available: '0',
    });

    // The next day's close sends the payout; the sandbox bank settles it.
    const next = addDays(day, 1);
    h.clock.set(`${next}T10:00:00+08:00`);
    expect((await h.endOfDay.close(next, { fastForward: true })).status).toBe('completed');
    const paid = await until(
      async () =>
        (await h.get(`/v1/merchant/settlements?from=${day}&to=${next}`, mk)).json().items as JsonObject[],
      (items) => items[0]?.payout.status === 'paid',
      'the payout to be paid',
    );
    expect(paid).toHaveLength(1);
    expect((await h.get(`/v1/operator/merchants/${merchant.id}`)).json()).toMatchObject({ balance: '0' });

    // Webhooks reach the merchant's receiver, signed: the endpoint's with its secret, the order's
    // notify URL with the owner secret from onboarding.
    await until(
      async () => {
        await h.webhooks.deliverDue();
        return receiver.received.length;
      },
      (n) => n >= 4,
      'webhooks to arrive',
    );
    const events = receiver.received.map((r) => {
      const body = r.body.toString('utf8');
      const headers = r.headers as Record<string, string>;
      let signedBy: 'endpoint' | 'owner' | null = null;
      for (const [name, key] of [
        ['endpoint', endpointSecret],
        ['owner', ownerSecret],
      ] as const) {
        try {
          verifyWebhook(key, headers, body, { now: h.clock.now() });
          signedBy = name;
        } catch {
          // not this secret
        }
      }
      return { type: (JSON.parse(body) as JsonObject).type as string, signedBy };
    });
    expect(events).toEqual(
      expect.arrayContaining([
        { type: 'payment.succeeded', signedBy: 'endpoint' },
        { type: 'payment.succeeded', signedBy: 'owner' },
        { type: 'refund.succeeded', signedBy: 'owner' },
        { type: 'settlement.paid', signedBy: 'endpoint' },
      ]),
    );
    expect(events.every((e) => e.signedBy !== null)).toBe(true);
    // A changed byte fails verification.
    const first = receiver.received[0]!;
    const tampered = Buffer.from(first.body);
    tampered[tampered.length - 2] = tampered[tampered.length - 2]! ^ 1;
    expect(() =>
      verifyWebhook(endpointSecret, first.headers as Record<string, string>, tampered, {
        now: h.clock.now(),
      }),
    ).toThrow();

    await expectLedgerVerifies(h);
  }, 60_000);
});
