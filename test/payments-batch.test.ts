import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ApiHarness, JsonObject } from './support/api-harness.ts';
import { checkedApiHarness } from './support/checked-harness.ts';
import { newCustomer, type Customer } from './support/customers.ts';

/**
 * The payment fast path: an order paid from the wallet commits with its records (payment, order,
 * class-limit charge, webhook event, idempotent response) in the ledger's group-commit batch.
 * These tests send payments together so that they share batches, and check each one's outcome
 * as the ordinary path would give it.
 */
const harness = checkedApiHarness();
let h: ApiHarness;
beforeAll(() => {
  h = harness();
});

async function shop(): Promise<{ id: string; key: string }> {
  const created = await h.post('/v1/operator/merchants', {
    name: `一起买 ${randomUUID().slice(0, 8)}`,
    fee_bps: 60,
  });
  expect(created.statusCode, created.body).toBe(201);
  const id = created.json().id as string;
  const key = await h.post(`/v1/operator/merchants/${id}/api-keys`, {
    name: 'till',
    scopes: ['payments:write', 'payments:read', 'refunds:write'],
  });
  return { id, key: key.json().key as string };
}

async function order(m: { key: string }, amount: string, extra: JsonObject = {}): Promise<string> {
  const res = await h.post(
    '/v1/merchant/payment-orders',
    { merchant_reference: randomUUID().slice(0, 20), amount, description: 'rice', ...extra },
    { key: m.key },
  );
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id as string;
}

const pay = (c: Customer, orderId: string, idempotencyKey = randomUUID()) =>
  h.post(`/v1/payment-orders/${orderId}/pay`, { method: 'balance' }, { key: c.token, idempotencyKey });

/** Customers one after another: the fixture numbers resident IDs as it goes. */
async function customers(count: number, options: Parameters<typeof newCustomer>[1]): Promise<Customer[]> {
  const made: Customer[] = [];
  for (let i = 0; i < count; i++) made.push(await newCustomer(h, options));
  return made;
}

const balance = async (c: Customer) => (await h.get('/v1/wallet', c.token)).json().balance as string;
const orderStatus = async (m: { key: string }, id: string) =>
  (await h.get(`/v1/merchant/payment-orders/${id}`, m.key)).json().status as string;

