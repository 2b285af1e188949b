import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { paymentCode } from '../src/merchants/index.ts';
import { openApiHarness, type ApiHarness, type JsonObject } from './support/api-harness.ts';
import { statementProductTerms } from './support/credit-products.ts';
import { newCustomer, scoreCustomer, type Customer } from './support/customers.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await openApiHarness();
});
afterAll(async () => {
  await h.close();
});
afterEach(async () => {
  const report = await h.ledger.verify();
  expect(report.checks.filter((c) => !c.ok)).toEqual([]);
  expect(report.ok).toBe(true);
});

/** A verified user with a wallet holding `funds` fen (credited from bank clearing, as a top-up). */
const customer = (funds = 100_000n, accountClass: 'I' | 'II' | 'III' = 'II'): Promise<Customer> =>
  newCustomer(h, { funds, accountClass });

async function balance(c: Customer): Promise<string> {
  return (await h.get('/v1/wallet', c.token)).json().balance as string;
}

interface TestMerchant {
  id: string;
  key: string;
}

async function merchant(
  scopes = ['payments:write', 'payments:read', 'refunds:write'],
  name = `好又多便利店 ${randomUUID().slice(0, 8)}`,
): Promise<TestMerchant> {
  const created = await h.post('/v1/operator/merchants', { name, fee_bps: 60 });
  expect(created.statusCode, created.body).toBe(201);
  const id = created.json().id as string;
  const key = await h.post(`/v1/operator/merchants/${id}/api-keys`, { name: 'till 1', scopes });
  expect(key.statusCode, key.body).toBe(201);
  expect(key.json().key).toMatch(/^mlt_mk_[A-Za-z0-9]{32}$/);
  return { id, key: key.json().key as string };
}

async function payable(m: TestMerchant): Promise<string> {
  return (await h.get(`/v1/operator/merchants/${m.id}`)).json().balance as string;
}

