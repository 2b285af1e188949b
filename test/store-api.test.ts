import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MilletError, businessDateOf, derivedId } from '../src/core/index.ts';
import { Blacklist } from '../src/risk/index.ts';
import {
  InProcessStockEngine,
  RedisStockEngine,
  STORE_MERCHANT_ID,
  type StockEngine,
  type Store,
} from '../src/store/index.ts';
import { openApiHarness, type ApiHarness, type ApiResponse } from './support/api-harness.ts';
import { statementProductTerms } from './support/credit-products.ts';
import { newCustomer, scoreCustomer, type Customer } from './support/customers.ts';
import {
  deliverThenAskReturn,
  fulfilledOrder,
  newStoreSale,
  orderOfAttempt,
  registeredBuyer,
  returnAskedOrder,
  storeAttempt,
} from './support/store-orders.ts';

const redisUrl = process.env.REDIS_URL;
const redisPrefix = `millet-test-${randomBytes(6).toString('hex')}:`;
const engines: Array<[string, () => StockEngine]> = [
  ['in-process', () => new InProcessStockEngine()],
  ...(redisUrl
    ? [
        ['redis', () => new RedisStockEngine({ url: redisUrl, prefix: redisPrefix })] as [
          string,
          () => StockEngine,
        ],
      ]
    : []),
];

// This run's Redis keys go when it ends.
afterAll(async () => {
  if (redisUrl) await RedisStockEngine.deleteKeys(redisUrl, redisPrefix);
});

const MINUTE = 60_000;