describe('payments in the ledger batch', () => {
  it('a payment over its class limit or the wallet is refused while the batch around it commits', async () => {
    const m = await shop();
    const classI = await newCustomer(h, { funds: 200_000n, accountClass: 'I' }); // 1,000.00 for life
    const poor = await newCustomer(h, { funds: 1_000n });
    const others = await customers(3, { funds: 50_000n });
    const limited = await Promise.all([1, 2, 3, 4, 5].map(() => order(m, '30000')));
    const tooDear = await order(m, '5000');
    const theirs = await Promise.all(others.map(() => order(m, '2500')));
    const largestBefore = h.ledger.writerStats.largestBatch;

    const results = await Promise.all([
      ...limited.map((o) => pay(classI, o)),
      pay(poor, tooDear),
      ...others.map((c, i) => pay(c, theirs[i]!)),
    ]);
    expect(Math.max(h.ledger.writerStats.largestBatch, largestBefore)).toBeGreaterThan(1);

    const limitedCodes = results.slice(0, 5).map((r) => (r.statusCode === 201 ? 'paid' : r.json().code));
    // 3 × 300.00 fit in 1,000.00; a fourth would not, whichever of the five come first.
    expect(limitedCodes.filter((c) => c === 'paid')).toHaveLength(3);
    expect(limitedCodes.filter((c) => c === 'PAYMENT_LIMIT_EXCEEDED')).toHaveLength(2);
    expect(await balance(classI)).toBe('110000');
    for (const [i, o] of limited.entries())
      expect(await orderStatus(m, o)).toBe(limitedCodes[i] === 'paid' ? 'paid' : 'open');

    const refused = results[5]!;
    expect(refused.statusCode).toBe(422);
    expect(refused.json().code).toBe('INSUFFICIENT_FUNDS');
    // As on the ordinary path: the failed payment is recorded, the order stays payable, and the
    // failure did not use the class limit.
    const failed = (await h.get('/v1/merchant/payments?limit=50&status=failed', m.key)).json().items;
    expect(failed.map((p: JsonObject) => [p.amount, p.failure_code])).toEqual([
      ['5000', 'INSUFFICIENT_FUNDS'],
    ]);
    expect(await orderStatus(m, tooDear)).toBe('open');

    for (const [i, r] of results.slice(6).entries()) {
      expect(r.statusCode, r.body).toBe(201);
      expect(r.json()).toMatchObject({ status: 'succeeded', amount: '2500', fee_bps: 60 });
      expect(await balance(others[i]!)).toBe('47500');
    }
    expect((await h.get(`/v1/operator/merchants/${m.id}`)).json().balance).toBe(
      String(3 * 30_000 + 3 * 2_500),
    );

    // The Class I user's remaining allowance is exactly 100.00: 100.00 pays, 100.01 does not.
    const rest = await pay(classI, await order(m, '10001'));
    expect(rest.json().code).toBe('PAYMENT_LIMIT_EXCEEDED');
    expect((await pay(classI, await order(m, '10000'))).statusCode).toBe(201);
  });

  it('Idempotency-Key semantics hold on the fast path: replay, reuse, concurrent retries move money once', async () => {
    const m = await shop();
    const alice = await newCustomer(h, { funds: 100_000n, accountClass: 'I' });
    const o = await order(m, '1234');
    const key = randomUUID();
    const [a, b, c] = await Promise.all([pay(alice, o, key), pay(alice, o, key), pay(alice, o, key)]);
    const responses = [a, b, c].map((r) => r.statusCode);
    // One request pays; each retry either replays it or, while it is in flight, is told so.
    expect(responses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(1);
    expect(responses.every((s) => s === 201 || s === 409)).toBe(true);
    const paid = [a, b, c].filter((r) => r.statusCode === 201);
    for (const r of paid) expect(r.json().id).toBe(paid[0]!.json().id);
    expect(await balance(alice)).toBe(String(100_000 - 1_234));

    const replay = await pay(alice, o, key);
    expect(replay.statusCode).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toBe(paid[0]!.body);

    const reused = await pay(alice, await order(m, '999'), key);
    expect(reused.statusCode).toBe(422);
    expect(reused.json().code).toBe('IDEMPOTENCY_KEY_REUSED');

    // A refusal decided in the batch is stored too, and replayed as it was sent.
    const big = await order(m, '99000');
    const refusedKey = randomUUID();
    const refused = await pay(alice, big, refusedKey);
    expect(refused.statusCode).toBe(422);
    expect(refused.json().code).toBe('PAYMENT_LIMIT_EXCEEDED');
    const refusedAgain = await pay(alice, big, refusedKey);
    expect(refusedAgain.headers['idempotent-replayed']).toBe('true');
    expect(refusedAgain.body).toBe(refused.body);
    expect(await balance(alice)).toBe(String(100_000 - 1_234));
  });

  it('a batch that fails to write leaves no payment marked paid without its ledger entry', async () => {
    const m = await shop();
    const payers = await customers(4, { funds: 10_000n });
    const orders = await Promise.all(['1111', '4242', '3333', '4444'].map((amount) => order(m, amount)));
    // A fault inside the batch transaction, after the money has been applied: the payment insert
    // of 42.42 fails (as a lost connection or a bug would).
    await h.t.db.exec(`
      CREATE FUNCTION test_refuse_4242() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.amount = 4242 THEN RAISE EXCEPTION 'payment store unavailable'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_refuse_4242 BEFORE INSERT ON merchants_payments
        FOR EACH ROW EXECUTE FUNCTION test_refuse_4242();`);
    try {
      const keys = payers.map(() => randomUUID());
      const results = await Promise.all(payers.map((c, i) => pay(c, orders[i]!, keys[i])));
      expect(results.map((r) => r.statusCode)).toEqual([201, 500, 201, 201]);
      // The faulty payment: no money moved, no record, the order still open, and its key not
      // stored (a 5xx), so the client's retry runs afresh.
      expect(await balance(payers[1]!)).toBe('10000');
      expect(await orderStatus(m, orders[1]!)).toBe('open');
      const listed = (await h.get('/v1/merchant/payments?limit=50', m.key)).json().items as JsonObject[];
      expect(listed.map((p) => p.amount).sort()).toEqual(['1111', '3333', '4444']);
      // Its neighbours in the batch committed with everything that belongs to them.
      for (const i of [0, 2, 3]) expect(await orderStatus(m, orders[i]!)).toBe('paid');
      await h.t.db.exec('DROP TRIGGER test_refuse_4242 ON merchants_payments');
      const retried = await pay(payers[1]!, orders[1]!, keys[1]);
      expect(retried.statusCode, retried.body).toBe(201);
      expect(retried.headers['idempotent-replayed']).toBeUndefined();
      expect(await balance(payers[1]!)).toBe(String(10_000 - 4_242));
    } finally {
      await h.t.db.exec(`
        DROP TRIGGER IF EXISTS test_refuse_4242 ON merchants_payments;
        DROP FUNCTION IF EXISTS test_refuse_4242();`);
    }
  });

  it('events reach the merchant: endpoints and the order notify URL, one message per payment', async () => {
    const created = await h.post('/v1/operator/merchants', {
      name: `小卖部 ${randomUUID().slice(0, 8)}`,
      fee_bps: 0,
    });
    const m = { id: created.json().id as string };
    const endpoint = await h.webhooks.createEndpoint({
      ownerId: m.id,
      url: 'http://127.0.0.1:9/hooks',
      eventTypes: ['payment.succeeded'],
    });
    const keyed = await h.post(`/v1/operator/merchants/${m.id}/api-keys`, {
      name: 'till',
      scopes: ['payments:write', 'payments:read'],
    });
    const key = keyed.json().key as string;
    const bob = await newCustomer(h, { funds: 10_000n });
    const o = await order({ key }, '700', { notify_url: 'http://127.0.0.1:9/notify' });
    const paid = await pay(bob, o);
    expect(paid.statusCode, paid.body).toBe(201);
    const deliveries = (await h.webhooks.listDeliveries({ ownerId: m.id })).items;
    expect(deliveries.map((d) => [d.eventType, d.endpointId ?? d.url]).sort()).toEqual(
      [
        ['payment.succeeded', endpoint.endpoint.id],
        ['payment.succeeded', 'http://127.0.0.1:9/notify'],
      ].sort(),
    );
    expect(new Set(deliveries.map((d) => d.messageId)).size).toBe(1);
    expect(JSON.parse(deliveries[0]!.body).data).toMatchObject({ id: paid.json().id, amount: '700' });
  });
});
