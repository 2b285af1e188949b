import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { derivedId } from '../src/core/index.ts';
import { createLedger, type Ledger } from '../src/ledger/index.ts';
import type { Merchants } from '../src/merchants/index.ts';
import { ABANDONED_ACCEPTANCE_MS, createPayPoints } from '../src/paypoints/index.ts';
import { openApiHarness, type ApiHarness, type JsonObject } from './support/api-harness.ts';
import { newCustomer, type Customer } from './support/customers.ts';
import { statementProductTerms } from './support/credit-products.ts';

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

interface TestMerchant {
  id: string;
  key: string;
}

async function merchant(scopes: string[] = ['payments:write', 'payments:read']): Promise<TestMerchant> {
  const created = await h.post('/v1/operator/merchants', {
    name: `共享充电宝 ${randomUUID().slice(0, 8)}`,
    fee_bps: 60,
  });
  expect(created.statusCode, created.body).toBe(201);
  const id = created.json().id as string;
  const key = await h.post(`/v1/operator/merchants/${id}/api-keys`, {
    name: 'rental desk',
    scopes,
  });
  expect(key.statusCode, key.body).toBe(201);
  return { id, key: key.json().key as string };
}

const application = {
  amount: '1500000',
  duration_months: 12,
  purpose: 'used_car',
  employment: '1_to_4_years',
  housing: 'rent',
};

/** A customer who consented and has a first score (application model); returns the score. */
async function scored(c: Customer): Promise<JsonObject> {
  expect((await h.post('/v1/me/credit-consent', {}, { key: c.token })).statusCode).toBe(201);
  const s = await h.post('/v1/me/score', { application }, { key: c.token });
  expect(s.statusCode, s.body).toBe(201);
  return s.json();
}

async function wallet(c: Customer): Promise<{ balance: bigint; available: bigint }> {
  const w = (await h.get('/v1/wallet', c.token)).json();
  return { balance: BigInt(w.balance as string), available: BigInt(w.available as string) };
}

async function payable(m: TestMerchant): Promise<bigint> {
  return BigInt((await h.get(`/v1/operator/merchants/${m.id}`)).json().balance as string);
}

async function offer(
  m: TestMerchant,
  riskAmount: string,
  scoreBar: number,
  maxDays?: number,
): Promise<JsonObject> {
  const res = await h.post(
    '/v1/merchant/service-orders',
    {
      merchant_reference: `rent-${randomUUID().slice(0, 8)}`,
      description: 'Power bank rental',
      risk_amount: riskAmount,
      score_bar: scoreBar,
      max_days: maxDays,
    },
    { key: m.key },
  );
  expect(res.statusCode, res.body).toBe(201);
  expect(res.json()).toMatchObject({ status: 'created', user_id: null, deposit: null });
  return res.json();
}

const accept = (c: Customer, id: string, body: JsonObject = {}, idempotencyKey?: string) =>
  h.post(`/v1/service-orders/${id}/accept`, body, { key: c.token, idempotencyKey });
const complete = (m: TestMerchant, id: string, fee: string, idempotencyKey?: string) =>
  h.post(`/v1/merchant/service-orders/${id}/complete`, { final_fee: fee }, { key: m.key, idempotencyKey });
const topUp = async (c: Customer, amount: bigint) =>
  h.ledger.transfer({
    id: randomUUID(),
    debitAccountId: h.wallet.bankClearingAccountId(),
    creditAccountId: (await h.wallet.getWallet(c.id)).ledgerAccountId,
    amount,
  });