async function order(m: TestMerchant, amount: string, extra: JsonObject = {}): Promise<JsonObject> {
  const res = await h.post(
    '/v1/merchant/payment-orders',
    { merchant_reference: randomUUID().slice(0, 20), amount, description: 'coffee', ...extra },
    { key: m.key },
  );
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

async function device(c: Customer, fundingMethod?: string): Promise<{ secret: Buffer; index: number }> {
  const res = await h.post(
    '/v1/me/payment-devices',
    { name: 'my phone', ...(fundingMethod ? { funding_method: fundingMethod } : {}) },
    { key: c.token },
  );
  expect(res.statusCode, res.body).toBe(201);
  return {
    secret: Buffer.from(res.json().secret as string, 'base64'),
    index: res.json().device_index as number,
  };
}

const scan = (m: TestMerchant, code: string, amount: string, idempotencyKey?: string) =>
  h.post('/v1/merchant/payments/scan', { code, amount }, { key: m.key, idempotencyKey });

async function settled(m: TestMerchant, paymentId: string): Promise<JsonObject> {
  for (let i = 0; i < 400; i++) {
    const payment = (await h.get(`/v1/merchant/payments/${paymentId}`, m.key)).json();
    if (payment.status !== 'pending') return payment;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('never settled');
}

describe('payment orders', () => {
  it('the user scans and pays an order once, also when the request is retried', async () => {
    const shop = await merchant(undefined, '好又多便利店');
    const alice = await customer(50_000n);
    const o = await order(shop, '12000');
    expect(o).toMatchObject({ status: 'open', amount: '12000', merchant_name: '好又多便利店' });
    expect(new Date(o.expires_at).getTime() - h.clock.now().getTime()).toBe(15 * 60_000);

    const seen = await h.get(`/v1/payment-orders/${o.id}`, alice.token);
    expect(seen.json()).toMatchObject({ amount: '12000', merchant_name: '好又多便利店', status: 'open' });

    const key = randomUUID();
    const pay = () =>
      h.post(
        `/v1/payment-orders/${o.id}/pay`,
        { method: 'balance' },
        { key: alice.token, idempotencyKey: key },
      );
    const [first, second] = [await pay(), await pay()];
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toMatchObject({
      status: 'succeeded',
      method: 'balance',
      amount: '12000',
      fee_bps: 60,
    });
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.json().id).toBe(first.json().id);
    expect(await balance(alice)).toBe('38000');
    expect(await payable(shop)).toBe('12000');

    const again = await h.post(`/v1/payment-orders/${o.id}/pay`, { method: 'balance' }, { key: alice.token });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('PAYMENT_ORDER_ALREADY_PAID');
    expect((await h.get(`/v1/merchant/payment-orders/${o.id}`, shop.key)).json()).toMatchObject({
      status: 'paid',
      payment_id: first.json().id,
    });
    const cancel = await h.post(`/v1/merchant/payment-orders/${o.id}/cancel`, {}, { key: shop.key });
    expect(cancel.json().code).toBe('PAYMENT_ORDER_ALREADY_PAID');

    const list = await h.get('/v1/merchant/payments?limit=10', shop.key);
    expect(list.json().items.map((p: JsonObject) => p.id)).toEqual([first.json().id]);
  });

  it('a logged-out session pays nothing, though the order and payer are read while its session is', async () => {
    const shop = await merchant();
    const alice = await customer(50_000n);
    const o = await order(shop, '3000');
    const login = await h.post('/v1/sessions', { phone: alice.phone, password: 'password-1' }, { key: null });
    expect(login.statusCode, login.body).toBe(201);
    const { access_token: token, refresh_token: refresh } = login.json() as Record<string, string>;
    const out = await h.post('/v1/sessions/logout', { refresh_token: refresh }, { key: null });
    expect(out.statusCode).toBe(204);

    const refused = await h.post(`/v1/payment-orders/${o.id}/pay`, { method: 'balance' }, { key: token });
    expect([refused.statusCode, refused.json().code]).toEqual([401, 'UNAUTHENTICATED']);
    expect(await balance(alice)).toBe('50000');
    expect((await h.get(`/v1/merchant/payment-orders/${o.id}`, shop.key)).json().status).toBe('open');

    // The user's other session still pays, once.
    const paid = await h.post(`/v1/payment-orders/${o.id}/pay`, { method: 'balance' }, { key: alice.token });
    expect(paid.statusCode, paid.body).toBe(201);
    expect(await balance(alice)).toBe('47000');
  });

  it('an expired or cancelled order cannot be paid; references are unique per merchant', async () => {
    const shop = await merchant();
    const bob = await customer(50_000n);
    const expiring = await order(shop, '1000', { expires_in_seconds: 60 });
    h.clock.advance(61_000);
    expect((await h.get(`/v1/payment-orders/${expiring.id}`, bob.token)).json().status).toBe('expired');
    const late = await h.post(
      `/v1/payment-orders/${expiring.id}/pay`,
      { method: 'balance' },
      { key: bob.token },
    );
    expect(late.statusCode).toBe(409);
    expect(late.json().code).toBe('PAYMENT_ORDER_EXPIRED');

    const cancelled = await order(shop, '1000');
    const cancel = await h.post(`/v1/merchant/payment-orders/${cancelled.id}/cancel`, {}, { key: shop.key });
    expect(cancel.json().status).toBe('cancelled');
    const pay = await h.post(
      `/v1/payment-orders/${cancelled.id}/pay`,
      { method: 'balance' },
      { key: bob.token },
    );
    expect(pay.json().code).toBe('PAYMENT_ORDER_CANCELLED');
    expect(await balance(bob)).toBe('50000');

    const dup = await h.post(
      '/v1/merchant/payment-orders',
      { merchant_reference: cancelled.merchant_reference, amount: '5', description: 'x' },
      { key: shop.key },
    );
    expect(dup.statusCode).toBe(409);
    expect(dup.json().code).toBe('MERCHANT_REFERENCE_TAKEN');
    // An order id sent again with other details is not a retry of it: a retry answered with the first
    // order would drop the notify_url or the expiry the merchant asked for this time.
    const orderId = randomUUID();
    const first = {
      id: orderId,
      merchant_reference: `r-${orderId.slice(0, 8)}`,
      amount: '5',
      description: 'tea',
    };
    const created = await h.post('/v1/merchant/payment-orders', first, { key: shop.key });
    expect(created.statusCode, created.body).toBe(201);
    const retry = await h.post('/v1/merchant/payment-orders', first, { key: shop.key });
    expect(retry.json().id).toBe(orderId);
    for (const changed of [
      { description: 'green tea' },
      { notify_url: 'https://shop.example/notify' },
      { expires_in_seconds: 60 },
    ]) {
      const other = await h.post('/v1/merchant/payment-orders', { ...first, ...changed }, { key: shop.key });
      expect(other.statusCode, JSON.stringify(changed)).toBe(422);
      expect(other.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
    }
    const tooLong = await h.post(
      '/v1/merchant/payment-orders',
      { merchant_reference: 'r-long', amount: '5', description: 'x', expires_in_seconds: 86_401 },
      { key: shop.key },
    );
    expect(tooLong.statusCode).toBe(400);
    const unknown = await h.post(
      `/v1/payment-orders/${(await order(shop, '5')).id}/pay`,
      { method: 'cash' },
      { key: bob.token },
    );
    expect(unknown.json().code).toBe('PAYMENT_METHOD_UNKNOWN');
  });
});

describe('payment codes', () => {
  it('a code pays once, never after it expires, and only once when scanned concurrently', async () => {
    const shop = await merchant();
    const carol = await customer(50_000n);
    const phone = await device(carol);
    const code = paymentCode(phone.secret, phone.index, h.clock.now());
    expect(code).toMatch(/^28\d{16}$/);

    const key = randomUUID();
    const paid = await scan(shop, code, '2500', key);
    expect(paid.statusCode, paid.body).toBe(201);
    expect(paid.json()).toMatchObject({
      status: 'succeeded',
      source: 'code',
      user_id: carol.id,
      amount: '2500',
    });
    const reused = await scan(shop, code, '2500');
    expect(reused.statusCode).toBe(409);
    expect(reused.json().code).toBe('PAYMENT_CODE_USED');
    // The same request again is a replay, not a second payment — also after the code expired.
    h.clock.advance(120_000);
    const retried = await scan(shop, code, '2500', key);
    expect(retried.json().id).toBe(paid.json().id);
    expect(await balance(carol)).toBe('47500');

    const stale = paymentCode(phone.secret, phone.index, h.clock.now());
    h.clock.advance(65_000);
    const expired = await scan(shop, stale, '100');
    expect(expired.statusCode).toBe(422);
    expect(expired.json().code).toBe('PAYMENT_CODE_EXPIRED');
    const bogus = await scan(shop, `28${String(phone.index).padStart(8, '0')}00000000`, '100');
    expect(bogus.json().code).toBe('PAYMENT_CODE_INVALID');

    // About 60 s: the previous step's code still works (unused), once.
    const previous = paymentCode(phone.secret, phone.index, new Date(h.clock.now().getTime() - 30_000));
    const concurrent = await Promise.all(Array.from({ length: 6 }, () => scan(shop, previous, '1000')));
    expect(concurrent.map((r) => r.statusCode).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    expect(await balance(carol)).toBe('46500');
    // A code from an earlier step than one already used is refused too.
    const current = paymentCode(phone.secret, phone.index, h.clock.now());
    expect((await scan(shop, current, '10')).statusCode).toBe(201);
    expect(await payable(shop)).toBe('3510');
  });

  it('a retried scan is a replay only with a code of the same payer', async () => {
    const shop = await merchant();
    const dave = await customer(50_000n);
    const erin = await customer(50_000n);
    const [davePhone, erinPhone] = [await device(dave), await device(erin)];
    const id = randomUUID();
    const scanWithId = (code: string) =>
      h.post('/v1/merchant/payments/scan', { id, code, amount: '1000' }, { key: shop.key });
    const paid = await scanWithId(paymentCode(davePhone.secret, davePhone.index, h.clock.now()));
    expect(paid.json()).toMatchObject({ status: 'succeeded', user_id: dave.id });
    // Dave's phone again (a refreshed code, even after it expired): the same payment.
    h.clock.advance(120_000);
    const again = await scanWithId(paymentCode(davePhone.secret, davePhone.index, h.clock.now()));
    expect(again.json()).toMatchObject({ id: paid.json().id, user_id: dave.id });
    // Erin's code, or a code of no device, under the same id: not Dave's payment answered again.
    const erins = await scanWithId(paymentCode(erinPhone.secret, erinPhone.index, h.clock.now()));
    expect(erins.statusCode, erins.body).toBe(422);
    expect(erins.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
    const nobody = await scanWithId('280000000000000000');
    expect(nobody.statusCode, nobody.body).toBe(422);
    expect(nobody.json().code).toBe('PAYMENT_CODE_INVALID');
    expect(await balance(dave)).toBe('49000');
    expect(await balance(erin)).toBe('50000');
  });

  it('a retried scan with another description is refused, not answered with the first payment', async () => {
    const shop = await merchant();
    const fay = await customer(50_000n);
    const phone = await device(fay);
    const id = randomUUID();
    const scanWithId = (description: string) =>
      h.post(
        '/v1/merchant/payments/scan',
        { id, code: paymentCode(phone.secret, phone.index, h.clock.now()), amount: '1000', description },
        { key: shop.key },
      );
    const paid = await scanWithId('2 coffees');
    expect(paid.statusCode, paid.body).toBe(201);
    h.clock.advance(120_000);
    const other = await scanWithId('3 coffees');
    expect(other.statusCode, other.body).toBe(422);
    expect(other.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
    const again = await scanWithId('2 coffees');
    expect(again.statusCode, again.body).toBe(201);
    expect(again.json()).toMatchObject({ id: paid.json().id, description: '2 coffees' });
    expect(await balance(fay)).toBe('49000');
  });

  it('a revoked device pays nothing: its codes are refused at once, its earlier payments still replay', async () => {
    const shop = await merchant();
    const faye = await customer(50_000n);
    const gus = await customer(50_000n);
    const registered = await h.post('/v1/me/payment-devices', { name: 'old phone' }, { key: faye.token });
    expect(registered.statusCode, registered.body).toBe(201);
    const lost = {
      id: registered.json().id as string,
      secret: Buffer.from(registered.json().secret as string, 'base64'),
      index: registered.json().device_index as number,
    };
    h.clock.advance(1_000); // listed oldest first
    const kept = await device(faye);
    const paymentId = randomUUID();
    const scanWithId = (code: string) =>
      h.post('/v1/merchant/payments/scan', { id: paymentId, code, amount: '1000' }, { key: shop.key });
    const paid = await scanWithId(paymentCode(lost.secret, lost.index, h.clock.now()));
    expect(paid.statusCode, paid.body).toBe(201);

    // Someone else cannot revoke it, nor learn that it exists.
    const foreign = await h.post(`/v1/me/payment-devices/${lost.id}/revoke`, {}, { key: gus.token });
    expect([foreign.statusCode, foreign.json().code]).toEqual([404, 'PAYMENT_DEVICE_NOT_FOUND']);
    const malformed = await h.post('/v1/me/payment-devices/not-a-device/revoke', {}, { key: faye.token });
    expect([malformed.statusCode, malformed.json().code]).toEqual([404, 'PAYMENT_DEVICE_NOT_FOUND']);

    h.clock.advance(30_000);
    const revoked = await h.post(`/v1/me/payment-devices/${lost.id}/revoke`, {}, { key: faye.token });
    expect(revoked.statusCode, revoked.body).toBe(200);
    expect(revoked.json()).toMatchObject({ id: lost.id, revoked_at: h.clock.now().toISOString() });
    expect(revoked.json()).not.toHaveProperty('secret');
    h.clock.advance(1_000);
    const again = await h.post(`/v1/me/payment-devices/${lost.id}/revoke`, {}, { key: faye.token });
    expect(again.json().revoked_at).toBe(revoked.json().revoked_at);

    // The code of the current step, never used, and unexpired: refused, and nothing moves.
    const refused = await scan(shop, paymentCode(lost.secret, lost.index, h.clock.now()), '1000');
    expect(refused.statusCode, refused.body).toBe(422);
    expect(refused.json()).toMatchObject({ code: 'PAYMENT_CODE_INVALID', reason: 'device_revoked' });
    const guessed = await scan(shop, `28${String(lost.index).padStart(8, '0')}00000000`, '1000');
    expect(guessed.json()).toMatchObject({ code: 'PAYMENT_CODE_INVALID' });
    expect(guessed.json()).not.toHaveProperty('reason');
    expect(await balance(faye)).toBe('49000');
    // The merchant's retry of the payment made before the revocation is answered from its record.
    const retried = await scanWithId(paymentCode(lost.secret, lost.index, h.clock.now()));
    expect(retried.statusCode, retried.body).toBe(201);
    expect(retried.json().id).toBe(paymentId);
    // The user's other device still pays.
    const other = await scan(shop, paymentCode(kept.secret, kept.index, h.clock.now()), '500');
    expect(other.statusCode, other.body).toBe(201);
    expect(await balance(faye)).toBe('48500');

    const listed = (await h.get('/v1/me/payment-devices', faye.token)).json().items as JsonObject[];
    expect(listed.map((d) => [d.device_index, d.revoked_at !== null])).toEqual([
      [lost.index, true],
      [kept.index, false],
    ]);
    expect(JSON.stringify(listed)).not.toContain(lost.secret.toString('base64'));
    expect((await h.get('/v1/me/payment-devices', gus.token)).json().items).toEqual([]);
  });
});

describe('how a payment code pays', () => {
  it('is the customer’s choice per device: the merchant cannot charge their credit line', async () => {
    const shop = await merchant();
    const fay = await newCustomer(h, { funds: 100_000n, accountClass: 'III' });
    await scoreCustomer(h, fay);
    const product = await h.post('/v1/operator/paylater/products', {
      code: `scan-${randomUUID().slice(0, 8)}`,
      name: 'Pay later',
      ...statementProductTerms,
    });
    expect(product.statusCode, product.body).toBe(201);
    const bands = await h.post('/v1/operator/paylater/limit-bands', {
      bands: [{ min_score: 350, limit: '1000000' }],
    });
    expect(bands.statusCode, bands.body).toBe(201);
    const line = await h.post('/v1/paylater/line', { product_id: product.json().id }, { key: fay.token });
    expect(line.statusCode, line.body).toBe(201);
    const used = async () => (await h.get('/v1/paylater/line', fay.token)).json().used as string;

    // The wallet device: a merchant asking for pay-later is refused, and nothing moves.
    const wallet = await device(fay);
    const asked = await h.post(
      '/v1/merchant/payments/scan',
      { code: paymentCode(wallet.secret, wallet.index, h.clock.now()), amount: '3000', method: 'pay_later' },
      { key: shop.key },
    );
    expect(asked.statusCode, asked.body).toBe(422);
    expect(asked.json()).toMatchObject({ code: 'PAYMENT_METHOD_NOT_ALLOWED', funding_method: 'balance' });
    expect(await balance(fay)).toBe('100000');
    expect(await used()).toBe('0');

    // A device Fay set to pay later: its codes draw on the line, whatever the merchant sends.
    const credit = await device(fay, 'pay_later');
    const paid = await scan(shop, paymentCode(credit.secret, credit.index, h.clock.now()), '3000');
    expect(paid.json()).toMatchObject({ status: 'succeeded', method: 'pay_later', user_id: fay.id });
    expect(await used()).toBe('3000');
    expect(await balance(fay)).toBe('100000');

    // Only methods that pay without details can back a code.
    const card = await h.post('/v1/me/payment-devices', { funding_method: 'bank_card' }, { key: fay.token });
    expect(card.statusCode, card.body).toBe(400);
    expect(card.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'funding_method' });
    const cash = await h.post('/v1/me/payment-devices', { funding_method: 'cash' }, { key: fay.token });
    expect(cash.json().code).toBe('PAYMENT_METHOD_UNKNOWN');
  });
});

describe('refunds', () => {
  /** A new shop, and a customer with 1,000.00 who paid one of its orders of 100.00 from the wallet. */
  async function paidOrder(): Promise<{ shop: TestMerchant; payer: Customer; payment: JsonObject }> {
    const shop = await merchant();
    const payer = await customer(100_000n);
    const o = await order(shop, '10000');
    const paid = await h.post(`/v1/payment-orders/${o.id}/pay`, { method: 'balance' }, { key: payer.token });
    expect(paid.statusCode, paid.body).toBe(201);
    return { shop, payer, payment: paid.json() };
  }

  it('partial and multiple refunds never exceed the amount paid, also concurrently, and retries refund once', async () => {
    const { shop, payer: dave, payment } = await paidOrder();
    expect(await balance(dave)).toBe('90000');

    const key = randomUUID();
    const refund = () =>
      h.post(
        '/v1/merchant/refunds',
        { payment_id: payment.id, amount: '1000', reason: 'one cup short' },
        { key: shop.key, idempotencyKey: key },
      );
    const [r1, r2] = [await refund(), await refund()];
    expect(r1.statusCode, r1.body).toBe(201);
    expect(r1.json()).toMatchObject({ status: 'succeeded', amount: '1000' });
    expect(r2.json().id).toBe(r1.json().id);
    // The same refund id asked for with another reason is not this refund.
    const otherReason = await h.post(
      '/v1/merchant/refunds',
      { id: r1.json().id, payment_id: payment.id, amount: '1000', reason: 'wrong size' },
      { key: shop.key },
    );
    expect(otherReason.statusCode, otherReason.body).toBe(422);
    expect(otherReason.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await balance(dave)).toBe('91000');
    expect((await h.get(`/v1/merchant/refunds/${r1.json().id}`, shop.key)).json().status).toBe('succeeded');

    // 9,000 left; five concurrent refunds of 4,000: two fit.
    const many = await Promise.all(
      Array.from({ length: 5 }, () =>
        h.post('/v1/merchant/refunds', { payment_id: payment.id, amount: '4000' }, { key: shop.key }),
      ),
    );
    const codes = many.map((r) => r.statusCode).sort();
    expect(codes).toEqual([201, 201, 422, 422, 422]);
    expect(many.find((r) => r.statusCode === 422)!.json().code).toBe('REFUND_EXCEEDS_PAYMENT');
    const after = (await h.get(`/v1/merchant/payments/${payment.id}`, shop.key)).json();
    expect(after.refunded).toBe('9000');
    expect(await balance(dave)).toBe('99000');
    expect(await payable(shop)).toBe('1000');

    const over = await h.post(
      '/v1/merchant/refunds',
      { payment_id: payment.id, amount: '1001' },
      { key: shop.key },
    );
    expect(over.json()).toMatchObject({ code: 'REFUND_EXCEEDS_PAYMENT', refundable: '1000' });
  });

  it('retries of one full refund (the same id) sent at once refund once and each returns it', async () => {
    const { shop, payer: erin, payment } = await paidOrder();
    // The store's cancel refunds this way: the refund's id derived from the order's.
    const id = randomUUID();
    const refunds = await Promise.all(
      [1, 2, 3, 4].map(() =>
        h.merchants.refund({ id, merchantId: shop.id, paymentId: payment.id, amount: 10_000n }),
      ),
    );
    for (const r of refunds) expect(r).toMatchObject({ id, status: 'succeeded', amount: 10_000n });
    expect(await balance(erin)).toBe('100000');
    expect((await h.get(`/v1/merchant/payments/${payment.id}`, shop.key)).json().refunded).toBe('10000');
  });

  it('a refund the merchant cannot cover fails clearly and reserves nothing', async () => {
    const shop = await merchant();
    const erin = await customer(10_000n);
    const o = await order(shop, '5000');
    const payment = (
      await h.post(`/v1/payment-orders/${o.id}/pay`, { method: 'balance' }, { key: erin.token })
    ).json();
    const merchantAccount = (await h.get(`/v1/operator/merchants/${shop.id}`)).json()
      .ledger_account_id as string;
    // The merchant was paid out (settlement, a later step) and holds 1,000 with the platform.
    await h.ledger.transfer({
      id: randomUUID(),
      debitAccountId: merchantAccount,
      creditAccountId: h.wallet.bankClearingAccountId(),
      amount: 4000n,
    });
    const res = await h.post(
      '/v1/merchant/refunds',
      { payment_id: payment.id, amount: '2000' },
      { key: shop.key },
    );
    expect(res.statusCode).toBe(422);
    expect(res.json().code).toBe('MERCHANT_BALANCE_INSUFFICIENT');
    expect((await h.get(`/v1/merchant/payments/${payment.id}`, shop.key)).json().refunded).toBe('0');
    const ok = await h.post(
      '/v1/merchant/refunds',
      { payment_id: payment.id, amount: '1000' },
      { key: shop.key },
    );
    expect(ok.statusCode, ok.body).toBe(201);
  });
});

describe('rules around payments', () => {
  it('account-class limits apply to merchant payments, by order and by code, and by card', async () => {
    const shop = await merchant();
    const frank = await customer(200_000n, 'I'); // Class I: 1,000.00 CNY over the account's life
    const o = await order(shop, '90000');
    expect(
      (await h.post(`/v1/payment-orders/${o.id}/pay`, { method: 'balance' }, { key: frank.token }))
        .statusCode,
    ).toBe(201);
    const phone = await device(frank);
    const over = await scan(shop, paymentCode(phone.secret, phone.index, h.clock.now()), '10001');
    expect(over.statusCode).toBe(422);
    expect(over.json().code).toBe('PAYMENT_LIMIT_EXCEEDED');
    const card = await h.post(
      `/v1/payment-orders/${(await order(shop, '10001')).id}/pay`,
      { method: 'bank_card', card_token: 'card_ok' },
      { key: frank.token },
    );
    expect(card.json().code).toBe('PAYMENT_LIMIT_EXCEEDED');
    // The refused code was not spent: the same code pays an amount within the limit.
    const within = await scan(shop, paymentCode(phone.secret, phone.index, h.clock.now()), '10000');
    expect(within.statusCode, within.body).toBe(201);
    expect(await balance(frank)).toBe('100000');
  });

  it('refuses a second merchant with a name taken, trimmed and case ignored, also when two race', async () => {
    // Before, any number of merchants could be onboarded under one legal name.
    const first = await h.post('/v1/operator/merchants', { name: 'Golden Noodle House', fee_bps: 60 });
    expect(first.statusCode, first.body).toBe(201);
    for (const name of ['Golden Noodle House', '  golden NOODLE house ']) {
      const again = await h.post('/v1/operator/merchants', { name, fee_bps: 30 });
      expect(again.statusCode, again.body).toBe(409);
      expect(again.json()).toMatchObject({
        code: 'MERCHANT_NAME_TAKEN',
        field: 'name',
        merchant_id: first.json().id,
      });
    }
    // A retried onboarding (its Idempotency-Key, or its id) is still the same merchant.
    const replay = await h.post(
      '/v1/operator/merchants',
      { id: first.json().id, name: 'Golden Noodle House', fee_bps: 60 },
      { idempotencyKey: randomUUID() },
    );
    expect(replay.statusCode, replay.body).toBe(201);
    expect(replay.json().id).toBe(first.json().id);

    const racing = await Promise.all(
      ['Silver Tea Shop', 'silver tea shop', 'SILVER TEA SHOP '].map((name) =>
        h.post('/v1/operator/merchants', { name, fee_bps: 60 }),
      ),
    );
    expect(racing.map((r) => r.statusCode).sort()).toEqual([201, 409, 409]);
  });

  it('merchant keys are scoped and revocable; a suspended merchant takes no payments', async () => {
    const shop = await merchant();
    const reader = await h.post(`/v1/operator/merchants/${shop.id}/api-keys`, {
      name: 'reports',
      scopes: ['payments:read'],
    });
    const readKey = reader.json().key as string;
    const denied = await h.post(
      '/v1/merchant/payment-orders',
      { merchant_reference: 'r1', amount: '100', description: 'x' },
      { key: readKey },
    );
    expect(denied.statusCode).toBe(403);
    expect(denied.json().code).toBe('FORBIDDEN_SCOPE');
    expect((await h.get('/v1/merchant/payments', readKey)).statusCode).toBe(200);
    expect((await h.get('/v1/merchant/payments', h.adminKey)).statusCode).toBe(401);
    expect((await h.get(`/v1/operator/merchants/${shop.id}`, shop.key)).statusCode).toBe(401);
    const keys = (await h.get(`/v1/operator/merchants/${shop.id}/api-keys`)).json().items as JsonObject[];
    expect(keys).toHaveLength(2);
    expect(JSON.stringify(keys)).not.toContain(readKey);
    const revoked = await h.post(`/v1/operator/merchants/${shop.id}/api-keys/${reader.json().id}/revoke`, {});
    expect(revoked.json().revoked_at).not.toBeNull();
    expect((await h.get('/v1/merchant/payments', readKey)).statusCode).toBe(401);

    // Another merchant's records are not found with this key.
    const other = await merchant();
    const otherOrder = await order(other, '100');
    expect((await h.get(`/v1/merchant/payment-orders/${otherOrder.id}`, shop.key)).statusCode).toBe(404);

    const gina = await customer(10_000n);
    const open = await order(shop, '100');
    const suspended = await h.post(`/v1/operator/merchants/${shop.id}/suspend`, {});
    expect(suspended.json().status).toBe('suspended');
    const pay = await h.post(`/v1/payment-orders/${open.id}/pay`, { method: 'balance' }, { key: gina.token });
    expect(pay.json().code).toBe('MERCHANT_SUSPENDED');
    const create = await h.post(
      '/v1/merchant/payment-orders',
      { merchant_reference: 'r2', amount: '100', description: 'x' },
      { key: shop.key },
    );
    expect(create.json().code).toBe('MERCHANT_SUSPENDED');
    const phone = await device(gina);
    const scanned = await scan(shop, paymentCode(phone.secret, phone.index, h.clock.now()), '100');
    expect(scanned.json().code).toBe('MERCHANT_SUSPENDED');
    expect(await balance(gina)).toBe('10000');
    await h.post(`/v1/operator/merchants/${shop.id}/activate`, {});
    expect(
      (await h.post(`/v1/payment-orders/${open.id}/pay`, { method: 'balance' }, { key: gina.token }))
        .statusCode,
    ).toBe(201);
  });

  it('a bank_card payment is pending until the bank settles; a declined or failed card leaves the order payable', async () => {
    const shop = await merchant();
    const hana = await customer(0n);
    const o = await order(shop, '3000');
    const key = randomUUID();
    const pay = (body: JsonObject, idempotencyKey?: string) =>
      h.post(`/v1/payment-orders/${o.id}/pay`, body, { key: hana.token, idempotencyKey });

    const declined = await pay({ method: 'bank_card', card_token: 'sandbox_decline' });
    expect(declined.statusCode).toBe(422);
    expect(declined.json().code).toBe('BANK_DECLINED');
    const failing = await pay({ method: 'bank_card', card_token: 'sandbox_fail' });
    expect(failing.json().status).toBe('pending');
    expect(await settled(shop, failing.json().id)).toMatchObject({
      status: 'failed',
      failure_code: 'BANK_DECLINED',
    });
    expect((await h.get(`/v1/payment-orders/${o.id}`, hana.token)).json().status).toBe('open');
    expect((await pay({ method: 'bank_card' })).statusCode).toBe(400);

    const first = await pay({ method: 'bank_card', card_token: 'card_ok' }, key);
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json().status).toBe('pending');
    expect((await h.get(`/v1/payment-orders/${o.id}`, hana.token)).json().status).toBe('pending');
    expect(await settled(shop, first.json().id)).toMatchObject({ status: 'succeeded', method: 'bank_card' });
    expect((await pay({ method: 'bank_card', card_token: 'card_ok' }, key)).json().id).toBe(first.json().id);
    expect((await h.get(`/v1/payment-orders/${o.id}`, hana.token)).json().status).toBe('paid');
    expect(await payable(shop)).toBe('3000');
    expect(await balance(hana)).toBe('0');
    // A card payment is refunded to the wallet.
    const refund = await h.post(
      '/v1/merchant/refunds',
      { payment_id: first.json().id, amount: '3000' },
      { key: shop.key },
    );
    expect(refund.json().status).toBe('succeeded');
    expect(await balance(hana)).toBe('3000');
  });

  it('a retried order payment with another card is refused, not answered with the first payment', async () => {
    const shop = await merchant();
    const ivy = await customer(0n);
    const o = await order(shop, '3000');
    const id = randomUUID();
    const pay = (cardToken: string) =>
      h.post(
        `/v1/payment-orders/${o.id}/pay`,
        { id, method: 'bank_card', card_token: cardToken },
        { key: ivy.token },
      );
    const first = await pay('card_ok');
    expect(first.statusCode, first.body).toBe(201);
    expect(await settled(shop, first.json().id)).toMatchObject({ status: 'succeeded' });
    const otherCard = await pay('card_other');
    expect(otherCard.statusCode, otherCard.body).toBe(422);
    expect(otherCard.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
    const again = await pay('card_ok');
    expect(again.statusCode, again.body).toBe(201);
    expect(again.json().id).toBe(first.json().id);
    expect(await payable(shop)).toBe('3000');
  });
});

describe('listing payments', () => {
  it('lists a merchant’s payments newest first across pages, whatever their ids; an old id cursor is a 400', async () => {
    const shop = await merchant();
    const ivy = await customer(500_000n, 'III');
    const pay = async (amount: string) => {
      const o = await order(shop, amount);
      const res = await h.post(`/v1/payment-orders/${o.id}/pay`, { method: 'balance' }, { key: ivy.token });
      expect(res.statusCode, res.body).toBe(201);
      return res.json();
    };
    // Ids come from the Idempotency-Keys (random here), so they say nothing of when.
    for (const amount of ['100', '200', '300', '400', '500', '600']) {
      h.clock.advance(60_000);
      await pay(amount);
    }
    h.clock.advance(60_000);
    // Two in the same millisecond: the later id first, and a page may end between them.
    const twins = [await pay('700'), await pay('800')].sort((a, b) => (a.id < b.id ? 1 : -1));

    const listed: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/v1/merchant/payments?limit=1${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await h.get(url, shop.key);
      expect(page.statusCode, page.body).toBe(200);
      listed.push(...(page.json().items as JsonObject[]).map((p) => p.amount as string));
      cursor = page.json().next_cursor as string | null;
    } while (cursor);
    expect(listed).toEqual([...twins.map((p) => p.amount), '600', '500', '400', '300', '200', '100']);

    // A cursor of the id-only kind handed out before: refused as unknown, not a server error.
    const old = Buffer.from(twins[0]!.id as string).toString('base64url');
    const stale = await h.get(`/v1/merchant/payments?cursor=${old}`, shop.key);
    expect(stale.statusCode, stale.body).toBe(400);
    expect(stale.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    const garbage = await h.get(
      `/v1/merchant/payments?cursor=${Buffer.from('x|y').toString('base64url')}`,
      shop.key,
    );
    expect(garbage.statusCode, garbage.body).toBe(400);
  });
});