describe.each(engines)('store and flash sales over HTTP (%s engine)', (_name, engine) => {
  let h: ApiHarness;
  let store: Store;
  /** Called before the store pushes a blacklist entry into the engine (a test's hook). */
  let beforeSetBlacklisted: ((saleId: string, userId: string, listed: boolean) => Promise<void>) | undefined;
  /** Sales whose lobby refusals the store never hears of, as if it crashed before giving codes back. */
  const lobbyRefusalsLost = new Set<string>();
  beforeAll(async () => {
    const inner = engine();
    // Tokens outlive the reservations these tests let expire.
    h = await openApiHarness({
      storeEngine: {
        ...bind(inner),
        async setBlacklisted(saleId, userId, listed) {
          await beforeSetBlacklisted?.(saleId, userId, listed);
          await inner.setBlacklisted(saleId, userId, listed);
        },
        async admit(saleId, now, max) {
          const admitted = await inner.admit(saleId, now, max);
          return lobbyRefusalsLost.has(saleId) ? { ...admitted, refusedEarly: [] } : admitted;
        },
      },
      store: { admitIntervalMs: 10 },
      identity: { accessTokenTtlSeconds: 30 * 86_400 },
    });
    store = h.store;
  });
  afterAll(async () => {
    await h?.close();
  });
  afterEach(async () => {
    const report = await h.ledger.verify();
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
  });

  const ok = (r: ApiResponse, status: number) => {
    expect(r.statusCode, r.body).toBe(status);
    return r.json();
  };

  /** The reason of a refused attempt (409 STORE_ATTEMPT_REJECTED). */
  const refusal = (r: ApiResponse): string => {
    expect(r.statusCode, r.body).toBe(409);
    expect(r.json().code).toBe('STORE_ATTEMPT_REJECTED');
    return r.json().reason as string;
  };

  /** A product, a SKU with 1,000 units and a sale starting in a minute. */
  const newSale = (overrides: Record<string, unknown> = {}) => newStoreSale(h, overrides);

  const attempt = (c: Customer, saleId: string, body: Record<string, unknown> = {}, key = randomUUID()) =>
    storeAttempt(h, c, saleId, body, key);

  const registered = (saleId: string, funds = 2_000_000n): Promise<Customer> =>
    registeredBuyer(h, saleId, funds);

  /** Polls until the order writer has written the attempt's order. */
  const orderOf = (c: Customer, saleId: string, attemptId: string) => orderOfAttempt(h, c, saleId, attemptId);

  async function balance(accountId: string): Promise<bigint> {
    return (await h.ledger.getAccount(accountId)).balances.posted;
  }

  it('takes a sale from attempt to reservation, payment through checkout and delivery', async () => {
    const { saleId, skuId, startsAt } = await newSale();
    expect(
      ok(await h.get(`/v1/operator/store/products/${(await h.store.getSku(skuId)).productId}/skus`), 200)
        .items[0].stock,
    ).toBe('990');
    const c = await registered(saleId);
    const early = await attempt(c, saleId);
    expect(early.statusCode).toBe(409);
    expect(early.json()).toMatchObject({
      code: 'STORE_ATTEMPT_REJECTED',
      reason: 'not_started',
    });
    h.clock.set(new Date(startsAt + 1_000));

    const key = randomUUID();
    const won = ok(await attempt(c, saleId, { quantity: 2 }, key), 201);
    expect(won).toMatchObject({
      status: 'accepted',
      quantity: 2,
      pay_by: new Date(startsAt + 1_000 + 15 * MINUTE).toISOString(),
    });
    // The same Idempotency-Key is the same attempt; another key is a second attempt, over the limit.
    expect(ok(await attempt(c, saleId, { quantity: 2 }, key), 201)).toEqual(won);
    expect(refusal(await attempt(c, saleId))).toBe('limit_reached');
    expect((await attempt(c, saleId, { quantity: 0 })).statusCode).toBe(400);

    const order = await orderOf(c, saleId, won.attempt_id);
    expect(order).toMatchObject({ status: 'reserved', quantity: 2, unit_price: '499900', amount: '999800' });

    const wallet = (await h.wallet.getWallet(c.id)).ledgerAccountId;
    const merchant = (
      await h.merchants.getMerchant((await import('../src/store/index.ts')).STORE_MERCHANT_ID)
    ).ledgerAccountId;
    const [walletBefore, merchantBefore] = [await balance(wallet), await balance(merchant)];
    const paid = ok(
      await h.post(`/v1/store/orders/${order.id}/pay`, { method: 'balance' }, { key: c.token }),
      200,
    );
    expect(paid).toMatchObject({ status: 'paid', payment_id: expect.any(String) });
    expect(await balance(wallet)).toBe(walletBefore - 999_800n);
    expect(await balance(merchant)).toBe(merchantBefore + 999_800n);
    expect(
      (await h.post(`/v1/store/orders/${order.id}/pay`, { method: 'balance' }, { key: c.token })).json()
        .status,
    ).toBe('paid');
    expect(await balance(wallet)).toBe(walletBefore - 999_800n);

    for (const status of ['packed', 'shipped'] as const)
      expect(
        ok(await h.post(`/v1/operator/store/orders/${order.id}/fulfilment`, { status }), 200).status,
      ).toBe(status);
    const early2 = await h.post(`/v1/operator/store/orders/${order.id}/fulfilment`, { status: 'packed' });
    expect(early2.json().code).toBe('STORE_FULFILMENT_OUT_OF_ORDER');
    h.clock.advance(2 * 86_400_000);
    const delivered = ok(
      await h.post(`/v1/operator/store/orders/${order.id}/fulfilment`, { status: 'delivered' }),
      200,
    );
    expect(delivered).toMatchObject({ status: 'delivered', delivered_on_time: true });
    expect(ok(await h.get(`/v1/operator/store/sales/${saleId}/fulfilment`), 200)).toEqual({
      paid: 1,
      delivered: 1,
      delivered_on_time: 1,
      delivered_late: 0,
      overdue: 0,
      returned: 0,
    });
    const metrics = ok(await h.get(`/v1/operator/store/sales/${saleId}/metrics`), 200);
    expect(metrics).toMatchObject({ accepted: 1, units_accepted: 2, sold: 2, remaining: 8 });
    expect(metrics.rejections).toMatchObject({ not_started: 1, limit_reached: 1 });
    expect(ok(await h.post(`/v1/operator/store/sales/${saleId}/reconciliation`, {}), 200)).toMatchObject({
      drift: 0,
      status: 'ok',
      db_consistent: true,
      engine_taken: 2,
    });
  });

  it('refunds a cancelled paid order to the wallet and returns its units to the sale', async () => {
    const { saleId, startsAt } = await newSale({ allotment: 1 });
    const a = await registered(saleId);
    const b = await registered(saleId);
    h.clock.set(new Date(startsAt + 1));
    const won = ok(await attempt(a, saleId), 201);
    expect(refusal(await attempt(b, saleId))).toBe('sold_out');
    const order = await orderOf(a, saleId, won.attempt_id);
    const wallet = (await h.wallet.getWallet(a.id)).ledgerAccountId;
    const before = await balance(wallet);
    ok(await h.post(`/v1/store/orders/${order.id}/pay`, { method: 'balance' }, { key: a.token }), 200);
    // Cancelled three times at once (a double tap and the app's own retry, each its own key): each
    // answer is the cancelled order, and the money comes back once.
    const cancels = await Promise.all(
      [1, 2, 3].map(() =>
        h.post(`/v1/store/orders/${order.id}/cancel`, { reason: 'changed my mind' }, { key: a.token }),
      ),
    );
    const [cancelled, ...twins] = cancels.map((res) => ok(res, 200));
    expect(cancelled).toMatchObject({ status: 'cancelled', refund_id: expect.any(String) });
    for (const twin of twins)
      expect(twin).toMatchObject({ status: 'cancelled', refund_id: cancelled.refund_id });
    expect(await balance(wallet)).toBe(before);
    // The unit is back: the next buyer gets it.
    expect(ok(await attempt(b, saleId), 201).status).toBe('accepted');
    expect(ok(await h.post(`/v1/operator/store/sales/${saleId}/reconciliation`, {}), 200)).toMatchObject({
      status: 'ok',
      drift: 0,
    });
    const shipped = await h.post(`/v1/store/orders/${order.id}/cancel`, {}, { key: a.token });
    expect(shipped.json().status).toBe('cancelled');
    // The cancel's claim (closing_at) stays on the closed order: paying or packing it said it was
    // "being cancelled", as if that were still under way.
    const pay = await h.post(`/v1/store/orders/${order.id}/pay`, { method: 'balance' }, { key: a.token });
    expect(pay.statusCode).toBe(409);
    expect(pay.json()).toMatchObject({
      code: 'STORE_ORDER_NOT_PAYABLE',
      detail: `Order ${order.id} is cancelled`,
    });
    const pack = await h.post(`/v1/operator/store/orders/${order.id}/fulfilment`, { status: 'packed' });
    expect(pack.statusCode).toBe(409);
    expect(pack.json()).toMatchObject({
      code: 'STORE_FULFILMENT_OUT_OF_ORDER',
      detail: `Order ${order.id} is cancelled, not paid`,
    });
  });

  it('expires a reservation after 15 minutes and returns the stock to the engine', async () => {
    const { saleId, startsAt } = await newSale({ allotment: 1 });
    const a = await registered(saleId);
    const b = await registered(saleId);
    h.clock.set(new Date(startsAt + 1));
    const won = ok(await attempt(a, saleId), 201);
    const order = await orderOf(a, saleId, won.attempt_id);
    expect(refusal(await attempt(b, saleId))).toBe('sold_out');
    h.clock.advance(15 * MINUTE - 2);
    await store.expireReservations();
    expect((await store.getOrder(order.id)).status).toBe('reserved');
    h.clock.advance(2);
    expect(await store.expireReservations()).toBeGreaterThanOrEqual(1);
    expect(ok(await h.get(`/v1/store/orders/${order.id}`, a.token), 200).status).toBe('expired');
    const late = await h.post(`/v1/store/orders/${order.id}/pay`, { method: 'balance' }, { key: a.token });
    expect(late.json().code).toBe('STORE_ORDER_NOT_PAYABLE');
    expect((await store.engine.counters(saleId)).remaining).toBe(1);
    expect(ok(await attempt(b, saleId), 201).status).toBe('accepted');
    expect(
      ok(await h.post(`/v1/operator/store/sales/${saleId}/reconciliation`, { repair: true }), 200),
    ).toMatchObject({
      status: 'ok',
      repaired_releases: 0,
    });
  });

  it('refuses payment after the reservation ended even before the expiry job ran', async () => {
    const { saleId, startsAt } = await newSale();
    const a = await registered(saleId);
    h.clock.set(new Date(startsAt + 1));
    const won = ok(await attempt(a, saleId), 201);
    const order = await orderOf(a, saleId, won.attempt_id);
    h.clock.advance(15 * MINUTE);
    const late = await h.post(`/v1/store/orders/${order.id}/pay`, { method: 'balance' }, { key: a.token });
    expect(late.statusCode).toBe(409);
    expect(late.json().code).toBe('STORE_RESERVATION_EXPIRED');
  });

  it('sells exactly the allotment to a concurrent crowd, and the database agrees', async () => {
    const { saleId, startsAt } = await newSale({ allotment: 40, per_user_limit: 1 });
    const users = Array.from({ length: 600 }, () => randomUUID());
    await store.registerMany(
      saleId,
      users.map((userId) => ({ userId, accountCreatedAt: new Date('2020-01-01') })),
    );
    h.clock.set(new Date(startsAt + 1));
    const results = await Promise.allSettled(
      users.flatMap((userId) =>
        [0, 1].map(() => store.attempt({ saleId, userId, key: randomUUID(), quantity: 1 })),
      ),
    );
    const accepted = results.filter((r) => r.status === 'fulfilled');
    expect(accepted).toHaveLength(40);
    for (const r of results)
      if (r.status === 'rejected')
        expect(['sold_out', 'limit_reached']).toContain(
          (r.reason as { details: { reason: string } }).details.reason,
        );
    for (let i = 0; i < 200 && (await store.engine.counters(saleId)).pendingHandOff > 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    const orders = await store.listOrders({ saleId, limit: 500 });
    expect(orders.items).toHaveLength(40);
    expect(new Set(orders.items.map((o) => o.userId)).size).toBe(40);
    expect((await store.getSale(saleId)).unitsTaken).toBe(40);
    expect(await store.reconcile(saleId)).toMatchObject({ drift: 0, status: 'ok', dbConsistent: true });
  });

  it('loses no accepted attempt when the order writer is killed mid-sale', async () => {
    const { saleId, startsAt } = await newSale({ allotment: 300, per_user_limit: 1 });
    await store.writer!.stop();
    const users = Array.from({ length: 300 }, () => randomUUID());
    await store.registerMany(
      saleId,
      users.map((userId) => ({ userId, accountCreatedAt: new Date('2020-01-01') })),
    );
    h.clock.set(new Date(startsAt + 1));
    const won = await Promise.all(
      users.map((userId) => store.attempt({ saleId, userId, key: randomUUID(), quantity: 1 })),
    );

    // Writer A dies right after reading a batch of this sale: nothing written, nothing acknowledged.
    const a = store.createWriter({
      consumer: 'writer-a',
      batchSize: 100,
      engine: {
        ...bind(store.engine),
        async readAccepted(id, consumer, o) {
          const entries = await store.engine.readAccepted(id, consumer, o);
          if (id === saleId && entries.length > 0) a.kill();
          return entries;
        },
      },
    });
    await a.runOnce();
    // Writer B dies after its database commit, before acknowledging.
    const b = store.createWriter({
      consumer: 'writer-b',
      batchSize: 100,
      engine: {
        ...bind(store.engine),
        async ack(id, ids) {
          if (id === saleId) b.kill();
          else await store.engine.ack(id, ids);
        },
      },
    });
    await b.runOnce();
    expect((await store.listOrders({ saleId, limit: 500 })).items).toHaveLength(100);
    expect((await store.engine.counters(saleId)).pendingHandOff).toBe(300);

    // A new writer takes over the dead writers' entries.
    const c = store.createWriter({ consumer: 'writer-c', minIdleMs: 0 });
    while ((await c.runOnce()) > 0);
    const orders = await store.listOrders({ saleId, limit: 500 });
    expect(orders.items.map((o) => o.attemptId).sort()).toEqual(won.map((w) => w.attemptId).sort());
    expect((await store.getSale(saleId)).unitsTaken).toBe(300);
    expect((await store.engine.counters(saleId)).pendingHandOff).toBe(0);
    expect(await store.reconcile(saleId)).toMatchObject({ drift: 0, status: 'ok' });
    store.startWriter();
  });

  it('lets F-codes buy before the public start, each once', async () => {
    const { saleId, startsAt } = await newSale({
      early_access_from: new Date(h.clock.now().getTime() + 30_000).toISOString(),
    });
    const batch = ok(await h.post(`/v1/operator/store/sales/${saleId}/f-codes`, { count: 2 }), 201);
    expect(batch.codes).toHaveLength(2);
    const a = await registered(saleId);
    const b = await registered(saleId);
    const c = await registered(saleId);
    const [code1, code2] = batch.codes as string[];
    // Before early access opens, a code is no use.
    expect(refusal(await attempt(a, saleId, { f_code: code1 }))).toBe('not_started');
    h.clock.set(new Date(startsAt - 10_000));
    const aKey = randomUUID();
    expect(ok(await attempt(a, saleId, { f_code: code1 }, aKey), 201).status).toBe('accepted');
    expect((await attempt(b, saleId, { f_code: code1 })).json().code).toBe('STORE_FCODE_USED');
    // The code is the winning attempt's: a's retry of it is the same reservation, but a's new attempt
    // with it is refused, and does not give the code back for someone else.
    expect(ok(await attempt(a, saleId, { f_code: code1 }, aKey), 201).status).toBe('accepted');
    expect((await attempt(a, saleId, { f_code: code1 })).json().code).toBe('STORE_FCODE_USED');
    expect((await attempt(b, saleId, { f_code: code1 })).json().code).toBe('STORE_FCODE_USED');
    expect((await attempt(b, saleId, { f_code: 'FNOTACODE' })).json().code).toBe('STORE_FCODE_INVALID');
    expect(refusal(await attempt(b, saleId))).toBe('not_started');
    // A code spent on an attempt that loses is given back: a's second attempt is over the limit.
    expect(refusal(await attempt(a, saleId, { f_code: code2 }))).toBe('limit_reached');
    expect(ok(await attempt(c, saleId, { f_code: code2 }), 201).status).toBe('accepted');
  });

  it('shuffles the admission window: early arrival buys nothing', async () => {
    const { saleId, startsAt } = await newSale({
      allotment: 3,
      per_user_limit: 1,
      admission_window_ms: 2_000,
    });
    const crowd: Customer[] = [];
    for (let i = 0; i < 8; i++) crowd.push(await registered(saleId));
    h.clock.set(new Date(startsAt));
    const queued: string[] = [];
    for (const c of crowd) {
      const r = ok(await attempt(c, saleId), 202);
      expect(r).toMatchObject({ status: 'queued', pay_by: null });
      queued.push(r.attempt_id as string);
      h.clock.advance(100);
    }
    await store.admitLobbies();
    expect((await store.engine.counters(saleId)).lobby).toBe(8);
    h.clock.set(new Date(startsAt + 2_000));
    await store.admitLobbies();
    const outcomes = await Promise.all(
      crowd.map(async (c, i) =>
        ok(await h.get(`/v1/store/sales/${saleId}/attempts/${queued[i]}`, c.token), 200),
      ),
    );
    expect(outcomes.filter((o) => o.status === 'accepted')).toHaveLength(3);
    expect(outcomes.filter((o) => o.status === 'rejected' && o.reason === 'sold_out')).toHaveLength(5);
  });

  it('blacklists in a sale being set up a user blacklisted meanwhile', async () => {
    // A sale's engine is given the blacklist as it is set up, and a new entry is pushed to the
    // sales already live; an entry added in between reached neither, and its user could buy.
    const earlier = await newCustomer(h);
    ok(await h.post('/v1/operator/store/blacklist', { user_id: earlier.id, reason: 'reseller' }), 201);
    const scalper = await newCustomer(h, { funds: 2_000_000n, accountClass: 'III' });
    let listing: Promise<ApiResponse> | undefined;
    beforeSetBlacklisted = async (_saleId, userId, listed) => {
      if (userId !== earlier.id || !listed || listing) return;
      listing = h.post('/v1/operator/store/blacklist', { user_id: scalper.id, reason: 'reseller' });
      await new Promise((resolve) => setTimeout(resolve, 100));
    };
    try {
      const { saleId, startsAt } = await newSale();
      ok(await listing!, 201);
      ok(await h.post(`/v1/store/sales/${saleId}/registrations`, {}, { key: scalper.token }), 201);
      h.clock.set(new Date(startsAt + 1));
      expect(refusal(await attempt(scalper, saleId))).toBe('blacklisted');
    } finally {
      beforeSetBlacklisted = undefined;
      for (const c of [earlier, scalper]) await h.post(`/v1/operator/store/blacklist/${c.id}/remove`, {});
    }
  });

  it('sets a new sale up with the blacklist as the table has it, entries from other processes included', async () => {
    // Another server process (its own Blacklist over the same table) blacklists a user; a sale this
    // process then sets up in the engine was given only this process's copy, and the user could buy.
    const scalper = await newCustomer(h, { funds: 2_000_000n, accountClass: 'III' });
    await new Blacklist(h.t.db, h.clock).add(scalper.id, 'reseller', null);
    try {
      const { saleId, startsAt } = await newSale();
      ok(await h.post(`/v1/store/sales/${saleId}/registrations`, {}, { key: scalper.token }), 201);
      h.clock.set(new Date(startsAt + 1));
      expect(refusal(await attempt(scalper, saleId))).toBe('blacklisted');
      expect(store.blacklist.has(scalper.id)).toBe(true);
    } finally {
      await h.post(`/v1/operator/store/blacklist/${scalper.id}/remove`, {});
    }
  });

  it('holds back scalpers: shared devices, velocity, blacklist; every refusal has a reason', async () => {
    const { saleId, startsAt } = await newSale({ allotment: 100, per_user_limit: 1 });
    h.clock.set(new Date(startsAt + 1));
    // A farm: many new accounts on one device and one address.
    const farm: Customer[] = [];
    for (let i = 0; i < 7; i++) farm.push(await registered(saleId));
    const codes: string[] = [];
    for (const bot of farm) {
      const r = await attempt(bot, saleId, { device_id: 'farm-phone-1', address: '上海市 浦东新区 1号' });
      codes.push(r.statusCode === 201 ? 'accepted' : r.json().code);
    }
    // The first two on the device look like a family; from the third on it is a farm.
    expect(codes).toEqual(['accepted', 'accepted', ...Array<string>(5).fill('STORE_ATTEMPT_BLOCKED')]);
    // A user hammering the endpoint is slowed down, with Retry-After.
    const fast = await registered(saleId);
    const blacklisted = await registered(saleId);
    let slowed: ApiResponse | undefined;
    for (let i = 0; i < 10 && !slowed; i++) {
      const r = await attempt(fast, saleId, { quantity: 5 });
      if (r.statusCode === 429) slowed = r;
    }
    expect(slowed?.json()).toMatchObject({
      code: 'RATE_LIMITED',
      reasons: expect.arrayContaining(['user_velocity']),
    });
    expect(slowed?.headers['retry-after']).toBe('10');
    ok(await h.post('/v1/operator/store/blacklist', { user_id: blacklisted.id, reason: 'reseller' }), 201);
    expect(refusal(await attempt(blacklisted, saleId))).toBe('blacklisted');
    expect(
      ok(await h.get('/v1/operator/store/blacklist'), 200).items.map((e: { user_id: string }) => e.user_id),
    ).toContain(blacklisted.id);
    ok(await h.post(`/v1/operator/store/blacklist/${blacklisted.id}/remove`, {}), 200);
    expect(ok(await attempt(blacklisted, saleId), 201).status).toBe('accepted');
    const unregistered = await newCustomer(h);
    expect((await attempt(unregistered, saleId)).json().code).toBe('STORE_NOT_REGISTERED');

    const m = ok(await h.get(`/v1/operator/store/sales/${saleId}/metrics`), 200);
    expect(m.rejections).toMatchObject({
      risk_block: 5,
      risk_slow_down: 1,
      blacklisted: 1,
      not_registered: 1,
    });
    expect(m.rejections.over_limit).toBeGreaterThan(0);
    const prom = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(prom).toMatch(/millet_risk_decisions_total\{action="block",reason="shared_device"\} \d+/);
    expect(prom).toMatch(/millet_store_attempts_total\{result="rejected",reason="risk_block"\} \d+/);
  });

  it('runs a pre-sale: deposit held on the wallet, balance at release, unpaid deposits forfeited or refunded', async () => {
    const DAY = 86_400_000;
    const start = h.clock.now().getTime() + MINUTE;
    const presale = (unpaid: 'forfeit' | 'refund') => ({
      per_user_limit: 1,
      presale: {
        deposit: '10000',
        balance_from: new Date(start + DAY).toISOString(),
        balance_due_by: new Date(start + 2 * DAY).toISOString(),
        unpaid_deposit: unpaid,
      },
    });
    const forfeitSale = await newSale(presale('forfeit'));
    const refundSale = await newSale(presale('refund'));
    expect(
      ok(await h.get(`/v1/store/sales/${forfeitSale.saleId}`, (await newCustomer(h)).token), 200).presale,
    ).toMatchObject({
      deposit: '10000',
      unpaid_deposit: 'forfeit',
    });
    const payer = await registered(forfeitSale.saleId);
    const forfeiter = await registered(forfeitSale.saleId);
    const refunded = await registered(refundSale.saleId);
    h.clock.set(new Date(forfeitSale.startsAt + 1));
    const orders = [];
    for (const [c, saleId] of [
      [payer, forfeitSale.saleId],
      [forfeiter, forfeitSale.saleId],
      [refunded, refundSale.saleId],
    ] as const) {
      const won = ok(await attempt(c, saleId), 201);
      const order = await orderOf(c, saleId, won.attempt_id);
      expect(order).toMatchObject({ status: 'reserved', deposit: '10000', deposit_status: null });
      // A pre-sale reservation is secured with its deposit, not paid outright.
      expect(
        (await h.post(`/v1/store/orders/${order.id}/pay`, { method: 'balance' }, { key: c.token })).json()
          .code,
      ).toBe('STORE_ORDER_NOT_PAYABLE');
      const held = ok(await h.post(`/v1/store/orders/${order.id}/deposit`, {}, { key: c.token }), 200);
      expect(held).toMatchObject({ status: 'deposit_held', deposit_status: 'held' });
      ok(await h.post(`/v1/store/orders/${order.id}/deposit`, {}, { key: c.token }), 200);
      const wallet = await h.ledger.getAccount((await h.wallet.getWallet(c.id)).ledgerAccountId);
      expect(wallet.balances.posted - wallet.balances.available).toBe(10_000n);
      orders.push(order.id as string);
    }
    const [paidOrder, forfeitOrder, refundOrder] = orders as [string, string, string];
    const payerWallet = (await h.wallet.getWallet(payer.id)).ledgerAccountId;
    const before = await h.ledger.getAccount(payerWallet);
    const early = await h.post(
      `/v1/store/orders/${paidOrder}/pay`,
      { method: 'balance' },
      { key: payer.token },
    );
    expect(early.statusCode).toBe(409);
    expect(early.json().code).toBe('STORE_BALANCE_NOT_DUE');

    h.clock.set(new Date(start + DAY));
    const paid = ok(
      await h.post(`/v1/store/orders/${paidOrder}/pay`, { method: 'balance' }, { key: payer.token }),
      200,
    );
    expect(paid).toMatchObject({ status: 'paid', deposit_status: 'applied' });
    const after = await h.ledger.getAccount(payerWallet);
    // The hold is gone and the full price is paid (the deposit counted towards it).
    expect(after.balances.posted).toBe(before.balances.posted - 499_900n);
    expect(after.balances.available).toBe(after.balances.posted);

    const { STORE_DEPOSITS_ACCOUNT_ID } = await import('../src/store/index.ts');
    const depositsBefore = (await h.ledger.getAccount(STORE_DEPOSITS_ACCOUNT_ID)).balances.posted;
    const forfeiterWallet = (await h.wallet.getWallet(forfeiter.id)).ledgerAccountId;
    const refundedWallet = (await h.wallet.getWallet(refunded.id)).ledgerAccountId;
    const [f0, r0] = [await h.ledger.getAccount(forfeiterWallet), await h.ledger.getAccount(refundedWallet)];
    h.clock.set(new Date(start + 2 * DAY - 1));
    await store.settleUnpaidDeposits();
    expect((await store.getOrder(forfeitOrder)).status).toBe('deposit_held');
    h.clock.set(new Date(start + 2 * DAY));
    expect(await store.settleUnpaidDeposits()).toBeGreaterThanOrEqual(2);
    expect(await store.getOrder(forfeitOrder)).toMatchObject({
      status: 'expired',
      depositStatus: 'forfeited',
    });
    expect(await store.getOrder(refundOrder)).toMatchObject({ status: 'expired', depositStatus: 'refunded' });
    const [f1, r1] = [await h.ledger.getAccount(forfeiterWallet), await h.ledger.getAccount(refundedWallet)];
    expect(f1.balances.posted).toBe(f0.balances.posted - 10_000n);
    expect(f1.balances.available).toBe(f1.balances.posted);
    expect(r1.balances.posted).toBe(r0.balances.posted);
    expect(r1.balances.available).toBe(r1.balances.posted);
    expect((await h.ledger.getAccount(STORE_DEPOSITS_ACCOUNT_ID)).balances.posted).toBe(
      depositsBefore + 10_000n,
    );
    // Their units are back in the engine, and the books agree.
    expect((await store.engine.counters(forfeitSale.saleId)).remaining).toBe(9);
    expect(await store.reconcile(forfeitSale.saleId)).toMatchObject({
      status: 'ok',
      drift: 0,
      dbConsistent: true,
    });
  });

  it('gives the deposit back when the store cancels a pre-sale order, and forfeits it when the buyer does', async () => {
    // An operator's cancel went the sale's "forfeit" way too: the store kept the deposit of an order
    // it cancelled itself.
    const DAY = 86_400_000;
    const start = h.clock.now().getTime() + MINUTE;
    const { saleId, startsAt } = await newSale({
      per_user_limit: 1,
      presale: {
        deposit: '10000',
        balance_from: new Date(start + DAY).toISOString(),
        balance_due_by: new Date(start + 2 * DAY).toISOString(),
        unpaid_deposit: 'forfeit',
      },
    });
    const [byStore, byBuyer] = [await registered(saleId), await registered(saleId)];
    h.clock.set(new Date(startsAt + 1));
    const held: Array<{ orderId: string; wallet: string; posted: bigint }> = [];
    for (const c of [byStore, byBuyer]) {
      const order = await orderOf(c, saleId, ok(await attempt(c, saleId), 201).attempt_id);
      ok(await h.post(`/v1/store/orders/${order.id}/deposit`, {}, { key: c.token }), 200);
      const wallet = (await h.wallet.getWallet(c.id)).ledgerAccountId;
      held.push({ orderId: order.id, wallet, posted: await balance(wallet) });
    }
    const [storeCancel, buyerCancel] = held as [(typeof held)[0], (typeof held)[0]];
    const { STORE_DEPOSITS_ACCOUNT_ID } = await import('../src/store/index.ts');
    const depositsBefore = await balance(STORE_DEPOSITS_ACCOUNT_ID);

    expect(
      ok(await h.post(`/v1/operator/store/orders/${storeCancel.orderId}/cancel`, { reason: 'recall' }), 200),
    ).toMatchObject({ status: 'cancelled', deposit_status: 'refunded' });
    const storeWallet = await h.ledger.getAccount(storeCancel.wallet);
    expect(storeWallet.balances.posted).toBe(storeCancel.posted);
    expect(storeWallet.balances.available).toBe(storeWallet.balances.posted);

    expect(
      ok(await h.post(`/v1/store/orders/${buyerCancel.orderId}/cancel`, {}, { key: byBuyer.token }), 200),
    ).toMatchObject({ status: 'cancelled', deposit_status: 'forfeited' });
    expect(await balance(buyerCancel.wallet)).toBe(buyerCancel.posted - 10_000n);
    expect(await balance(STORE_DEPOSITS_ACCOUNT_ID)).toBe(depositsBefore + 10_000n);
    expect(await store.reconcile(saleId)).toMatchObject({ status: 'ok', drift: 0, dbConsistent: true });
  });

  it('finishes a store cancel of a pre-sale deposit that crashed after the refund, whoever closes it next', async () => {
    // The store's cancel voided the hold, then its process died before the order was closed. The
    // buyer's cancel and the deadline job (a "forfeit" sale) then tried to post the voided hold:
    // a 409 every time, and the job failed on this order at every run.
    const DAY = 86_400_000;
    const start = h.clock.now().getTime() + MINUTE;
    const { saleId, startsAt } = await newSale({
      per_user_limit: 1,
      presale: {
        deposit: '10000',
        balance_from: new Date(start + DAY).toISOString(),
        balance_due_by: new Date(start + 2 * DAY).toISOString(),
        unpaid_deposit: 'forfeit',
      },
    });
    const c = await registered(saleId);
    h.clock.set(new Date(startsAt + 1));
    const order = await orderOf(c, saleId, ok(await attempt(c, saleId), 201).attempt_id);
    ok(await h.post(`/v1/store/orders/${order.id}/deposit`, {}, { key: c.token }), 200);
    const wallet = (await h.wallet.getWallet(c.id)).ledgerAccountId;
    const posted = await balance(wallet);
    const { Orders } = await import('../src/store/orders.ts');
    const { STORE_MERCHANT_ID, STORE_DEPOSITS_ACCOUNT_ID } = await import('../src/store/index.ts');
    const crashing = new Orders(
      h.t.db,
      h.clock,
      store.engine,
      h.merchants,
      () => STORE_MERCHANT_ID,
      {
        walletAccountId: async (userId) => (await h.wallet.getWallet(userId)).ledgerAccountId,
        depositAccountId: () => STORE_DEPOSITS_ACCOUNT_ID,
        placeHold: (command) => h.ledger.placeHold(command),
        postHold: (command) => h.ledger.postHold(command),
        voidHold: async (command) => {
          await h.ledger.voidHold(command);
          throw new Error('process died');
        },
      },
      (id) => store.getSale(id),
    );
    await expect(crashing.cancel(order.id, {})).rejects.toThrow('process died');
    expect((await store.getOrder(order.id)).status).toBe('deposit_held');

    expect(ok(await h.post(`/v1/store/orders/${order.id}/cancel`, {}, { key: c.token }), 200)).toMatchObject({
      status: 'cancelled',
      deposit_status: 'refunded',
    });
    const after = await h.ledger.getAccount(wallet);
    expect(after.balances.posted).toBe(posted);
    expect(after.balances.available).toBe(posted);
    expect(await store.reconcile(saleId)).toMatchObject({ status: 'ok', drift: 0, dbConsistent: true });
  });

  it('keeps money and goods apart when taps and the warehouse race: one deposit, pay or cancel, refund or ship', async () => {
    const DAY = 86_400_000;
    const start = h.clock.now().getTime() + MINUTE;
    const presale = await newSale({
      allotment: 20,
      per_user_limit: 1,
      presale: {
        deposit: '10000',
        balance_from: new Date(start + DAY).toISOString(),
        balance_due_by: new Date(start + 2 * DAY).toISOString(),
        unpaid_deposit: 'forfeit',
      },
    });
    const buyers = [];
    for (let i = 0; i < 4; i++) buyers.push(await registered(presale.saleId));
    h.clock.set(new Date(presale.startsAt + 1));
    const deposited: Array<{ buyer: Customer; orderId: string; wallet: string }> = [];
    for (const buyer of buyers) {
      const won = ok(await attempt(buyer, presale.saleId), 201);
      const order = await orderOf(buyer, presale.saleId, won.attempt_id);
      // Three taps on "pay deposit", each its own key: one hold of the deposit, and it stays held.
      const taps = await Promise.all(
        [1, 2, 3].map(() => h.post(`/v1/store/orders/${order.id}/deposit`, {}, { key: buyer.token })),
      );
      for (const tap of taps) expect(ok(tap, 200)).toMatchObject({ status: 'deposit_held' });
      const wallet = (await h.wallet.getWallet(buyer.id)).ledgerAccountId;
      const account = await h.ledger.getAccount(wallet);
      expect(account.balances.posted).toBe(2_000_000n);
      expect(account.balances.available).toBe(2_000_000n - 10_000n);
      deposited.push({ buyer, orderId: order.id as string, wallet });
    }
    // The balance paid and the order cancelled at once: one of them, with the money to match.
    h.clock.set(new Date(start + DAY));
    for (const { buyer, orderId, wallet } of deposited) {
      await Promise.all([
        h.post(`/v1/store/orders/${orderId}/pay`, { method: 'balance' }, { key: buyer.token }),
        h.post(`/v1/store/orders/${orderId}/cancel`, {}, { key: buyer.token }),
      ]);
      const order = await store.getOrder(orderId);
      const account = await h.ledger.getAccount(wallet);
      expect(account.balances.available).toBe(account.balances.posted);
      if (order.status === 'paid') {
        expect(order.depositStatus).toBe('applied');
        expect(account.balances.posted).toBe(2_000_000n - 499_900n);
      } else {
        expect(order).toMatchObject({ status: 'cancelled', depositStatus: 'forfeited' });
        expect(account.balances.posted).toBe(2_000_000n - 10_000n);
      }
    }

    // A packed order cancelled by its buyer while the warehouse ships it: refunded and cancelled,
    // or shipped and kept; never refunded and shipped.
    const sale = await newSale({ allotment: 20 });
    h.clock.set(new Date(sale.startsAt + 1));
    for (let i = 0; i < 6; i++) {
      const buyer = await registered(sale.saleId);
      const won = ok(await attempt(buyer, sale.saleId), 201);
      const order = await orderOf(buyer, sale.saleId, won.attempt_id);
      ok(await h.post(`/v1/store/orders/${order.id}/pay`, { method: 'balance' }, { key: buyer.token }), 200);
      ok(await h.post(`/v1/operator/store/orders/${order.id}/fulfilment`, { status: 'packed' }), 200);
      const [cancel, ship] = await Promise.all([
        h.post(`/v1/store/orders/${order.id}/cancel`, {}, { key: buyer.token }),
        h.post(`/v1/operator/store/orders/${order.id}/fulfilment`, { status: 'shipped' }),
      ]);
      const after = await store.getOrder(order.id);
      const paidBack = await balance((await h.wallet.getWallet(buyer.id)).ledgerAccountId);
      if (after.status === 'cancelled') {
        expect(cancel.statusCode, cancel.body).toBe(200);
        expect(ship.json()).toMatchObject({ code: 'STORE_FULFILMENT_OUT_OF_ORDER' });
        expect(paidBack).toBe(2_000_000n);
      } else {
        expect(after.status).toBe('shipped');
        expect(cancel.json()).toMatchObject({ code: 'STORE_ORDER_NOT_CANCELLABLE' });
        expect(after.refundId).toBeNull();
        expect(paidBack).toBe(2_000_000n - 499_900n);
      }
    }
  });

  /** Bank clearing → the customer's wallet, as a settled top-up. */
  async function topUp(c: Customer, amount: bigint) {
    await h.ledger.transfer({
      id: randomUUID(),
      debitAccountId: h.wallet.bankClearingAccountId(),
      creditAccountId: (await h.wallet.getWallet(c.id)).ledgerAccountId,
      amount,
    });
  }

  it('lets a buyer pay again after a refused payment, and pay a pre-sale balance days after a refused one', async () => {
    // Checkout's order for the store order was created with an expiry counted from the moment of
    // the first payment, so the next payment a second later asked for "the same order" with
    // another expiry: 422 IDEMPOTENCY_KEY_REUSED, and the reservation could never be paid.
    const { saleId, startsAt } = await newSale();
    const short = await registered(saleId, 100n);
    h.clock.set(new Date(startsAt + 1));
    const won = ok(await attempt(short, saleId), 201);
    const order = await orderOf(short, saleId, won.attempt_id);
    const pay = () => h.post(`/v1/store/orders/${order.id}/pay`, { method: 'balance' }, { key: short.token });
    expect((await pay()).json().code).toBe('INSUFFICIENT_FUNDS');
    expect((await store.getOrder(order.id)).status).toBe('reserved');
    h.clock.advance(10_000);
    await topUp(short, 499_900n);
    expect(ok(await pay(), 200)).toMatchObject({ status: 'paid' });
    expect(await balance((await h.wallet.getWallet(short.id)).ledgerAccountId)).toBe(100n);

    // A pre-sale's balance window is longer than checkout's one-day order: a payment refused on
    // the first day, and the next two days later, found checkout's order expired.
    const start = h.clock.now().getTime() + MINUTE;
    const presale = await newSale({
      per_user_limit: 1,
      presale: {
        deposit: '10000',
        balance_from: new Date(start + 86_400_000).toISOString(),
        balance_due_by: new Date(start + 5 * 86_400_000).toISOString(),
        unpaid_deposit: 'forfeit',
      },
    });
    const buyer = await registered(presale.saleId, 20_000n);
    h.clock.set(new Date(presale.startsAt + 1));
    const presaleWon = ok(await attempt(buyer, presale.saleId), 201);
    const presaleOrder = await orderOf(buyer, presale.saleId, presaleWon.attempt_id);
    ok(await h.post(`/v1/store/orders/${presaleOrder.id}/deposit`, {}, { key: buyer.token }), 200);
    const payBalance = () =>
      h.post(`/v1/store/orders/${presaleOrder.id}/pay`, { method: 'balance' }, { key: buyer.token });
    h.clock.set(new Date(start + 86_400_000 + 1_000));
    expect((await payBalance()).json().code).toBe('INSUFFICIENT_FUNDS');
    expect(await store.getOrder(presaleOrder.id)).toMatchObject({
      status: 'deposit_held',
      depositStatus: 'held',
    });
    h.clock.set(new Date(start + 3 * 86_400_000));
    await topUp(buyer, 499_900n);
    expect(ok(await payBalance(), 200)).toMatchObject({ status: 'paid', deposit_status: 'applied' });
    const wallet = await h.ledger.getAccount((await h.wallet.getWallet(buyer.id)).ledgerAccountId);
    expect(wallet.balances.posted).toBe(20_000n);
    expect(wallet.balances.available).toBe(20_000n);
  });

  it('settles card payments from the expiry job: a settled card is paid, a failed one gives its unit back', async () => {
    // A card payment is pending until the bank settles; only the buyer paying again used to ask
    // about it, so a settled order stayed `paying` (the warehouse could not pack it) and a failed
    // one held its unit for good: the expiry job leaves `paying` orders alone.
    const { saleId, startsAt } = await newSale({ allotment: 2 });
    h.clock.set(new Date(startsAt + 1));
    const orders: Record<string, string> = {};
    for (const card of ['card_ok', 'sandbox_fail']) {
      const buyer = await registered(saleId);
      const won = ok(await attempt(buyer, saleId), 201);
      const order = await orderOf(buyer, saleId, won.attempt_id);
      const paying = ok(
        await h.post(
          `/v1/store/orders/${order.id}/pay`,
          { method: 'bank_card', card_token: card },
          { key: buyer.token },
        ),
        200,
      );
      expect(paying.status).toBe('paying');
      for (let i = 0; (await h.merchants.getPayment(paying.payment_id)).status === 'pending'; i++) {
        expect(i).toBeLessThan(300);
        await new Promise((r) => setTimeout(r, 10));
      }
      orders[card] = order.id;
    }
    // The statuses as stored (reading one order asks checkout about it: see the next test).
    const stored = async (id: string) =>
      (await store.listOrders({ saleId, limit: 10 })).items.find((o) => o.id === id)!.status;
    // A claim younger than a minute may still be in its request: left alone.
    await store.expireReservations();
    expect(await stored(orders.card_ok!)).toBe('paying');
    h.clock.advance(MINUTE);
    await store.expireReservations();
    expect(await stored(orders.card_ok!)).toBe('paid');
    ok(await h.post(`/v1/operator/store/orders/${orders.card_ok}/fulfilment`, { status: 'packed' }), 200);
    expect(await stored(orders.sandbox_fail!)).toBe('reserved');
    h.clock.advance(15 * MINUTE);
    await store.expireReservations();
    expect((await store.getOrder(orders.sandbox_fail!)).status).toBe('expired');
    expect((await store.engine.counters(saleId)).remaining).toBe(1);
    expect(await store.reconcile(saleId)).toMatchObject({ status: 'ok', drift: 0, dbConsistent: true });
  });

  it('shows a card payment settled since in the order read, without waiting for the expiry job', async () => {
    // The order read showed `paying` until the expiry job asked checkout (a minute at least): the
    // buyer whose card had settled saw nothing happen, and one whose card failed could not tell to
    // pay again.
    const { saleId, startsAt } = await newSale({ allotment: 2 });
    h.clock.set(new Date(startsAt + 1));
    for (const [card, expected] of [
      ['card_ok', 'paid'],
      ['sandbox_fail', 'reserved'],
    ] as const) {
      const buyer = await registered(saleId);
      const won = ok(await attempt(buyer, saleId), 201);
      const order = await orderOf(buyer, saleId, won.attempt_id);
      const paying = ok(
        await h.post(
          `/v1/store/orders/${order.id}/pay`,
          { method: 'bank_card', card_token: card },
          { key: buyer.token },
        ),
        200,
      );
      expect(paying.status).toBe('paying');
      for (let i = 0; (await h.merchants.getPayment(paying.payment_id)).status === 'pending'; i++) {
        expect(i).toBeLessThan(300);
        await new Promise((r) => setTimeout(r, 10));
      }
      const read = ok(await h.get(`/v1/store/orders/${order.id}`, buyer.token), 200);
      expect(read.status).toBe(expected);
      expect(read.payment_id).toBe(expected === 'paid' ? paying.payment_id : null);
    }
    expect(await store.reconcile(saleId)).toMatchObject({ status: 'ok', drift: 0, dbConsistent: true });
  });

  /**
   * A sale of one unit whose two F-code holders both try in its admission window, and the lobby's
   * drain: one wins. With `refusalsLost` the store never hears of the lobby's refusals (a crash).
   */
  async function twoFcodeHoldersForOneUnit(o: { refusalsLost?: boolean } = {}) {
    const { saleId, startsAt } = await newSale({
      allotment: 1,
      per_user_limit: 1,
      admission_window_ms: 1_000,
      early_access_from: new Date(h.clock.now().getTime() + 30_000).toISOString(),
    });
    if (o.refusalsLost) lobbyRefusalsLost.add(saleId);
    const codes = ok(await h.post(`/v1/operator/store/sales/${saleId}/f-codes`, { count: 2 }), 201)
      .codes as string[];
    const holders = [await registered(saleId), await registered(saleId)];
    const other = await registered(saleId);
    h.clock.set(new Date(startsAt + 10));
    const queued = [];
    for (const [i, holder] of holders.entries())
      queued.push(ok(await attempt(holder, saleId, { f_code: codes[i] }), 202).attempt_id as string);
    h.clock.set(new Date(startsAt + 1_000));
    await store.admitLobbies();
    const statuses = [];
    for (const [i, holder] of holders.entries()) {
      const s = ok(await h.get(`/v1/store/sales/${saleId}/attempts/${queued[i]}`, holder.token), 200);
      statuses.push(s.status as string);
    }
    expect([...statuses].sort()).toEqual(['accepted', 'rejected']);
    const [winnerCode, loserCode] = statuses[0] === 'accepted' ? codes : [codes[1]!, codes[0]!];
    return { saleId, startsAt, other, winnerCode: winnerCode!, loserCode: loserCode! };
  }

  it('gives back an F-code spent on an attempt the admission lobby refused', async () => {
    // Only an F-code attempt refused at once gave its code back: one queued in the admission lobby
    // and refused there (sold out) kept its code spent, an early-access right lost for nothing.
    const { saleId, other, winnerCode, loserCode } = await twoFcodeHoldersForOneUnit();
    // The drain that refused the loser may be the store's own timer, finishing just after this
    // test's: wait (a little) for the codes in use to settle.
    const spent = async () =>
      (await h.t.db.query('SELECT 1 FROM store_fcodes WHERE sale_id = $1 AND used_by IS NOT NULL', [saleId]))
        .rows.length;
    for (let i = 0; (await spent()) > 1 && i < 100; i++) await new Promise((r) => setTimeout(r, 10));
    // The winner's code stays spent; the loser's is free again (here it meets a sale sold out).
    expect((await attempt(other, saleId, { f_code: winnerCode })).json().code).toBe('STORE_FCODE_USED');
    expect(refusal(await attempt(other, saleId, { f_code: loserCode }))).toBe('sold_out');
  });

  it('gives back, on a reconciliation repair, an F-code whose lobby refusal was never released', async () => {
    // The give-back after the lobby's drain is lost if the process dies between the engine's
    // refusal and the release: the code stayed spent for good though its attempt never won.
    const { saleId, startsAt, other, winnerCode, loserCode } = await twoFcodeHoldersForOneUnit({
      refusalsLost: true,
    });
    expect((await attempt(other, saleId, { f_code: loserCode })).json().code).toBe('STORE_FCODE_USED');
    // A repair a little after the window (a code spent a moment ago may be on its way to the engine).
    h.clock.set(new Date(startsAt + 2 * MINUTE));
    const repaired = ok(
      await h.post(`/v1/operator/store/sales/${saleId}/reconciliation`, { repair: true }),
      200,
    );
    expect(repaired).toMatchObject({ released_fcodes: 1, status: 'ok' });
    expect((await attempt(other, saleId, { f_code: winnerCode })).json().code).toBe('STORE_FCODE_USED');
    expect(refusal(await attempt(other, saleId, { f_code: loserCode }))).toBe('sold_out');
    // Nothing more to give back the next time.
    expect(await store.reconcile(saleId, { repair: true })).toMatchObject({ releasedFcodes: 0 });
  });

  it('refuses a sale whose largest order is more than one payment can carry', async () => {
    // A price up to 10^15 fen times a per-user limit up to 100 made reservations no payment or
    // deposit hold could settle (the ledger's largest amount is 10^15): refused at creation now.
    const { skuId } = await newSale();
    const startsAt = h.clock.now().getTime() + MINUTE;
    const saleOf = (price: string, perUserLimit: number) =>
      h.post('/v1/operator/store/sales', {
        sku_id: skuId,
        name: 'Gold edition',
        price,
        allotment: 1,
        per_user_limit: perUserLimit,
        starts_at: new Date(startsAt).toISOString(),
        ends_at: new Date(startsAt + 60 * MINUTE).toISOString(),
      });
    const tooBig = await saleOf('1000000000000000', 2);
    expect(tooBig.statusCode).toBe(422);
    expect(tooBig.json()).toMatchObject({ code: 'AMOUNT_INVALID', field: 'price' });
    expect((await saleOf('10000000000000', 101)).statusCode).toBe(400);
    ok(await saleOf('500000000000000', 2), 201);
    ok(await saleOf('1000000000000000', 1), 201);
  });

  it('takes no deposit the balance can no longer follow, and no sale that is already over', async () => {
    // A deposit taken after the balance deadline could only be forfeited: the buyer lost it with
    // no chance to buy.
    const start = h.clock.now().getTime() + MINUTE;
    const presale = await newSale({
      per_user_limit: 1,
      ends_at: new Date(start + 60 * MINUTE).toISOString(),
      presale: {
        deposit: '10000',
        balance_from: new Date(start).toISOString(),
        balance_due_by: new Date(start + 61 * MINUTE).toISOString(),
        unpaid_deposit: 'forfeit',
      },
    });
    const buyer = await registered(presale.saleId);
    h.clock.set(new Date(start + 59 * MINUTE));
    const won = ok(await attempt(buyer, presale.saleId), 201);
    const order = await orderOf(buyer, presale.saleId, won.attempt_id);
    h.clock.set(new Date(start + 62 * MINUTE));
    const late = await h.post(`/v1/store/orders/${order.id}/deposit`, {}, { key: buyer.token });
    expect(late.statusCode, late.body).toBe(409);
    expect(late.json().code).toBe('STORE_RESERVATION_EXPIRED');
    await store.settleUnpaidDeposits();
    h.clock.advance(15 * MINUTE);
    await store.expireReservations();
    expect(await store.getOrder(order.id)).toMatchObject({ status: 'expired', depositStatus: null });
    const wallet = await h.ledger.getAccount((await h.wallet.getWallet(buyer.id)).ledgerAccountId);
    expect([wallet.balances.posted, wallet.balances.available]).toEqual([2_000_000n, 2_000_000n]);

    // Nor can a pre-sale be set up that way, or a sale that ended before it was created (its
    // allotment would leave the SKU's stock for good).
    const { skuId } = await newSale();
    const now = h.clock.now().getTime();
    const sale = (changes: Record<string, unknown>) =>
      h.post('/v1/operator/store/sales', {
        sku_id: skuId,
        name: 'x',
        price: '100',
        allotment: 1,
        per_user_limit: 1,
        starts_at: new Date(now + MINUTE).toISOString(),
        ends_at: new Date(now + 60 * MINUTE).toISOString(),
        ...changes,
      });
    const over = await sale({
      starts_at: new Date(now - 2 * 60 * MINUTE).toISOString(),
      ends_at: new Date(now - 60 * MINUTE).toISOString(),
    });
    expect(over.statusCode, over.body).toBe(400);
    expect(over.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'ends_at' });
    const dueEarly = await sale({
      presale: {
        deposit: '10',
        balance_from: new Date(now + MINUTE).toISOString(),
        balance_due_by: new Date(now + 30 * MINUTE).toISOString(),
        unpaid_deposit: 'refund',
      },
    });
    expect(dueEarly.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'balance_due_by' });
    expect((await store.getSku(skuId)).stock).toBe(990n);
  });

  it('pays a pre-sale balance whose deposit could not be held again after a refused payment', async () => {
    // A refused balance payment holds the deposit again; when the wallet no longer covers it (spent
    // meanwhile) the order is left without a hold. Paying the balance then released "the hold" —
    // none — and threw after claiming the order: `paying` for good, its unit never back.
    const start = h.clock.now().getTime() + MINUTE;
    const presale = await newSale({
      per_user_limit: 1,
      presale: {
        deposit: '10000',
        balance_from: new Date(start + 86_400_000).toISOString(),
        balance_due_by: new Date(start + 2 * 86_400_000).toISOString(),
        unpaid_deposit: 'forfeit',
      },
    });
    const buyer = await registered(presale.saleId, 20_000n);
    h.clock.set(new Date(presale.startsAt + 1));
    const won = ok(await attempt(buyer, presale.saleId), 201);
    const order = await orderOf(buyer, presale.saleId, won.attempt_id);
    ok(await h.post(`/v1/store/orders/${order.id}/deposit`, {}, { key: buyer.token }), 200);
    const walletId = (await h.wallet.getWallet(buyer.id)).ledgerAccountId;
    const method = `drain_${randomUUID().slice(0, 8)}`;
    h.merchants.registerPaymentMethod(method, {
      // The buyer's money leaves through another door while this payment is refused.
      async collect(payment) {
        await h.ledger.transfer({
          id: randomUUID(),
          debitAccountId: walletId,
          creditAccountId: h.wallet.bankClearingAccountId(),
          amount: (await h.ledger.getAccount(walletId)).balances.available,
        });
        throw new MilletError('BANK_DECLINED', 'declined', { paymentId: payment.paymentId });
      },
    });
    h.clock.set(new Date(start + 86_400_000));
    const refused = await h.post(`/v1/store/orders/${order.id}/pay`, { method }, { key: buyer.token });
    expect(refused.statusCode, refused.body).toBeGreaterThanOrEqual(400);
    expect(refused.statusCode).toBeLessThan(500);
    expect(await store.getOrder(order.id)).toMatchObject({ status: 'deposit_held', depositStatus: null });
    await topUp(buyer, 499_900n);
    const paid = await h.post(
      `/v1/store/orders/${order.id}/pay`,
      { method: 'balance' },
      { key: buyer.token },
    );
    expect(ok(paid, 200)).toMatchObject({ status: 'paid' });
    expect(await balance(walletId)).toBe(0n);
  });

  it('counts in the live metrics the refusals of the lobby as well as those at the door', async () => {
    // The console's rejections merged the engine's counts with this process's own tally of every
    // refusal it answered, the latter winning: the shuffled crowd the lobby refused as sold out
    // (counted only by the engine) vanished behind the first sold-out answered at the door.
    const { saleId, startsAt } = await newSale({ allotment: 1, admission_window_ms: 1_000 });
    const crowd = [];
    for (let i = 0; i < 4; i++) crowd.push(await registered(saleId));
    h.clock.set(new Date(startsAt + 10));
    for (const c of crowd.slice(0, 3)) expect(ok(await attempt(c, saleId), 202).status).toBe('queued');
    h.clock.set(new Date(startsAt + 1_000));
    await store.admitLobbies();
    expect(refusal(await attempt(crowd[3]!, saleId))).toBe('sold_out');
    const metrics = ok(await h.get(`/v1/operator/store/sales/${saleId}/metrics`), 200);
    expect(metrics).toMatchObject({ accepted: 1, remaining: 0 });
    expect(metrics.rejections).toEqual({ sold_out: 3 });
  });

  it('creates a sale once when the same sale is sent twice at once', async () => {
    // On PostgreSQL the twin's insert hit the primary key: a 500 for the operator's retry.
    const { skuId } = await newSale();
    const id = randomUUID();
    const now = h.clock.now().getTime();
    const sends = await Promise.all(
      [1, 2, 3].map(() =>
        h.post('/v1/operator/store/sales', {
          id,
          sku_id: skuId,
          name: 'twice',
          price: '100',
          allotment: 5,
          per_user_limit: 1,
          starts_at: new Date(now + MINUTE).toISOString(),
          ends_at: new Date(now + 60 * MINUTE).toISOString(),
        }),
      ),
    );
    for (const sent of sends) expect(ok(sent, 201).id).toBe(id);
    expect((await store.getSku(skuId)).stock).toBe(985n);
  });

  it('shows shoppers the sales on now and to come, soonest first, with product and server time', async () => {
    const soon = await newSale({ name: 'Soon' });
    const later = await newSale({
      name: 'Later',
      starts_at: new Date(soon.startsAt + 30 * MINUTE).toISOString(),
      ends_at: new Date(soon.startsAt + 90 * MINUTE).toISOString(),
    });
    const shopper = await newCustomer(h, { accountClass: 'III' });
    const listed = ok(await h.get('/v1/store/sales?limit=100', shopper.token), 200);
    expect(listed.now).toBe(h.clock.now().toISOString());
    const ours = (listed.items as Array<{ id: string; name: string }>).filter((s) =>
      [soon.saleId, later.saleId].includes(s.id),
    );
    expect(ours.map((s) => s.name)).toEqual(['Soon', 'Later']);
    expect(ours[0]).toMatchObject({
      price: '499900',
      product: { name: 'Millet 15 Pro' },
      sku: { id: soon.skuId, name: '16 GB + 512 GB, black', price: '549900' },
    });
    const starts = (listed.items as Array<{ starts_at: string }>).map((s) => s.starts_at);
    expect(starts).toEqual([...starts].sort());

    // Once the first has ended it is no longer listed; the second still is.
    h.clock.set(new Date(soon.startsAt + 61 * MINUTE));
    const after = ok(await h.get('/v1/store/sales?limit=100', shopper.token), 200);
    const ids = (after.items as Array<{ id: string }>).map((s) => s.id);
    expect(ids).not.toContain(soon.saleId);
    expect(ids).toContain(later.saleId);
    expect((await h.get('/v1/store/sales')).statusCode).toBe(401);
  });

  it('blacklists, and takes off the list, a user whose id the operator sent in upper case', async () => {
    // The table stores UUIDs in lower case, the attempt path compares the token's lower-case id: an
    // upper-case id was listed in the table yet its user bought, and taking it off in upper case
    // deleted the row while the engine went on refusing the user.
    const { saleId, startsAt } = await newSale();
    const scalper = await registered(saleId);
    h.clock.set(new Date(startsAt + 1));
    try {
      ok(
        await h.post('/v1/operator/store/blacklist', {
          user_id: scalper.id.toUpperCase(),
          reason: 'reseller',
        }),
        201,
      );
      expect(store.blacklist.has(scalper.id)).toBe(true);
      expect(refusal(await attempt(scalper, saleId))).toBe('blacklisted');
      ok(await h.post(`/v1/operator/store/blacklist/${scalper.id.toUpperCase()}/remove`, {}), 200);
      expect(store.blacklist.has(scalper.id)).toBe(false);
      expect(ok(await attempt(scalper, saleId), 201).status).toBe('accepted');
    } finally {
      await h.post(`/v1/operator/store/blacklist/${scalper.id}/remove`, {});
    }
  });

  it('reconciles and measures a sale asked for by its id in upper case', async () => {
    // The engine keys a sale by its stored (lower-case) id; asked in upper case, reconciliation
    // read an engine holding nothing and reported the whole allotment undersold.
    const { saleId, startsAt } = await newSale();
    const c = await registered(saleId);
    h.clock.set(new Date(startsAt + 1));
    const won = ok(await attempt(c, saleId), 201);
    await orderOf(c, saleId, won.attempt_id);
    const upper = saleId.toUpperCase();
    expect(
      ok(await h.post(`/v1/operator/store/sales/${upper}/reconciliation`, { repair: true }), 200),
    ).toMatchObject({ engine_taken: 1, engine_remaining: 9, drift: 0, status: 'ok' });
    expect(ok(await h.get(`/v1/operator/store/sales/${upper}/metrics`), 200)).toMatchObject({
      accepted: 1,
      remaining: 9,
    });
    const status = ok(
      await h.get(`/v1/store/sales/${upper}/attempts/${String(won.attempt_id).toUpperCase()}`, c.token),
      200,
    );
    expect(status).toMatchObject({ status: 'accepted', order: { attempt_id: won.attempt_id } });
  });

  it('lets a user who registers by the sale id in upper case attempt at once', async () => {
    // A refused "not registered" is remembered for two seconds under the stored id; registering
    // by the id in upper case cleared another key, so the user stayed refused.
    const { saleId, startsAt } = await newSale();
    const c = await newCustomer(h, { funds: 2_000_000n, accountClass: 'III' });
    h.clock.set(new Date(startsAt + 1));
    expect((await attempt(c, saleId)).json().code).toBe('STORE_NOT_REGISTERED');
    ok(await h.post(`/v1/store/sales/${saleId.toUpperCase()}/registrations`, {}, { key: c.token }), 201);
    expect(ok(await attempt(c, saleId), 201).status).toBe('accepted');
  });

  it('refuses a fulfilment step for a malformed order id with a 400, not a 500', async () => {
    const r = await h.post('/v1/operator/store/orders/not-a-uuid/fulfilment', { status: 'packed' });
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'id' });
  });

  const DAY_MS = 86_400_000;
  /** `time` (HH:MM) in Beijing on the business day `days` from now. */
  const inBeijing = (days: number, time: string) =>
    new Date(`${businessDateOf(new Date(h.clock.now().getTime() + days * DAY_MS))}T${time}:00+08:00`);

  /** A buyer's paid order of one unit, taken through fulfilment up to `upTo`. */
  const fulfilled = (
    upTo: 'paid' | 'packed' | 'shipped' | 'delivered',
    o: { allotment?: number; deliveredAt?: Date } = {},
  ) => fulfilledOrder(h, upTo, o);

  it('returns a delivered order within seven days: refunded once to the wallet, the unit kept out of the sale', async () => {
    // 23:30 in Beijing on day D: the seven days run from D + 1 to the end of D + 7, Beijing time.
    const deliveredAt = inBeijing(2, '23:30');
    const returnBy = `${businessDateOf(new Date(deliveredAt.getTime() + 7 * DAY_MS))}T23:59:59.999+08:00`;
    const { saleId, buyer, orderId, wallet } = await fulfilled('shipped', { allotment: 1 });
    const other = await registered(saleId);
    expect(refusal(await attempt(other, saleId))).toBe('sold_out');
    const early = await h.post(`/v1/store/orders/${orderId}/return`, {}, { key: buyer.token });
    expect(early.statusCode).toBe(409);
    expect(early.headers['content-type']).toContain('application/problem+json');
    expect(early.json()).toMatchObject({ code: 'STORE_RETURN_NOT_DELIVERED', status: 409 });
    const notAsked = await h.post(`/v1/operator/store/orders/${orderId}/return/received`, {});
    expect(notAsked.statusCode).toBe(409);
    expect(notAsked.json().code).toBe('STORE_RETURN_NOT_REQUESTED');
    h.clock.set(deliveredAt);
    const delivered = ok(
      await h.post(`/v1/operator/store/orders/${orderId}/fulfilment`, { status: 'delivered' }),
      200,
    );
    expect(delivered).toMatchObject({ return_by: new Date(returnBy).toISOString(), return: null });
    // Someone else's order is not found, as any other read of it.
    const stranger = await h.post(`/v1/store/orders/${orderId}/return`, {}, { key: other.token });
    expect(stranger.json().code).toBe('STORE_ORDER_NOT_FOUND');

    h.clock.set(returnBy);
    const paidOut = await balance(wallet);
    const asked = ok(
      await h.post(`/v1/store/orders/${orderId}/return`, { reason: 'too big' }, { key: buyer.token }),
      200,
    );
    expect(asked).toMatchObject({
      status: 'delivered',
      return: { status: 'requested', reason: 'too big', received_at: null, refund_id: null },
    });
    // Asked again (another key): the same return.
    expect(
      ok(await h.post(`/v1/store/orders/${orderId}/return`, {}, { key: buyer.token }), 200).return,
    ).toEqual(asked.return);
    const toReceive = ok(await h.get(`/v1/operator/store/orders?return_status=requested&limit=100`), 200);
    expect(toReceive.items.map((x: { id: string }) => x.id)).toContain(orderId);

    // The warehouse scans the parcel three times at once: one refund, the same answer each time.
    h.clock.advance(86_400_000);
    const scans = await Promise.all(
      [1, 2, 3].map(() => h.post(`/v1/operator/store/orders/${orderId}/return/received`, {})),
    );
    const [received, ...twins] = scans.map((r) => ok(r, 200));
    expect(received).toMatchObject({
      status: 'delivered',
      return: { status: 'refunded', refund_id: expect.any(String), received_at: expect.any(String) },
    });
    for (const twin of twins) expect(twin.return).toEqual(received.return);
    expect(await balance(wallet)).toBe(paidOut + 499_900n);
    expect(ok(await h.post(`/v1/operator/store/orders/${orderId}/return/received`, {}), 200).return).toEqual(
      received.return,
    );
    expect(await balance(wallet)).toBe(paidOut + 499_900n);
    const refund = await h.merchants.getRefund(received.return.refund_id);
    expect(refund).toMatchObject({ status: 'succeeded', amount: 499_900n, reason: 'too big' });
    // A returned item is not new stock: the sale's unit stays taken (not back on sale, as a
    // cancelled order's is), and the engine and the database still agree.
    expect((await store.engine.counters(saleId)).remaining).toBe(0);
    expect((await store.getSale(saleId)).unitsTaken).toBe(1);
    expect(ok(await h.post(`/v1/operator/store/sales/${saleId}/reconciliation`, {}), 200)).toMatchObject({
      status: 'ok',
      drift: 0,
      db_consistent: true,
    });
  });

  it('refuses a return asked for after the seven days, counted on the business clock', async () => {
    // 00:30 on day D in Beijing (still D − 1 in UTC): the last day is D + 7, not D + 6.
    const deliveredAt = inBeijing(2, '00:30');
    const returnBy = new Date(
      `${businessDateOf(new Date(deliveredAt.getTime() + 7 * DAY_MS))}T23:59:59.999+08:00`,
    );
    const first = await fulfilled('delivered', { deliveredAt });
    // Ten minutes later, the same day in Beijing (the first order's sale started meanwhile).
    const second = await fulfilled('delivered', { deliveredAt: new Date(deliveredAt.getTime() + 600_000) });
    h.clock.set(new Date(returnBy.getTime() - 60_000));
    ok(await h.post(`/v1/store/orders/${first.orderId}/return`, {}, { key: first.buyer.token }), 200);
    h.clock.set(new Date(returnBy.getTime() + 1));
    const late = await h.post(`/v1/store/orders/${second.orderId}/return`, {}, { key: second.buyer.token });
    expect(late.statusCode).toBe(409);
    expect(late.headers['content-type']).toContain('application/problem+json');
    expect(late.json()).toMatchObject({
      code: 'STORE_RETURN_WINDOW_CLOSED',
      return_by: returnBy.toISOString(),
    });
    expect((await store.getOrder(second.orderId)).return).toBeNull();
    // A return asked for in time is still received and refunded after the window.
    expect(
      ok(await h.post(`/v1/operator/store/orders/${first.orderId}/return/received`, {}), 200).return.status,
    ).toBe('refunded');
  });

  it('refunds a return paid in pay-later instalments to the line, as a cancel does, not to the wallet', async () => {
    const product = ok(
      await h.post('/v1/operator/paylater/products', {
        code: `hb-${randomUUID().slice(0, 8)}`,
        name: '花呗',
        ...statementProductTerms,
      }),
      201,
    );
    ok(
      await h.post('/v1/operator/paylater/limit-bands', {
        bands: [{ min_score: 350, limit: '2000000' }],
      }),
      201,
    );
    const { saleId, startsAt } = await newSale();
    const buyer = await registered(saleId);
    await scoreCustomer(h, buyer);
    ok(await h.post('/v1/paylater/line', { product_id: product.id }, { key: buyer.token }), 201);
    h.clock.set(new Date(startsAt + 1));
    const won = ok(await attempt(buyer, saleId), 201);
    const placed = await orderOf(buyer, saleId, won.attempt_id);
    const used = async () => BigInt(ok(await h.get('/v1/paylater/line', buyer.token), 200).used as string);
    const usedBefore = await used();
    ok(
      await h.post(
        `/v1/store/orders/${placed.id}/pay`,
        { method: 'pay_later_instalments', terms: '3' },
        { key: buyer.token },
      ),
      200,
    );
    expect(await used()).toBe(usedBefore + 499_900n);
    const wallet = (await h.wallet.getWallet(buyer.id)).ledgerAccountId;
    const walletBefore = await balance(wallet);
    await deliverThenAskReturn(h, { orderId: placed.id, buyer });
    for (let i = 0; i < 2; i++)
      expect(
        ok(await h.post(`/v1/operator/store/orders/${placed.id}/return/received`, {}), 200).return.status,
      ).toBe('refunded');
    expect(await used()).toBe(usedBefore);
    expect(await balance(wallet)).toBe(walletBefore);
  });

  it('finishes a cancel left closing after its refund, whatever reason the next cancel gives', async () => {
    const { orderId, buyer, wallet } = await fulfilled('packed');
    const paidOut = await balance(wallet);
    // The buyer's cancel claims the order and refunds it, then its process dies before closing it.
    const refunds = h.merchants.refund.bind(h.merchants);
    let dies = true;
    h.merchants.refund = async (command) => {
      const refund = await refunds(command);
      if (dies) throw new Error('process died');
      return refund;
    };
    try {
      const died = await h.post(
        `/v1/store/orders/${orderId}/cancel`,
        { reason: 'changed my mind' },
        { key: buyer.token },
      );
      expect(died.statusCode).toBe(500);
    } finally {
      dies = false;
      h.merchants.refund = refunds;
    }
    // The operator finishes it with a reason of its own: the refund is the buyer's, asked again.
    const finished = ok(
      await h.post(`/v1/operator/store/orders/${orderId}/cancel`, { reason: 'customer asked by phone' }),
      200,
    );
    expect(finished).toMatchObject({ status: 'cancelled', refund_id: expect.any(String) });
    expect(await balance(wallet)).toBe(paidOut + 499_900n);
    expect(await h.merchants.getRefund(finished.refund_id)).toMatchObject({ reason: 'changed my mind' });
  });

  it('refunds a cancel whose first refund checkout failed, instead of closing the order on the failure', async () => {
    const { orderId, buyer, wallet } = await fulfilled('paid');
    const paidOut = await balance(wallet);
    const merchant = (await h.merchants.getMerchant(STORE_MERCHANT_ID)).ledgerAccountId;
    // The store's payable balance was paid out (a settlement): the refund fails for now.
    const payable = await balance(merchant);
    await h.ledger.transfer({
      id: randomUUID(),
      debitAccountId: merchant,
      creditAccountId: h.wallet.bankClearingAccountId(),
      amount: payable,
    });
    const short = await h.post(`/v1/store/orders/${orderId}/cancel`, {}, { key: buyer.token });
    expect(short.json().code).toBe('MERCHANT_BALANCE_INSUFFICIENT');
    await h.ledger.transfer({
      id: randomUUID(),
      debitAccountId: h.wallet.bankClearingAccountId(),
      creditAccountId: merchant,
      amount: payable,
    });
    // Cancelled again: refunded this time — it used to be cancelled on the failed refund, unpaid.
    const cancelled = ok(await h.post(`/v1/store/orders/${orderId}/cancel`, {}, { key: buyer.token }), 200);
    expect(cancelled.status).toBe('cancelled');
    expect(await h.merchants.getRefund(cancelled.refund_id)).toMatchObject({ status: 'succeeded' });
    expect(await balance(wallet)).toBe(paidOut + 499_900n);
  });

  it('pays a return back once the store can, after a refund that failed on receipt', async () => {
    const { orderId, wallet } = await returnAskedOrder(h);
    const paidOut = await balance(wallet);
    const merchant = (await h.merchants.getMerchant(STORE_MERCHANT_ID)).ledgerAccountId;
    const payable = await balance(merchant);
    await h.ledger.transfer({
      id: randomUUID(),
      debitAccountId: merchant,
      creditAccountId: h.wallet.bankClearingAccountId(),
      amount: payable,
    });
    const short = await h.post(`/v1/operator/store/orders/${orderId}/return/received`, {});
    expect(short.json().code).toBe('MERCHANT_BALANCE_INSUFFICIENT');
    expect((await store.getOrder(orderId)).return).toMatchObject({ status: 'received', refundId: null });
    await h.ledger.transfer({
      id: randomUUID(),
      debitAccountId: h.wallet.bankClearingAccountId(),
      creditAccountId: merchant,
      amount: payable,
    });
    const refunded = ok(await h.post(`/v1/operator/store/orders/${orderId}/return/received`, {}), 200);
    expect(refunded.return).toMatchObject({ status: 'refunded', reason: null });
    expect(await h.merchants.getRefund(refunded.return.refund_id)).toMatchObject({ status: 'succeeded' });
    expect(await balance(wallet)).toBe(paidOut + 499_900n);
  });

  it('finishes on its own a cancel left closing by a failed refund, after a backoff, refunding the buyer once', async () => {
    const { orderId, buyer, wallet } = await fulfilled('paid');
    const paidOut = await balance(wallet);
    const paymentId = (await store.getOrder(orderId)).paymentId!;
    const merchant = (await h.merchants.getMerchant(STORE_MERCHANT_ID)).ledgerAccountId;
    const payable = await balance(merchant);
    const shift = (debit: string, credit: string) =>
      h.ledger.transfer({
        id: randomUUID(),
        debitAccountId: debit,
        creditAccountId: credit,
        amount: payable,
      });
    await shift(merchant, h.wallet.bankClearingAccountId());
    let restored = false;
    const restore = async () => {
      if (!restored) await shift(h.wallet.bankClearingAccountId(), merchant);
      restored = true;
    };
    const short = await h.post(`/v1/store/orders/${orderId}/cancel`, {}, { key: buyer.token });
    expect(short.json().code).toBe('MERCHANT_BALANCE_INSUFFICIENT');
    // Only this order's refunds are counted: the job may finish other tests' orders meanwhile.
    const refunds = h.merchants.refund.bind(h.merchants);
    const tried: string[] = [];
    h.merchants.refund = async (command) => {
      if (command.paymentId === paymentId) tried.push(command.id);
      return refunds(command);
    };
    try {
      // Within the first minute after the failure the job leaves it alone.
      h.clock.advance(30_000);
      await store.finishOwedRefunds();
      expect(tried).toEqual([]);
      // Due, and the store still short: one new refund tried (the failed one replayed, the next
      // id refused), then a wait of two minutes in which no run tries it again.
      h.clock.advance(30_000);
      await store.finishOwedRefunds();
      expect(new Set(tried).size).toBe(2);
      const triedOnce = tried.length;
      h.clock.advance(60_000);
      await store.finishOwedRefunds();
      expect(tried.length).toBe(triedOnce);
      expect((await store.getOrder(orderId)).status).toBe('paid');
      // The balance back and the wait over: refunded and cancelled, as the endpoint would.
      await restore();
      h.clock.advance(60_000);
      await store.finishOwedRefunds();
      const cancelled = await store.getOrder(orderId);
      expect(cancelled.status).toBe('cancelled');
      expect(await h.merchants.getRefund(cancelled.refundId!)).toMatchObject({ status: 'succeeded' });
      expect(await balance(wallet)).toBe(paidOut + 499_900n);
      const finishedAfter = tried.length;
      h.clock.advance(3_600_000);
      await store.finishOwedRefunds();
      expect(tried.length).toBe(finishedAfter);
      expect(await balance(wallet)).toBe(paidOut + 499_900n);
    } finally {
      h.merchants.refund = refunds;
      await restore();
    }
  });

  it('finishes on its own a return whose refund failed on receipt, once the store can pay it', async () => {
    const { orderId, wallet } = await returnAskedOrder(h);
    const paidOut = await balance(wallet);
    const merchant = (await h.merchants.getMerchant(STORE_MERCHANT_ID)).ledgerAccountId;
    const payable = await balance(merchant);
    const shift = (debit: string, credit: string) =>
      h.ledger.transfer({
        id: randomUUID(),
        debitAccountId: debit,
        creditAccountId: credit,
        amount: payable,
      });
    await shift(merchant, h.wallet.bankClearingAccountId());
    const short = await h.post(`/v1/operator/store/orders/${orderId}/return/received`, {});
    expect(short.json().code).toBe('MERCHANT_BALANCE_INSUFFICIENT');
    await shift(h.wallet.bankClearingAccountId(), merchant);
    await store.finishOwedRefunds();
    expect((await store.getOrder(orderId)).return).toMatchObject({ status: 'received', refundId: null });
    h.clock.advance(60_000);
    await store.finishOwedRefunds();
    const refunded = (await store.getOrder(orderId)).return!;
    expect(refunded.status).toBe('refunded');
    expect(await h.merchants.getRefund(refunded.refundId!)).toMatchObject({ status: 'succeeded' });
    expect(await balance(wallet)).toBe(paidOut + 499_900n);
  });

  it('counts a returned order as returned, not sold, in the live metrics and the fulfilment report', async () => {
    const order = await fulfilled('delivered');
    const { saleId, orderId } = order;
    const report = async () => ok(await h.get(`/v1/operator/store/sales/${saleId}/fulfilment`), 200);
    const metrics = async () => ok(await h.get(`/v1/operator/store/sales/${saleId}/metrics`), 200);
    expect(await metrics()).toMatchObject({ sold: 1, returned: 0 });
    // Asked for, the goods not back yet: still a sale (the buyer may never send them).
    await deliverThenAskReturn(h, order, { from: 'delivered' });
    expect(await metrics()).toMatchObject({ sold: 1, returned: 0 });
    expect(await report()).toMatchObject({ paid: 1, delivered: 1, returned: 0 });
    ok(await h.post(`/v1/operator/store/orders/${orderId}/return/received`, {}), 200);
    expect(await metrics()).toMatchObject({ sold: 0, returned: 1 });
    // The delivery itself still counts against the target: on time + late = delivered + returned.
    expect(await report()).toEqual({
      paid: 0,
      delivered: 0,
      delivered_on_time: 1,
      delivered_late: 0,
      overdue: 0,
      returned: 1,
    });
  });

  it('leaves an order being cancelled out of the overdue deliveries in the fulfilment report', async () => {
    const { saleId, orderId, buyer } = await fulfilled('packed');
    const report = async () => ok(await h.get(`/v1/operator/store/sales/${saleId}/fulfilment`), 200);
    h.clock.advance(4 * DAY_MS);
    expect(await report()).toMatchObject({ paid: 1, delivered: 0, overdue: 1 });
    // The cancel claims the order, then its refund fails: the order is left closing, packed.
    const refunds = h.merchants.refund.bind(h.merchants);
    h.merchants.refund = async () => {
      throw new Error('checkout away');
    };
    try {
      const failed = await h.post(`/v1/store/orders/${orderId}/cancel`, {}, { key: buyer.token });
      expect(failed.statusCode).toBe(500);
    } finally {
      h.merchants.refund = refunds;
    }
    expect(await store.getOrder(orderId)).toMatchObject({ status: 'packed' });
    // It is not going to be delivered: not an overdue delivery (it used to count as one).
    expect(await report()).toMatchObject({ overdue: 0 });
    ok(await h.post(`/v1/store/orders/${orderId}/cancel`, {}, { key: buyer.token }), 200);
    expect(await report()).toEqual({
      paid: 0,
      delivered: 0,
      delivered_on_time: 0,
      delivered_late: 0,
      overdue: 0,
      returned: 0,
    });
  });

  it('counts an order being cancelled as neither paid nor sold while its refund is under way', async () => {
    const { saleId, orderId, buyer } = await fulfilled('packed');
    const report = async () => ok(await h.get(`/v1/operator/store/sales/${saleId}/fulfilment`), 200);
    const metrics = async () => ok(await h.get(`/v1/operator/store/sales/${saleId}/metrics`), 200);
    expect(await report()).toMatchObject({ paid: 1 });
    expect(await metrics()).toMatchObject({ sold: 1, reserved: 1 });
    // The cancel claims the order, then its refund fails: the order is left closing, packed.
    const refunds = h.merchants.refund.bind(h.merchants);
    h.merchants.refund = async () => {
      throw new Error('checkout away');
    };
    try {
      expect((await h.post(`/v1/store/orders/${orderId}/cancel`, {}, { key: buyer.token })).statusCode).toBe(
        500,
      );
    } finally {
      h.merchants.refund = refunds;
    }
    expect(await store.getOrder(orderId)).toMatchObject({ status: 'packed' });
    // The money is going back: not a sale the shop keeps (it used to count until the refund ended).
    // Its unit is still taken until the cancel closes the order.
    expect(await report()).toMatchObject({ paid: 0, delivered: 0, overdue: 0 });
    expect(await metrics()).toMatchObject({ sold: 0, reserved: 1 });
    ok(await h.post(`/v1/store/orders/${orderId}/cancel`, {}, { key: buyer.token }), 200);
    expect(await report()).toMatchObject({ paid: 0 });
    expect(await metrics()).toMatchObject({ sold: 0, reserved: 0 });
  });

  it('finishes without an operator a claim from before the reason was kept, with the reason its refund was asked with', async () => {
    /** A paid order whose buyer's cancel refunded it and died before closing it, as before migration 0006. */
    const leftClosing = async () => {
      const { orderId, buyer, wallet } = await fulfilled('paid');
      const paidOut = await balance(wallet);
      const refunds = h.merchants.refund.bind(h.merchants);
      h.merchants.refund = async (command) => {
        await refunds(command);
        throw new Error('process died');
      };
      try {
        const died = await h.post(
          `/v1/store/orders/${orderId}/cancel`,
          { reason: 'changed my mind' },
          { key: buyer.token },
        );
        expect(died.statusCode).toBe(500);
      } finally {
        h.merchants.refund = refunds;
      }
      // Migration 0006 added cancel_reason as NULL for the claims already made.
      await h.t.db.query('UPDATE store_orders SET cancel_reason = NULL WHERE id = $1', [orderId]);
      return { orderId, wallet, paidOut };
    };
    const byJob = await leftClosing();
    // The job gives no reason of its own: it used to be refused (IDEMPOTENCY_KEY_REUSED) every try.
    h.clock.advance(60_000);
    await store.finishOwedRefunds();
    const cancelled = await store.getOrder(byJob.orderId);
    expect(cancelled.status).toBe('cancelled');
    expect(await h.merchants.getRefund(cancelled.refundId!)).toMatchObject({
      status: 'succeeded',
      reason: 'changed my mind',
    });
    expect(await balance(byJob.wallet)).toBe(byJob.paidOut + 499_900n);
    // An operator's cancel with other words finishes it too, the buyer paid back once.
    const byOperator = await leftClosing();
    const finished = ok(
      await h.post(`/v1/operator/store/orders/${byOperator.orderId}/cancel`, {
        reason: 'customer asked by phone',
      }),
      200,
    );
    expect(finished.status).toBe('cancelled');
    expect(await h.merchants.getRefund(finished.refund_id)).toMatchObject({ reason: 'changed my mind' });
    expect(await balance(byOperator.wallet)).toBe(byOperator.paidOut + 499_900n);
  });

  it('pays back once the orders closed on a failed refund before failed refunds were followed (0008)', async () => {
    const merchant = (await h.merchants.getMerchant(STORE_MERCHANT_ID)).ledgerAccountId;
    const cancelling = await fulfilled('paid');
    const returning = await returnAskedOrder(h);
    const owed = [cancelling, returning];
    const paidOut = await Promise.all(owed.map((o) => balance(o.wallet)));
    // The store's payable paid out (a settlement): both refunds fail for good at checkout.
    const payable = await balance(merchant);
    const shift = (debit: string, credit: string) =>
      h.ledger.transfer({
        id: randomUUID(),
        debitAccountId: debit,
        creditAccountId: credit,
        amount: payable,
      });
    await shift(merchant, h.wallet.bankClearingAccountId());
    const cancelFailed = await h.post(
      `/v1/store/orders/${cancelling.orderId}/cancel`,
      {},
      {
        key: cancelling.buyer.token,
      },
    );
    expect(cancelFailed.json().code).toBe('MERCHANT_BALANCE_INSUFFICIENT');
    const receiptFailed = await h.post(`/v1/operator/store/orders/${returning.orderId}/return/received`, {});
    expect(receiptFailed.json().code).toBe('MERCHANT_BALANCE_INSUFFICIENT');
    const failedCancelRefund = derivedId('store.refund', cancelling.orderId);
    const failedReturnRefund = derivedId('store.return-refund', returning.orderId);
    for (const id of [failedCancelRefund, failedReturnRefund])
      expect(await h.merchants.getRefund(id)).toMatchObject({ status: 'failed' });
    // What the next cancel and receipt did before 0008: replayed the failed refund and closed the
    // order on it, as if refunded (no retry wait, refund_tries never moved on).
    const now = h.clock.now();
    await h.t.db.query(
      `UPDATE store_orders SET status = 'cancelled', refund_id = $2, closed_at = $3, refund_retry_at = NULL
       WHERE id = $1`,
      [cancelling.orderId, failedCancelRefund, now],
    );
    await h.t.db.query(
      `UPDATE store_orders SET return_status = 'refunded', return_refund_id = $2, return_refunded_at = $3,
         refund_retry_at = NULL
       WHERE id = $1`,
      [returning.orderId, failedReturnRefund, now],
    );
    await shift(h.wallet.bankClearingAccountId(), merchant);
    const paymentIds = new Set(
      await Promise.all(owed.map(async (o) => (await store.getOrder(o.orderId)).paymentId!)),
    );
    const refunds = h.merchants.refund.bind(h.merchants);
    const getRefund = h.merchants.getRefund.bind(h.merchants);
    const tried: string[] = [];
    h.merchants.refund = async (command) => {
      if (paymentIds.has(command.paymentId)) tried.push(command.id);
      return refunds(command);
    };
    try {
      // A refund checkout has not decided yet is left to it: a new one beside it could pay twice.
      h.merchants.getRefund = async (id, merchantId) => {
        const refund = await getRefund(id, merchantId);
        return id === failedCancelRefund ? { ...refund, status: 'pending' } : refund;
      };
      await store.finishOwedRefunds();
      // The return's failed refund replayed (checkout answers it failed again), then the next id.
      expect(tried).toEqual([failedReturnRefund, derivedId('store.return-refund', `${returning.orderId}:1`)]);
      expect(await balance(cancelling.wallet)).toBe(paidOut[0]);
      h.merchants.getRefund = getRefund;
      h.clock.advance(60_000);
      await store.finishOwedRefunds();
      const cancelled = await store.getOrder(cancelling.orderId);
      expect(cancelled.status).toBe('cancelled');
      expect(cancelled.refundId).toBe(derivedId('store.refund', `${cancelling.orderId}:1`));
      expect(await h.merchants.getRefund(cancelled.refundId!)).toMatchObject({ status: 'succeeded' });
      const returned = (await store.getOrder(returning.orderId)).return!;
      expect(returned.status).toBe('refunded');
      expect(returned.refundId).toBe(derivedId('store.return-refund', `${returning.orderId}:1`));
      expect(await h.merchants.getRefund(returned.refundId!)).toMatchObject({ status: 'succeeded' });
      for (const [i, o] of owed.entries()) expect(await balance(o.wallet)).toBe(paidOut[i]! + 499_900n);
      // Run again, later: nothing more is refunded.
      const triedBefore = tried.length;
      h.clock.advance(3_600_000);
      await store.finishOwedRefunds();
      expect(tried.length).toBe(triedBefore);
      for (const [i, o] of owed.entries()) expect(await balance(o.wallet)).toBe(paidOut[i]! + 499_900n);
    } finally {
      h.merchants.refund = refunds;
      h.merchants.getRefund = getRefund;
    }
  });

  it('refuses the codes of an F-code batch past its expiry; a batch without one lasts the sale', async () => {
    const { saleId, startsAt } = await newSale({
      early_access_from: new Date(h.clock.now().getTime() + 30_000).toISOString(),
    });
    const expiresAt = new Date(startsAt - 20_000);
    const inPast = await h.post(`/v1/operator/store/sales/${saleId}/f-codes`, {
      count: 1,
      expires_at: new Date(h.clock.now().getTime() - 1).toISOString(),
    });
    expect(inPast.statusCode).toBe(400);
    expect(inPast.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'expires_at' });
    const expiring = ok(
      await h.post(`/v1/operator/store/sales/${saleId}/f-codes`, {
        count: 2,
        expires_at: expiresAt.toISOString(),
      }),
      201,
    );
    expect(expiring.expires_at).toBe(expiresAt.toISOString());
    const lasting = ok(await h.post(`/v1/operator/store/sales/${saleId}/f-codes`, { count: 1 }), 201);
    expect(lasting.expires_at).toBeNull();
    const [a, b, c] = [await registered(saleId), await registered(saleId), await registered(saleId)];
    const [inTime, tooLate] = expiring.codes as string[];
    h.clock.set(new Date(expiresAt.getTime() - 1));
    const aKey = randomUUID();
    expect(ok(await attempt(a, saleId, { f_code: inTime }, aKey), 201).status).toBe('accepted');
    h.clock.set(expiresAt);
    const expired = await attempt(b, saleId, { f_code: tooLate });
    expect(expired.statusCode).toBe(409);
    expect(expired.headers['content-type']).toContain('application/problem+json');
    expect(expired.json()).toMatchObject({
      code: 'STORE_FCODE_EXPIRED',
      expires_at: expiresAt.toISOString(),
    });
    // The attempt made in time is the same reservation when retried after the expiry.
    expect(ok(await attempt(a, saleId, { f_code: inTime }, aKey), 201).status).toBe('accepted');
    expect(ok(await attempt(c, saleId, { f_code: lasting.codes[0] }), 201).status).toBe('accepted');
  });

  it('spends no second F-code on a retry of an attempt that holds one', async () => {
    const { saleId, startsAt } = await newSale({
      early_access_from: new Date(h.clock.now().getTime() + 30_000).toISOString(),
    });
    const [first, second] = ok(await h.post(`/v1/operator/store/sales/${saleId}/f-codes`, { count: 2 }), 201)
      .codes as string[];
    const [a, b] = [await registered(saleId), await registered(saleId)];
    h.clock.set(new Date(startsAt - 10_000));
    const key = randomUUID();
    const won = ok(await attempt(a, saleId, { f_code: first }, key), 201);
    // The buyer retries the same attempt with the other code it was given: the same reservation.
    expect(ok(await attempt(a, saleId, { f_code: second }, key), 201)).toMatchObject({
      status: 'accepted',
      attempt_id: won.attempt_id,
    });
    // The second code is still good for someone else (it used to be spent on the retry, for good).
    expect(ok(await attempt(b, saleId, { f_code: second }), 201).status).toBe('accepted');
  });

  it('spends one F-code when two first tries of one attempt carry different codes at once', async () => {
    const buyers = 8;
    const { saleId, startsAt } = await newSale({
      allotment: buyers,
      early_access_from: new Date(h.clock.now().getTime() + 30_000).toISOString(),
    });
    const codes = ok(await h.post(`/v1/operator/store/sales/${saleId}/f-codes`, { count: 2 * buyers }), 201)
      .codes as string[];
    const customers: Customer[] = [];
    for (let i = 0; i < buyers; i++) customers.push(await registered(saleId));
    h.clock.set(new Date(startsAt - 10_000));
    // Each buyer's two taps of one attempt (one Idempotency-Key), each with another of its codes:
    // both used to find no code held by the attempt and both spent theirs (PostgreSQL, read committed).
    const taps = await Promise.all(
      customers.flatMap((c, i) => {
        const key = randomUUID();
        return [
          attempt(c, saleId, { f_code: codes[2 * i] }, key),
          attempt(c, saleId, { f_code: codes[2 * i + 1] }, key),
        ];
      }),
    );
    for (const tap of taps) expect(ok(tap, 201).status).toBe('accepted');
    const spent = await h.t.db.query<{ used_attempt_id: string; n: number }>(
      `SELECT used_attempt_id, count(*)::int AS n FROM store_fcodes
       WHERE sale_id = $1 AND used_attempt_id IS NOT NULL GROUP BY used_attempt_id`,
      [saleId],
    );
    expect(spent.rows).toHaveLength(buyers);
    expect(spent.rows.every((r) => Number(r.n) === 1)).toBe(true);
  });

  it('refuses bad input with problem+json, and operator routes need the store scope', async () => {
    const bad = await h.post('/v1/operator/store/sales', { sku_id: randomUUID(), name: 'x', price: '-1' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('VALIDATION_FAILED');
    /** A 2030 sale of one unit on `skuId`, with `changes`. */
    const saleOf = (skuId: string, changes: Record<string, unknown> = {}) =>
      h.post('/v1/operator/store/sales', {
        sku_id: skuId,
        name: 'x',
        price: '100',
        allotment: 1,
        per_user_limit: 1,
        starts_at: '2030-01-01T00:00:00Z',
        ends_at: '2030-01-02T00:00:00Z',
        ...changes,
      });
    expect((await saleOf(randomUUID())).json().code).toBe('STORE_SKU_NOT_FOUND');
    const { skuId } = await newSale();
    expect((await saleOf(skuId, { allotment: 5_000 })).json().code).toBe('STORE_STOCK_INSUFFICIENT');
    // A misspelt setting is refused, not quietly left at its default (no early access at all).
    const typo = await saleOf(skuId, { early_access_form: '2029-12-31T00:00:00Z' });
    expect(typo.statusCode).toBe(400);
    expect(typo.json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: [{ location: 'body', path: 'early_access_form', detail: 'is not a field this request takes' }],
    });
    // Routes without fields refuse any too (return/received answered 200 to `{"x":1}`).
    const c = await newCustomer(h);
    const id = randomUUID();
    for (const [path, key] of [
      [`/v1/operator/store/orders/${id}/return/received`, undefined],
      [`/v1/operator/store/blacklist/${id}/remove`, undefined],
      [`/v1/store/sales/${id}/registrations`, c.token],
      [`/v1/store/orders/${id}/deposit`, c.token],
    ] as const) {
      const unknown = await h.post(path, { x: 1 }, key ? { key } : {});
      expect(unknown.statusCode, path).toBe(400);
      expect(unknown.json(), path).toMatchObject({
        code: 'VALIDATION_FAILED',
        errors: [{ location: 'body', path: 'x', detail: 'is not a field this request takes' }],
      });
    }
    expect((await h.post(`/v1/operator/store/orders/${id}/return/received`, {})).json().code).toBe(
      'STORE_ORDER_NOT_FOUND',
    );
    expect((await h.get('/v1/operator/store/sales', c.token)).statusCode).toBe(401);
    const noKey = await h.post(
      `/v1/store/sales/${randomUUID()}/attempts`,
      {},
      { key: c.token, idempotencyKey: null },
    );
    expect(noKey.json().code).toBe('IDEMPOTENCY_KEY_REQUIRED');
    expect((await attempt(c, randomUUID())).json().code).toBe('STORE_SALE_NOT_FOUND');
    // Asking about an attempt in a sale that does not exist answered 200 `unknown`.
    const status = await h.get(`/v1/store/sales/${randomUUID()}/attempts/${randomUUID()}`, c.token);
    expect(status.statusCode).toBe(404);
    expect(status.json().code).toBe('STORE_SALE_NOT_FOUND');
    const page1 = ok(await h.get('/v1/operator/store/sales?limit=2'), 200);
    expect(page1.items).toHaveLength(2);
    const page2 = ok(await h.get(`/v1/operator/store/sales?limit=2&cursor=${page1.next_cursor}`), 200);
    expect(page2.items[0].id > page1.items[1].id).toBe(true);
  });
});

/** The engine's methods bound to it, so a test can wrap one of them. */
function bind(engine: StockEngine): StockEngine {
  return {
    kind: engine.kind,
    configureSale: engine.configureSale.bind(engine),
    holdsSale: engine.holdsSale.bind(engine),
    attempt: engine.attempt.bind(engine),
    admit: engine.admit.bind(engine),
    outcome: engine.outcome.bind(engine),
    release: engine.release.bind(engine),
    setBlacklisted: engine.setBlacklisted.bind(engine),
    readAccepted: engine.readAccepted.bind(engine),
    ack: engine.ack.bind(engine),
    counters: engine.counters.bind(engine),
    snapshot: engine.snapshot.bind(engine),
    close: engine.close.bind(engine),
  };
}