describe('Pay Points service orders over HTTP', () => {
  it('a score that clears the bar waives the deposit; completion charges the fee to the merchant', async () => {
    const m = await merchant();
    const c = await newCustomer(h, { funds: 100_000n });
    const s = await scored(c);
    const o = await offer(m, '50000', 350); // every score is at least 350: this bar is always cleared

    const seen = await h.get(`/v1/service-orders/${o.id}`, c.token);
    expect(seen.statusCode, seen.body).toBe(200);
    const accepted = await accept(c, o.id);
    expect(accepted.statusCode, accepted.body).toBe(200);
    expect(accepted.json()).toMatchObject({
      status: 'active',
      user_id: c.id,
      deposit: 'waived',
      decision: 'score_cleared_bar',
      deposit_hold_id: null,
      method: 'balance',
    });
    // Scored at acceptance, with the same inputs as the first score: the same score.
    expect(accepted.json().score).toBe(s.score);
    expect(await wallet(c)).toEqual({ balance: 100_000n, available: 100_000n });

    const before = await payable(m);
    const done = await complete(m, o.id, '1234');
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json()).toMatchObject({
      status: 'completed',
      final_fee: '1234',
      deposit_used: '0',
      charged: '1234',
      debt: '0',
      debt_outstanding: '0',
    });
    expect(await wallet(c)).toEqual({ balance: 98_766n, available: 98_766n });
    expect((await payable(m)) - before).toBe(1234n);
    // The fee is an ordinary merchant payment (settled, netted of fees, refundable like any other).
    const payments = (await h.get('/v1/merchant/payments', m.key)).json().items as JsonObject[];
    expect(payments.map((p) => [p.amount, p.user_id, p.status])).toContainEqual(['1234', c.id, 'succeeded']);

    // A retry of the completion changes nothing; another fee is refused.
    const again = await complete(m, o.id, '1234');
    expect(again.json().charged).toBe('1234');
    expect((await wallet(c)).balance).toBe(98_766n);
    const other = await complete(m, o.id, '999');
    expect(other.statusCode).toBe(422);
    expect(other.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('without consent the deposit is held; the fee is taken from it and the rest released', async () => {
    const m = await merchant();
    const c = await newCustomer(h, { funds: 100_000n });
    const o = await offer(m, '30000', 350);
    const accepted = await accept(c, o.id);
    expect(accepted.statusCode, accepted.body).toBe(200);
    expect(accepted.json()).toMatchObject({
      status: 'active',
      deposit: 'held',
      decision: 'no_consent',
      score: null,
    });
    const holdId = accepted.json().deposit_hold_id as string;
    expect(await h.ledger.getHold(holdId)).toMatchObject({ status: 'pending', amount: 30_000n });
    expect(await wallet(c)).toEqual({ balance: 100_000n, available: 70_000n });

    const before = await payable(m);
    const done = await complete(m, o.id, '12000');
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json()).toMatchObject({
      status: 'completed',
      deposit_used: '12000',
      charged: '0',
      debt: '0',
    });
    expect(await h.ledger.getHold(holdId)).toMatchObject({ status: 'posted', postedAmount: 12_000n });
    expect(await wallet(c)).toEqual({ balance: 88_000n, available: 88_000n });
    expect((await payable(m)) - before).toBe(12_000n);
  });

  it('a score below the bar holds the deposit; a fee above it uses all of it and charges the rest', async () => {
    const m = await merchant();
    const c = await newCustomer(h, { funds: 100_000n });
    const s = await scored(c);
    const o = await offer(m, '10000', Math.min(950, s.score + 1));
    const accepted = await accept(c, o.id);
    expect(accepted.json()).toMatchObject({ deposit: 'held', decision: 'score_below_bar', score: s.score });
    const done = await complete(m, o.id, '25000');
    expect(done.json()).toMatchObject({
      status: 'completed',
      deposit_used: '10000',
      charged: '15000',
      debt: '0',
    });
    expect(await wallet(c)).toEqual({ balance: 75_000n, available: 75_000n });
  });

  it('cancel releases the held deposit; a zero fee releases it too', async () => {
    const m = await merchant();
    const c = await newCustomer(h, { funds: 40_000n });
    const o = await offer(m, '30000', 350);
    const accepted = await accept(c, o.id);
    expect((await wallet(c)).available).toBe(10_000n);
    const cancelled = await h.post(`/v1/merchant/service-orders/${o.id}/cancel`, {}, { key: m.key });
    expect(cancelled.statusCode, cancelled.body).toBe(200);
    expect(cancelled.json().status).toBe('cancelled');
    expect((await h.ledger.getHold(accepted.json().deposit_hold_id as string)).status).toBe('voided');
    expect(await wallet(c)).toEqual({ balance: 40_000n, available: 40_000n });
    const late = await complete(m, o.id, '100');
    expect(late.statusCode).toBe(409);
    expect(late.json().code).toBe('SERVICE_ORDER_STATE');
    // Cancelling again is harmless.
    expect((await h.post(`/v1/merchant/service-orders/${o.id}/cancel`, {}, { key: m.key })).statusCode).toBe(
      200,
    );

    const free = await offer(m, '30000', 350);
    const held = await accept(c, free.id);
    const zero = await complete(m, free.id, '0');
    expect(zero.json()).toMatchObject({ status: 'completed', deposit_used: '0', charged: '0' });
    expect((await h.ledger.getHold(held.json().deposit_hold_id as string)).status).toBe('voided');
    expect(await wallet(c)).toEqual({ balance: 40_000n, available: 40_000n });
  });

  it('an unpaid completion is a debt: visible, lowers the score with a reason, payable later', async () => {
    const m = await merchant();
    const c = await newCustomer(h, { funds: 5_000n });
    const s = await scored(c);
    const o = await offer(m, '3000', Math.min(950, s.score + 1));
    expect((await accept(c, o.id)).json().deposit).toBe('held');
    const before = await payable(m);
    const done = await complete(m, o.id, '20000');
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json()).toMatchObject({
      status: 'unpaid',
      deposit_used: '3000',
      charged: '0',
      debt: '17000',
      debt_outstanding: '17000',
    });
    // No money lost or invented: the deposit went to the merchant, the rest stayed owed.
    expect(await wallet(c)).toEqual({ balance: 2_000n, available: 2_000n });
    expect((await payable(m)) - before).toBe(3_000n);
    const mine = await h.get('/v1/me/service-orders?status=unpaid', c.token);
    expect(mine.json().items.map((i: JsonObject) => [i.id, i.debt_outstanding])).toEqual([[o.id, '17000']]);

    const lowered = await h.request({
      method: 'POST',
      url: '/v1/me/score',
      body: {},
      headers: {
        authorization: `Bearer ${c.token}`,
        'idempotency-key': randomUUID(),
        'accept-language': 'zh-CN',
      },
    });
    expect(lowered.statusCode, lowered.body).toBe(201);
    expect(lowered.json().score).toBe(Math.max(350, s.score - 80));
    expect(lowered.json().reasons).toHaveLength(4);
    expect(lowered.json().reasons[0]).toMatchObject({ code: 'UNPAID_SERVICE_ORDER' });
    expect(lowered.json().reasons[0].text).toMatch(/未支付的服务订单.*170\.00 元/);
    expect(lowered.json().reasons[0].text_en).toMatch(/Unpaid service order: you owe 170\.00 CNY/);
    expect(lowered.json().features_hash).not.toBe(s.features_hash);

    // Paying with too little money is refused and changes nothing.
    const short = await h.post(`/v1/me/service-orders/${o.id}/pay`, {}, { key: c.token });
    expect(short.statusCode).toBe(422);
    expect(short.json().code).toBe('INSUFFICIENT_FUNDS');
    expect((await h.get(`/v1/service-orders/${o.id}`, c.token)).json().status).toBe('unpaid');

    await topUp(c, 20_000n);
    const key = randomUUID();
    const paid = await h.post(`/v1/me/service-orders/${o.id}/pay`, {}, { key: c.token, idempotencyKey: key });
    expect(paid.statusCode, paid.body).toBe(200);
    expect(paid.json()).toMatchObject({ status: 'completed', debt: '17000', debt_outstanding: '0' });
    expect(paid.json().debt_paid_at).not.toBeNull();
    expect(await wallet(c)).toEqual({ balance: 5_000n, available: 5_000n });
    expect((await payable(m)) - before).toBe(20_000n);
    // The retry is the same payment.
    const replay = await h.post(
      `/v1/me/service-orders/${o.id}/pay`,
      {},
      { key: c.token, idempotencyKey: key },
    );
    expect(replay.statusCode).toBe(200);
    expect((await wallet(c)).balance).toBe(5_000n);

    const restored = await h.post('/v1/me/score', {}, { key: c.token });
    expect(restored.json().score).toBe(s.score);
    expect(restored.json().features_hash).toBe(s.features_hash);
    expect(restored.json().reasons.map((r: JsonObject) => r.code)).not.toContain('UNPAID_SERVICE_ORDER');
  });

  it('a debt paid by several attempts at once (each its own key) is paid once; a later one is refused', async () => {
    const m = await merchant();
    const c = await newCustomer(h, { funds: 1_000n });
    await scored(c);
    const o = await offer(m, '50000', 350); // the bar is cleared: no deposit, the fee is charged at the end
    expect((await accept(c, o.id)).json()).toMatchObject({ status: 'active', deposit: 'waived' });
    expect((await complete(m, o.id, '9000')).json()).toMatchObject({ status: 'unpaid', debt: '9000' });
    await topUp(c, 30_000n);
    const before = await payable(m);

    const attempts = await Promise.all(
      [1, 2, 3].map(() => h.post(`/v1/me/service-orders/${o.id}/pay`, {}, { key: c.token })),
    );
    const paid = attempts.filter((r) => r.statusCode === 200);
    expect(paid).toHaveLength(1);
    expect(paid[0]!.json()).toMatchObject({ status: 'completed', debt_outstanding: '0' });
    for (const r of attempts.filter((x) => x.statusCode !== 200)) {
      expect(r.statusCode, r.body).toBe(409);
      expect(r.json().code).toBe('SERVICE_ORDER_STATE');
    }
    expect(await wallet(c)).toEqual({ balance: 22_000n, available: 22_000n });
    expect((await payable(m)) - before).toBe(9_000n);
    const later = await h.post(`/v1/me/service-orders/${o.id}/pay`, {}, { key: c.token });
    expect(later.statusCode).toBe(409);
    expect((await wallet(c)).balance).toBe(22_000n);

    // An attempt that claimed a debt and crashed before paying holds it for five minutes, no longer.
    const o2 = await offer(m, '50000', 350);
    await accept(c, o2.id);
    expect((await complete(m, o2.id, '30000')).json()).toMatchObject({ status: 'unpaid', debt: '30000' });
    await topUp(c, 8_000n);
    await h.t.db.query(
      'UPDATE paypoints_service_orders SET debt_attempt_id = $2, debt_attempt_at = $3 WHERE id = $1',
      [o2.id, randomUUID(), h.clock.now()],
    );
    const held = await h.post(`/v1/me/service-orders/${o2.id}/pay`, {}, { key: c.token });
    expect(held.statusCode).toBe(409);
    expect(held.json().detail).toMatch(/in progress/);
    h.clock.advance(5 * 60_000 + 1);
    const taken = await h.post(`/v1/me/service-orders/${o2.id}/pay`, {}, { key: c.token });
    expect(taken.statusCode, taken.body).toBe(200);
    expect(taken.json()).toMatchObject({ status: 'completed', debt_outstanding: '0' });
    expect((await wallet(c)).balance).toBe(0n);
  });

  it('a refund of the fee shows on the order: paid, refunded and net, as the ledger moved the money', async () => {
    const m = await merchant(['payments:write', 'payments:read', 'refunds:write']);
    const c = await newCustomer(h, { funds: 100_000n });
    const o = await offer(m, '30000', 350); // no consent: the deposit is held
    expect((await accept(c, o.id)).json().deposit).toBe('held');
    const before = await payable(m);
    const done = await complete(m, o.id, '40000');
    expect(done.json()).toMatchObject({
      status: 'completed',
      deposit_used: '30000',
      charged: '10000',
      paid: '40000',
      refunded: '0',
      net: '40000',
    });
    const parts = done.json().payments as JsonObject[];
    expect(parts.map((p) => [p.part, p.amount, p.refunded])).toEqual([
      ['deposit', '30000', '0'],
      ['fee', '10000', '0'],
    ]);
    const refund = (paymentId: string, amount: string) =>
      h.post('/v1/merchant/refunds', { payment_id: paymentId, amount }, { key: m.key });
    const [deposit, fee] = parts.map((p) => p.id as string);
    expect((await refund(fee!, '2500')).statusCode).toBe(201);
    expect((await refund(deposit!, '30000')).statusCode).toBe(201);

    // Before, the order still said 40,000 charged although 32,500 had gone back to the wallet.
    const expected = { paid: '40000', refunded: '32500', net: '7500' };
    const asMerchant = (await h.get(`/v1/merchant/service-orders/${o.id}`, m.key)).json();
    expect(asMerchant).toMatchObject(expected);
    expect(asMerchant.payments.map((p: JsonObject) => [p.part, p.refunded])).toEqual([
      ['deposit', '30000'],
      ['fee', '2500'],
    ]);
    expect((await h.get(`/v1/service-orders/${o.id}`, c.token)).json()).toMatchObject(expected);
    const mine = (await h.get('/v1/me/service-orders', c.token)).json().items as JsonObject[];
    expect(mine.find((i) => i.id === o.id)).toMatchObject(expected);
    // The ledger agrees: the user is out of pocket, and the merchant is paid, the net.
    expect(await wallet(c)).toEqual({ balance: 92_500n, available: 92_500n });
    expect((await payable(m)) - before).toBe(7_500n);
    // A retried completion answers with the refunds too.
    expect((await complete(m, o.id, '40000')).json()).toMatchObject(expected);

    // A debt paid later is a payment of the order too, and refunded like the others.
    const poor = await newCustomer(h, { funds: 0n });
    const owed = await offer(m, '30000', 350);
    await scored(poor);
    expect((await accept(poor, owed.id)).json().deposit).toBe('waived');
    expect((await complete(m, owed.id, '6000')).json()).toMatchObject({
      status: 'unpaid',
      paid: '0',
      net: '0',
      payments: [],
    });
    await topUp(poor, 6_000n);
    const paidDebt = await h.post(`/v1/me/service-orders/${owed.id}/pay`, {}, { key: poor.token });
    expect(paidDebt.json()).toMatchObject({ status: 'completed', paid: '6000', net: '6000' });
    const debtPayment = (paidDebt.json().payments as JsonObject[])[0]!;
    expect(debtPayment).toMatchObject({ part: 'debt', amount: '6000' });
    expect((await refund(debtPayment.id as string, '6000')).statusCode).toBe(201);
    expect((await h.get(`/v1/service-orders/${owed.id}`, poor.token)).json()).toMatchObject({
      paid: '6000',
      refunded: '6000',
      net: '0',
    });
    expect(await wallet(poor)).toEqual({ balance: 6_000n, available: 6_000n });
  });

  it("a debt attempt naming another payment's id never settles the debt without money", async () => {
    const m = await merchant();
    const c = await newCustomer(h, { funds: 5_000n });
    const o = await offer(m, '3000', 350); // no consent: the deposit is held
    expect((await accept(c, o.id)).json().deposit).toBe('held');
    expect((await complete(m, o.id, '10000')).json()).toMatchObject({
      status: 'unpaid',
      deposit_used: '3000',
      debt: '7000',
    });
    // The user's own succeeded payment: the fee taken from the deposit.
    const payments = (await h.get('/v1/merchant/payments', m.key)).json().items as JsonObject[];
    const foreign = payments.find((p) => p.user_id === c.id && p.status === 'succeeded')!.id as string;
    await topUp(c, 20_000n);
    const before = await payable(m);

    // The payment id is the client's: one already used for something else is refused…
    const reused = await h.post(`/v1/me/service-orders/${o.id}/pay`, { id: foreign }, { key: c.token });
    expect(reused.statusCode, reused.body).toBe(422);
    expect((await h.get(`/v1/service-orders/${o.id}`, c.token)).json().status).toBe('unpaid');
    // …and while such an attempt holds the claim (in flight, or crashed), another attempt must not
    // take that payment's success for the debt's: it pays the debt itself.
    await h.t.db.query(
      'UPDATE paypoints_service_orders SET debt_attempt_id = $2, debt_attempt_at = $3 WHERE id = $1',
      [o.id, foreign, h.clock.now()],
    );
    const paid = await h.post(`/v1/me/service-orders/${o.id}/pay`, {}, { key: c.token });
    expect(paid.statusCode, paid.body).toBe(200);
    expect(paid.json()).toMatchObject({ status: 'completed', debt_outstanding: '0' });
    expect(await wallet(c)).toEqual({ balance: 15_000n, available: 15_000n });
    expect((await payable(m)) - before).toBe(7_000n);
  });

  it('refuses an unknown checkout method when the order is taken, not with a debt at completion', async () => {
    const m = await merchant();
    const c = await newCustomer(h, { funds: 10_000n });
    const o = await offer(m, '100', 350);
    const refused = await accept(c, o.id, { method: 'no_such_method' });
    expect(refused.statusCode, refused.body).toBe(422);
    expect(refused.json().code).toBe('PAYMENT_METHOD_UNKNOWN');
    expect((await h.get(`/v1/service-orders/${o.id}`, c.token)).json()).toMatchObject({
      status: 'created',
      user_id: null,
    });
    expect(await wallet(c)).toEqual({ balance: 10_000n, available: 10_000n });
  });

  it('refuses pay-later when the order is taken if the user has no line or a suspended one, not with a debt', async () => {
    const m = await merchant();
    const c = await newCustomer(h, { funds: 100_000n });
    await scored(c);
    const o = await offer(m, '30000', 350);
    // Before, the order was taken and every fee failed on the missing line and became a debt,
    // lowering the score, although the wallet could pay.
    const noLine = await accept(c, o.id, { method: 'pay_later' });
    expect(noLine.statusCode, noLine.body).toBe(404);
    expect(noLine.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(noLine.json().code).toBe('PAYLATER_LINE_NOT_FOUND');
    expect((await h.get(`/v1/service-orders/${o.id}`, c.token)).json()).toMatchObject({
      status: 'created',
      user_id: null,
    });

    const product = await h.post('/v1/operator/paylater/products', {
      code: `pp-${randomUUID().slice(0, 8)}`,
      name: 'Pay Points line',
      ...statementProductTerms,
    });
    expect(product.statusCode, product.body).toBe(201);
    const bands = await h.post('/v1/operator/paylater/limit-bands', {
      bands: [{ min_score: 350, limit: '1000000' }],
    });
    expect(bands.statusCode, bands.body).toBe(201);
    const opened = await h.post('/v1/paylater/line', { product_id: product.json().id }, { key: c.token });
    expect(opened.statusCode, opened.body).toBe(201);
    // An overdue line is suspended (30 days past due in the close; set directly here).
    await h.t.db.query(`UPDATE paylater_lines SET status = 'suspended' WHERE user_id = $1`, [c.id]);
    const suspended = await accept(c, o.id, { method: 'pay_later' });
    expect(suspended.statusCode, suspended.body).toBe(409);
    expect(suspended.json().code).toBe('PAYLATER_LINE_SUSPENDED');
    expect((await h.get(`/v1/service-orders/${o.id}`, c.token)).json().status).toBe('created');

    // With the line active again the fee goes on the line; the wallet is untouched.
    await h.t.db.query(`UPDATE paylater_lines SET status = 'active' WHERE user_id = $1`, [c.id]);
    const taken = await accept(c, o.id, { method: 'pay_later' });
    expect(taken.statusCode, taken.body).toBe(200);
    expect(taken.json()).toMatchObject({ status: 'active', method: 'pay_later', deposit: 'waived' });
    const done = await complete(m, o.id, '4500');
    expect(done.json()).toMatchObject({ status: 'completed', charged: '4500', debt: '0' });
    expect(await wallet(c)).toEqual({ balance: 100_000n, available: 100_000n });
    expect((await h.get('/v1/paylater/line', c.token)).json().used).toBe('4500');
  });

  it('refuses a checkout method that needs details (a card token) when the order is taken, not with a debt', async () => {
    const m = await merchant();
    const c = await newCustomer(h, { funds: 100_000n });
    const o = await offer(m, '30000', 350);
    // The order keeps only the method's name: with bank_card the fee would fail for want of a card
    // token at completion and become a debt (lowering the score) although the wallet could pay.
    const refused = await accept(c, o.id, { method: 'bank_card' });
    expect(refused.statusCode, refused.body).toBe(400);
    expect(refused.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(refused.json().code).toBe('VALIDATION_FAILED');
    expect((await h.get(`/v1/service-orders/${o.id}`, c.token)).json()).toMatchObject({
      status: 'created',
      user_id: null,
      deposit_hold_id: null,
    });
    expect(await wallet(c)).toEqual({ balance: 100_000n, available: 100_000n });

    // Taken with a method that pays without details, the fee is charged, nothing owed.
    expect((await accept(c, o.id, {}, randomUUID())).json()).toMatchObject({
      status: 'active',
      method: 'balance',
    });
    const done = await complete(m, o.id, '40000');
    expect(done.json()).toMatchObject({
      status: 'completed',
      deposit_used: '30000',
      charged: '10000',
      debt: '0',
    });
    expect(await wallet(c)).toEqual({ balance: 60_000n, available: 60_000n });
  });

  it('a replayed create with other details is refused, whatever the detail', async () => {
    const m = await merchant();
    const id = randomUUID();
    const body = {
      id,
      merchant_reference: `r-${id.slice(0, 8)}`,
      description: 'Bike',
      risk_amount: '100',
      score_bar: 600,
    };
    const first = await h.post('/v1/merchant/service-orders', { ...body, max_days: 5 }, { key: m.key });
    expect(first.statusCode, first.body).toBe(201);
    const same = await h.post('/v1/merchant/service-orders', { ...body, max_days: 5 }, { key: m.key });
    expect(same.statusCode, same.body).toBe(201);
    for (const other of [{ max_days: 300 }, { max_days: 5, description: 'Car' }]) {
      const r = await h.post('/v1/merchant/service-orders', { ...body, ...other }, { key: m.key });
      expect(r.statusCode, r.body).toBe(422);
      expect(r.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
    }
  });

  it('refuses what it cannot do with problem+json: no money to hold, bad input, another merchant or user', async () => {
    const m = await merchant();
    const poor = await newCustomer(h, { funds: 1_000n });
    const o = await offer(m, '5000', 350);
    const refused = await accept(poor, o.id);
    expect(refused.statusCode).toBe(422);
    expect(refused.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(refused.json().code).toBe('INSUFFICIENT_FUNDS');
    expect(await wallet(poor)).toEqual({ balance: 1_000n, available: 1_000n });
    // Still on offer: someone else can take it, and then it is theirs alone.
    const rich = await newCustomer(h, { funds: 10_000n });
    expect((await accept(rich, o.id)).json()).toMatchObject({ status: 'active', user_id: rich.id });
    expect((await accept(poor, o.id)).statusCode).toBe(404);
    expect((await h.get(`/v1/service-orders/${o.id}`, poor.token)).statusCode).toBe(404);
    const otherMerchant = await merchant();
    expect((await complete(otherMerchant, o.id, '100')).statusCode).toBe(404);
    expect((await h.post(`/v1/me/service-orders/${o.id}/pay`, {}, { key: rich.token })).json().code).toBe(
      'SERVICE_ORDER_STATE',
    );

    for (const body of [
      { merchant_reference: 'x', description: 'y', risk_amount: '-5', score_bar: 600 },
      { merchant_reference: 'x', description: 'y', risk_amount: '0', score_bar: 600 },
      { merchant_reference: 'x', description: 'y', risk_amount: '100', score_bar: 300 },
      { merchant_reference: 'x', description: 'y', risk_amount: '1.5', score_bar: 600 },
    ]) {
      const bad = await h.post('/v1/merchant/service-orders', body, { key: m.key });
      expect(bad.statusCode, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(bad.statusCode).toBeLessThan(500);
      expect(['VALIDATION_FAILED', 'AMOUNT_INVALID']).toContain(bad.json().code);
    }
    expect(
      (await h.post('/v1/merchant/service-orders', {}, { key: m.key, idempotencyKey: null })).statusCode,
    ).toBe(400);
    // The deposit method is internal to service orders: a user cannot pick it.
    const internal = await accept(rich, (await offer(m, '100', 350)).id, { method: 'paypoints_deposit' });
    expect(internal.json().code).toBe('VALIDATION_FAILED');
  });

  it('one taker: of two users accepting at once one gets it; a refused user tops up and accepts again', async () => {
    const m = await merchant();
    const [a, b] = [await newCustomer(h, { funds: 20_000n }), await newCustomer(h, { funds: 20_000n })];
    const o = await offer(m, '15000', 350);
    const results = await Promise.all([accept(a, o.id), accept(b, o.id)]);
    const won = results.filter((r) => r.statusCode === 200);
    expect(won).toHaveLength(1);
    // The other finds it taken: 409 if it read the order before the winner bound it, else 404.
    const lost = results.find((r) => r !== won[0])!;
    expect([404, 409]).toContain(lost.statusCode);
    const winner = won[0]!.json().user_id === a.id ? a : b;
    const loser = winner === a ? b : a;
    expect(await wallet(winner)).toEqual({ balance: 20_000n, available: 5_000n });
    expect(await wallet(loser)).toEqual({ balance: 20_000n, available: 20_000n });

    const poor = await newCustomer(h, { funds: 1_000n });
    const next = await offer(m, '5000', 350);
    expect((await accept(poor, next.id)).json().code).toBe('INSUFFICIENT_FUNDS');
    await topUp(poor, 9_000n);
    const second = await accept(poor, next.id);
    expect(second.statusCode, second.body).toBe(200);
    expect(second.json()).toMatchObject({ status: 'active', deposit: 'held', user_id: poor.id });
    expect(await wallet(poor)).toEqual({ balance: 10_000n, available: 5_000n });
  });
  it('the same user accepting several times at once (a double tap, each its own key) gets the order each time', async () => {
    const m = await merchant();
    // One deposit held; before, the taps that lost the race to bind the order were 409.
    const tapper = await newCustomer(h, { funds: 20_000n });
    const tapped = await offer(m, '15000', 350);
    const taps = await Promise.all([1, 2, 3].map(() => accept(tapper, tapped.id)));
    for (const tap of taps) {
      expect(tap.statusCode, tap.body).toBe(200);
      expect(tap.json()).toMatchObject({ status: 'active', user_id: tapper.id, deposit: 'held' });
    }
    expect(new Set(taps.map((tap) => tap.json().deposit_hold_id)).size).toBe(1);
    expect(await wallet(tapper)).toEqual({ balance: 20_000n, available: 5_000n });
  });

  it('a merchant suspended before the fee is paid: no new taker; a completion ends the order, deposit released, nothing owed', async () => {
    const m = await merchant();
    const held = await newCustomer(h, { funds: 100_000n });
    const waived = await newCustomer(h, { funds: 100_000n });
    await scored(waived);
    const heldOrder = await offer(m, '30000', 350);
    const waivedOrder = await offer(m, '30000', 350);
    const untaken = await offer(m, '30000', 350);
    const holdId = (await accept(held, heldOrder.id)).json().deposit_hold_id as string;
    expect((await accept(waived, waivedOrder.id)).json().deposit).toBe('waived');
    const before = await payable(m);
    expect((await h.post(`/v1/operator/merchants/${m.id}/suspend`, {})).json().status).toBe('suspended');
    // Nor is an offer taken any more: it would only hold a deposit the merchant cannot be paid from.
    const late = await accept(held, untaken.id as string);
    expect(late.statusCode, late.body).toBe(422);
    expect(late.json().code).toBe('MERCHANT_SUSPENDED');
    expect((await h.paypoints.getServiceOrder(untaken.id as string)).status).toBe('created');

    for (const [c, o] of [
      [held, heldOrder],
      [waived, waivedOrder],
    ] as const) {
      const refused = await complete(m, o.id as string, '12000');
      expect(refused.statusCode, refused.body).toBe(422);
      expect(refused.json().code).toBe('MERCHANT_SUSPENDED');
      // Before, the order stayed `completing` (no cancel, the deposit frozen) until a reactivation.
      expect(await h.paypoints.getServiceOrder(o.id as string)).toMatchObject({
        status: 'cancelled',
        charged: 0n,
        debt: 0n,
        depositUsed: 0n,
      });
      expect(await wallet(c)).toEqual({ balance: 100_000n, available: 100_000n });
      expect(await h.paypoints.unpaidDebts([c.id])).toEqual(new Map());
    }
    expect((await h.ledger.getHold(holdId)).status).toBe('voided');
    expect(await payable(m)).toBe(before);
    await h.post(`/v1/operator/merchants/${m.id}/activate`, {});
    expect((await complete(m, heldOrder.id as string, '12000')).json().code).toBe('SERVICE_ORDER_STATE');
  });

  it('a merchant suspended mid-completion: a payment begun before is finished, the rest not charged', async () => {
    const m = await merchant();
    // A method that settles later, then settles; or that fails before recording anything.
    const method = `later_${randomUUID().slice(0, 8)}`;
    let settled = false;
    let broken = false;
    h.merchants.registerPaymentMethod(method, {
      validate() {
        if (broken) throw new Error('the process died here');
      },
      async collect(payment) {
        if (!settled) return { status: 'pending' };
        const payer = await h.wallet.getWallet(payment.userId);
        await h.ledger.transfer({
          id: derivedId('test.later', payment.paymentId),
          debitAccountId: payer.ledgerAccountId,
          creditAccountId: payment.merchantAccountId,
          amount: payment.amount,
        });
        return { status: 'succeeded' };
      },
    });
    const c = await newCustomer(h, { funds: 100_000n });
    const begun = await offer(m, '10000', 350);
    const notBegun = await offer(m, '10000', 350);
    for (const o of [begun, notBegun])
      expect((await accept(c, o.id as string, { method })).json().deposit).toBe('held');
    const before = await payable(m);

    // Begun: the deposit's part paid, the rest pending at the bank, then the merchant is suspended.
    const pending = await complete(m, begun.id as string, '25000');
    expect(pending.json()).toMatchObject({ status: 'completing' });
    // Not begun: the deposit's part paid, the process dies before the rest is recorded.
    broken = true;
    expect((await complete(m, notBegun.id as string, '25000')).statusCode).toBe(500);
    broken = false;
    await h.post(`/v1/operator/merchants/${m.id}/suspend`, {});
    settled = true;

    const finished = await complete(m, begun.id as string, '25000');
    expect(finished.statusCode, finished.body).toBe(200);
    expect(finished.json()).toMatchObject({
      status: 'completed',
      deposit_used: '10000',
      charged: '15000',
      debt: '0',
    });
    const cut = await complete(m, notBegun.id as string, '25000');
    expect(cut.statusCode, cut.body).toBe(200);
    expect(cut.json()).toMatchObject({ status: 'completed', deposit_used: '10000', charged: '0', debt: '0' });
    expect(await wallet(c)).toEqual({ balance: 65_000n, available: 65_000n });
    expect((await payable(m)) - before).toBe(35_000n);
    await h.post(`/v1/operator/merchants/${m.id}/activate`, {});
  });

  it('paying a debt to a suspended merchant is refused and leaves the debt free for the next attempt', async () => {
    const m = await merchant();
    const c = await newCustomer(h, { funds: 1_000n });
    await scored(c);
    const o = await offer(m, '3000', 350);
    expect((await accept(c, o.id as string)).json().deposit).toBe('waived');
    expect((await complete(m, o.id as string, '5000')).json()).toMatchObject({
      status: 'unpaid',
      debt: '5000',
    });
    await topUp(c, 10_000n);
    await h.post(`/v1/operator/merchants/${m.id}/suspend`, {});
    for (let i = 0; i < 2; i++) {
      const refused = await h.post(`/v1/me/service-orders/${o.id as string}/pay`, {}, { key: c.token });
      // Before, the first attempt kept its claim: the next was SERVICE_ORDER_STATE for five minutes.
      expect(refused.statusCode, refused.body).toBe(422);
      expect(refused.json().code).toBe('MERCHANT_SUSPENDED');
    }
    await h.post(`/v1/operator/merchants/${m.id}/activate`, {});
    const paid = await h.post(`/v1/me/service-orders/${o.id as string}/pay`, {}, { key: c.token });
    expect(paid.statusCode, paid.body).toBe(200);
    expect(paid.json()).toMatchObject({ status: 'completed', debt_outstanding: '0' });
    expect(await wallet(c)).toEqual({ balance: 6_000n, available: 6_000n });
  });

  it('a fee on a deposit past its timeout waits for the expiry job, then the method pays it all, with no debt', async () => {
    const m = await merchant();
    const c = await newCustomer(h, { funds: 5_000n });
    const walletAccount = (await h.wallet.getWallet(c.id)).ledgerAccountId;
    const o = await offer(m, '4000', 350, 1);
    const accepted = await accept(c, o.id);
    expect(accepted.json().deposit, accepted.body).toBe('held');
    const holdId = accepted.json().deposit_hold_id as string;
    h.clock.advance(86_400_000 + 1_000);
    const before = await payable(m);

    // The ledger neither posts nor voids the hold now, and it still keeps 4,000 of the 5,000 from
    // the wallet: charging the 3,000 fee now would fail and leave a debt the user could pay.
    const key = randomUUID();
    const early = await complete(m, o.id, '3000', key);
    expect(early.statusCode, early.body).toBe(503);
    expect(early.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(early.json().code).toBe('SERVICE_ORDER_DEPOSIT_RELEASING');
    expect((await h.get(`/v1/merchant/service-orders/${o.id}`, m.key)).json()).toMatchObject({
      status: 'completing',
      deposit_used: '0',
      charged: '0',
      debt: '0',
    });
    // No payment was attempted (none failed, no payment.failed for the merchant).
    const payments = (await h.get('/v1/merchant/payments', m.key)).json().items as JsonObject[];
    expect(payments).toEqual([]);

    expect(await h.ledger.expireHolds()).toBeGreaterThanOrEqual(1);
    expect((await h.ledger.getHold(holdId)).status).toBe('expired');
    // The same key again: the refusal was not stored as the answer.
    const done = await complete(m, o.id, '3000', key);
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json()).toMatchObject({ status: 'completed', deposit_used: '0', charged: '3000', debt: '0' });
    expect((await payable(m)) - before).toBe(3_000n);
    expect((await h.ledger.getAccount(walletAccount)).balances).toMatchObject({
      posted: 2_000n,
      available: 2_000n,
    });
  });

  it('a deposit past its timeout (the expiry job not yet run) does not stop a cancel or a zero fee', async () => {
    const m = await merchant();
    const c = await newCustomer(h, { funds: 10_000n });
    const walletAccount = (await h.wallet.getWallet(c.id)).ledgerAccountId;
    const [cancelOrder, zeroOrder] = [await offer(m, '3000', 350, 1), await offer(m, '4000', 350, 1)];
    const holds = [];
    for (const o of [cancelOrder, zeroOrder]) {
      const accepted = await accept(c, o.id);
      expect(accepted.json().deposit, accepted.body).toBe('held');
      holds.push(accepted.json().deposit_hold_id as string);
    }
    h.clock.advance(86_400_000 + 1_000);
    const cancelled = await h.post(
      `/v1/merchant/service-orders/${cancelOrder.id}/cancel`,
      {},
      { key: m.key },
    );
    expect(cancelled.statusCode, cancelled.body).toBe(200);
    expect(cancelled.json().status).toBe('cancelled');
    const zero = await complete(m, zeroOrder.id, '0');
    expect(zero.statusCode, zero.body).toBe(200);
    expect(zero.json()).toMatchObject({ status: 'completed', deposit_used: '0', charged: '0', debt: '0' });
    // The job releases both deposits.
    expect(await h.ledger.expireHolds()).toBeGreaterThanOrEqual(2);
    for (const holdId of holds) expect((await h.ledger.getHold(holdId)).status).toBe('expired');
    expect((await h.ledger.getAccount(walletAccount)).balances).toMatchObject({
      posted: 10_000n,
      available: 10_000n,
    });
  });
  it('shows a held deposit as released once the expiry job, a cancel or a zero fee gave it back, and as used once it paid', async () => {
    const m = await merchant();
    const c = await newCustomer(h, { funds: 20_000n });
    const [expiring, cancelled, zero, paid] = [
      await offer(m, '3000', 350, 1),
      await offer(m, '3000', 350),
      await offer(m, '3000', 350),
      await offer(m, '3000', 350),
    ];
    for (const o of [expiring, cancelled, zero, paid])
      expect((await accept(c, o.id)).json().deposit).toBe('held');
    const seen = async (o: JsonObject) => (await h.get(`/v1/merchant/service-orders/${o.id}`, m.key)).json();
    expect(
      (await h.post(`/v1/merchant/service-orders/${cancelled.id}/cancel`, {}, { key: m.key })).statusCode,
    ).toBe(200);
    expect((await complete(m, zero.id, '0')).statusCode).toBe(200);
    expect((await complete(m, paid.id, '1000')).statusCode).toBe(200);
    expect(await seen(cancelled)).toMatchObject({ status: 'cancelled', deposit: 'released' });
    expect(await seen(zero)).toMatchObject({ status: 'completed', deposit: 'released', deposit_used: '0' });
    expect(await seen(paid)).toMatchObject({ status: 'completed', deposit: 'used', deposit_used: '1000' });
    expect((await h.get(`/v1/service-orders/${cancelled.id}`, c.token)).json().deposit).toBe('released');

    // Past its timeout the money stays held until the job runs; after it, the order (still active,
    // the merchant may yet complete it) showed 'held' for money back in the wallet.
    h.clock.advance(86_400_000 + 1_000);
    expect(await seen(expiring)).toMatchObject({ status: 'active', deposit: 'held' });
    expect(await h.ledger.expireHolds()).toBeGreaterThanOrEqual(1);
    expect(await seen(expiring)).toMatchObject({ status: 'active', deposit: 'released' });
    const listed = (await h.paypoints.listUserServiceOrders(c.id)).items;
    expect(listed.find((o) => o.id === expiring.id)?.deposit).toBe('released');
    expect(
      (await h.ledger.getAccount((await h.wallet.getWallet(c.id)).ledgerAccountId)).balances,
    ).toMatchObject({
      posted: 19_000n,
      available: 19_000n,
    });
  });

  it("lists a user's orders with their deposits as each order's own read shows them, in one ledger query however many are open", async () => {
    // A ledger of its own over a database that counts what the ledger asks of it.
    let ledgerQueries = 0;
    const counted = new Proxy(h.t.db, {
      get(target, prop) {
        if (prop === 'query')
          return (...args: Parameters<typeof target.query>) => {
            ledgerQueries++;
            return target.query(...args);
          };
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const countingLedger = createLedger({ db: counted, clock: h.clock });
    const listing = createPayPoints({
      db: h.t.db,
      clock: h.clock,
      ledger: countingLedger,
      wallet: h.wallet,
      users: h.identity,
      // The deposit method is registered once, by the app's own instance.
      merchants: { ...h.merchants, registerPaymentMethod: () => {} } as Merchants,
      scores: h.credit,
    });
    try {
      const m = await merchant();
      const c = await newCustomer(h, { funds: 50_000n });
      const held = async (riskAmount: string, maxDays?: number) => {
        const o = await offer(m, riskAmount, 350, maxDays);
        // Through the module: the customer's access token does not outlive the day skipped below.
        const taken = await h.paypoints.acceptServiceOrder({ id: o.id as string, userId: c.id });
        expect(taken.deposit).toBe('held');
        return o;
      };
      const [expiring, open1, cancelled, paid, zero] = [
        await held('1000', 1),
        await held('1100'),
        await held('1200'),
        await held('1300'),
        await held('1400'),
      ];
      expect(
        (await h.post(`/v1/merchant/service-orders/${cancelled.id}/cancel`, {}, { key: m.key })).statusCode,
      ).toBe(200);
      expect((await complete(m, paid.id, '500')).statusCode).toBe(200);
      expect((await complete(m, zero.id, '0')).statusCode).toBe(200);
      h.clock.advance(86_400_000 + 1_000);
      expect(await h.ledger.expireHolds()).toBeGreaterThanOrEqual(1);

      const list = async () => {
        ledgerQueries = 0;
        const items = (await listing.listUserServiceOrders(c.id)).items;
        return { items, queries: ledgerQueries };
      };
      const first = await list();
      const deposits = new Map(first.items.map((o) => [o.id, o.deposit]));
      expect(
        Object.fromEntries(
          [expiring, open1, cancelled, paid, zero].map((o) => [o.id, deposits.get(o.id as string)]),
        ),
      ).toEqual({
        [expiring.id as string]: 'released',
        [open1.id as string]: 'held',
        [cancelled.id as string]: 'released',
        [paid.id as string]: 'used',
        [zero.id as string]: 'released',
      });
      // The same figures as each order's own read (and the app's instance) shows.
      for (const o of first.items) {
        const one = await h.paypoints.getServiceOrder(o.id, { userId: c.id });
        expect(o).toEqual(one);
      }
      expect(first.queries).toBe(1);

      // Three more open orders: still one ledger query for the page.
      const more = [await held('1500'), await held('1600'), await held('1700')];
      const second = await list();
      for (const o of more) expect(second.items.find((i) => i.id === o.id)?.deposit).toBe('held');
      expect(second.queries).toBe(1);

      // Nothing open: nothing asked.
      for (const o of [open1, ...more])
        expect(
          (await h.post(`/v1/merchant/service-orders/${o.id}/cancel`, {}, { key: m.key })).statusCode,
        ).toBe(200);
      await h.post(`/v1/merchant/service-orders/${expiring.id}/cancel`, {}, { key: m.key });
      const none = await list();
      expect(none.items.every((o) => o.deposit !== 'held')).toBe(true);
      expect(none.queries).toBe(0);
    } finally {
      await countingLedger.close();
    }
  });

  it('finishes an acceptance the process died in (hold placed or not) after a grace period, once', async () => {
    const m = await merchant();
    const c = await newCustomer(h, { funds: 10_000n });
    const poor = await newCustomer(h, { funds: 1_000n });
    // Another instance of the module, as a process that dies around placing the deposit hold.
    const crashing = (when: 'before' | 'after') =>
      createPayPoints({
        db: h.t.db,
        clock: h.clock,
        ledger: new Proxy(h.ledger, {
          get(target, prop) {
            if (prop === 'placeHold')
              return async (command: Parameters<Ledger['placeHold']>[0]) => {
                if (when === 'after') await target.placeHold(command);
                throw new Error(`crash ${when} the hold`);
              };
            const value = Reflect.get(target, prop, target) as unknown;
            return typeof value === 'function' ? value.bind(target) : value;
          },
        }),
        wallet: h.wallet,
        users: h.identity,
        // The deposit method is registered once, by the app's own instance.
        merchants: { ...h.merchants, registerPaymentMethod: () => {} } as Merchants,
        scores: h.credit,
      });
    const [afterHold, beforeHold, unaffordable] = [
      await offer(m, '3000', 350),
      await offer(m, '2000', 350),
      await offer(m, '4000', 350),
    ];
    await expect(crashing('after').acceptServiceOrder({ id: afterHold.id, userId: c.id })).rejects.toThrow(
      /crash/,
    );
    await expect(crashing('before').acceptServiceOrder({ id: beforeHold.id, userId: c.id })).rejects.toThrow(
      /crash/,
    );
    await expect(
      crashing('before').acceptServiceOrder({ id: unaffordable.id, userId: poor.id }),
    ).rejects.toThrow(/crash/);
    const status = async (o: JsonObject) =>
      (await h.get(`/v1/merchant/service-orders/${o.id}`, m.key)).json();
    for (const o of [afterHold, beforeHold, unaffordable]) expect((await status(o)).status).toBe('accepting');
    expect(await wallet(c)).toEqual({ balance: 10_000n, available: 7_000n });

    // A live acceptance is not taken over.
    h.clock.advance(ABANDONED_ACCEPTANCE_MS - 1_000);
    expect(await h.paypoints.finishAbandonedAcceptances()).toBe(0);
    h.clock.advance(2_000);
    expect(await h.paypoints.finishAbandonedAcceptances()).toBe(3);
    expect(await h.paypoints.finishAbandonedAcceptances()).toBe(0);
    expect(await status(afterHold)).toMatchObject({ status: 'active', deposit: 'held', user_id: c.id });
    expect(await status(beforeHold)).toMatchObject({ status: 'active', deposit: 'held', user_id: c.id });
    // The wallet cannot cover it any more: back on offer, as a retry would have left it.
    expect(await status(unaffordable)).toMatchObject({ status: 'created', user_id: null, deposit: null });
    // Each deposit held once.
    expect(await wallet(c)).toEqual({ balance: 10_000n, available: 5_000n });
    expect(await wallet(poor)).toEqual({ balance: 1_000n, available: 1_000n });
    const done = await complete(m, afterHold.id, '1000');
    expect(done.json()).toMatchObject({ status: 'completed', deposit_used: '1000', deposit: 'used' });
  });
});
