import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createStore,
  InProcessStockEngine,
  RedisStockEngine,
  type Sale,
  type Store,
} from '../src/store/index.ts';
import { openApiHarness, type ApiHarness } from './support/api-harness.ts';

const redisUrl = process.env.REDIS_URL;
const redisPrefix = `millet-test-${randomBytes(6).toString('hex')}:`;
const MINUTE = 60_000;

afterAll(async () => {
  if (redisUrl) await RedisStockEngine.deleteKeys(redisUrl, redisPrefix);
});

/**
 * The engine's memory of a sale goes while the sale runs: the process holding the in-process engine
 * restarts, or Redis (run without persistence) restarts empty. The orders in the database are then
 * the truth the engine is rebuilt from — the stock, and who has already won: a winner's retry is
 * still the same reservation, a second attempt is still refused, and a reservation that expires
 * afterwards still gives its unit back.
 */
async function saleWithWinners(h: ApiHarness, store: Store, allotment: number, winners: string[]) {
  const product = await store.createProduct({ id: randomUUID(), name: 'Millet Buds' });
  const sku = await store.createSku({
    id: randomUUID(),
    productId: product.id,
    code: `BUDS-${randomUUID().slice(0, 6)}`,
    name: 'white',
    price: 29_900n,
    stock: 1_000n,
  });
  const startsAt = new Date(h.clock.now().getTime() + MINUTE);
  const sale = await store.createSale({
    id: randomUUID(),
    skuId: sku.id,
    name: 'Buds launch',
    price: 19_900n,
    allotment,
    perUserLimit: 1,
    startsAt,
    endsAt: new Date(startsAt.getTime() + 3 * 3_600_000),
    admissionWindowMs: 0,
  });
  const later = Array.from({ length: 3 }, () => randomUUID());
  await store.registerMany(
    sale.id,
    [...winners, ...later].map((userId) => ({ userId, accountCreatedAt: new Date('2020-01-01') })),
  );
  h.clock.set(new Date(startsAt.getTime() + 1));
  const keys = new Map<string, string>();
  for (const userId of winners) {
    const key = randomUUID();
    keys.set(userId, key);
    expect((await store.attempt({ saleId: sale.id, userId, key, quantity: 1 })).status).toBe('accepted');
  }
  while ((await store.writer!.runOnce()) > 0);
  expect((await store.listOrders({ saleId: sale.id, limit: 50 })).items).toHaveLength(winners.length);
  return { sale, keys, later };
}

/** What every rebuilt engine must still know, checked through `store` (the one running now). */
async function expectRemembered(
  h: ApiHarness,
  store: Store,
  sale: Sale,
  winners: string[],
  keys: Map<string, string>,
  later: string[],
) {
  const [first, second] = winners as [string, string];
  // A winner's retry with the same key is the same reservation, not a second unit.
  const again = await store.attempt({ saleId: sale.id, userId: first, key: keys.get(first)!, quantity: 1 });
  expect(again).toMatchObject({
    status: 'accepted',
    attemptId: store.attemptId(sale.id, first, keys.get(first)!),
  });
  const status = await store.attemptStatus(sale.id, first, again.attemptId);
  expect(status.result.status).toBe('accepted');
  expect(status.order?.userId).toBe(first);
  // A winner's new attempt is refused by the engine, not accepted and then refused by the database.
  await expect(
    store.attempt({ saleId: sale.id, userId: second, key: randomUUID(), quantity: 1 }),
  ).rejects.toMatchObject({ code: 'STORE_ATTEMPT_REJECTED', details: { reason: 'limit_reached' } });
  expect(await store.reconcile(sale.id)).toMatchObject({ drift: 0, status: 'ok', engineRemaining: 1 });

  // One unit left: one newcomer gets it, the next hears sold out.
  expect(
    (await store.attempt({ saleId: sale.id, userId: later[0]!, key: randomUUID(), quantity: 1 })).status,
  ).toBe('accepted');
  await expect(
    store.attempt({ saleId: sale.id, userId: later[1]!, key: randomUUID(), quantity: 1 }),
  ).rejects.toMatchObject({ details: { reason: 'sold_out' } });
  while ((await store.writer!.runOnce()) > 0);

  // The reservations made before the restart expire: their units return to stock.
  h.clock.set(new Date(h.clock.now().getTime() + 16 * MINUTE));
  // (Other tests' sales share the database: count this sale's orders only.)
  await store.expireReservations();
  const orders = await store.listOrders({ saleId: sale.id, limit: 50 });
  expect(orders.items.map((o) => o.status)).toEqual(Array(winners.length + 1).fill('expired'));
  expect(await store.reconcile(sale.id)).toMatchObject({
    drift: 0,
    status: 'ok',
    engineRemaining: winners.length + 1,
    dbLiveUnits: 0,
  });
  expect(
    (await store.attempt({ saleId: sale.id, userId: later[2]!, key: randomUUID(), quantity: 1 })).status,
  ).toBe('accepted');
}

describe('the in-process engine after the process restarts mid-sale', () => {
  let h: ApiHarness;
  let restarted: Store | undefined;
  beforeAll(async () => {
    h = await openApiHarness({ storeEngine: new InProcessStockEngine() });
  });
  afterAll(async () => {
    await restarted?.close();
    await h?.close();
  });

  it('is rebuilt from the orders: stock, winners, and reservations that expire later', async () => {
    await h.store.writer!.stop();
    const winners = Array.from({ length: 4 }, () => randomUUID());
    const { sale, keys, later } = await saleWithWinners(h, h.store, 5, winners);
    // A new process: a new engine and store over the same database.
    restarted = createStore({
      db: h.t.db,
      clock: h.clock,
      engine: new InProcessStockEngine(),
      merchants: h.merchants,
      users: h.identity,
      ledger: h.ledger,
      wallets: h.wallet,
      registry: h.registry,
    });
    await restarted.start({ writer: false });
    restarted.startWriter();
    await restarted.writer!.stop();
    await expectRemembered(h, restarted, sale, winners, keys, later);
  });
});

describe('reconciling a sale the engine no longer holds', () => {
  let h: ApiHarness;
  let restarted: Store | undefined;
  beforeAll(async () => {
    h = await openApiHarness({ storeEngine: new InProcessStockEngine() });
  });
  afterAll(async () => {
    await restarted?.close();
    await h?.close();
  });

  it('rebuilds it first instead of reporting every unit undersold; its metrics show the stock left', async () => {
    await h.store.writer!.stop();
    const winners = Array.from({ length: 2 }, () => randomUUID());
    const { sale } = await saleWithWinners(h, h.store, 5, winners);
    // A process started days after the sale ended does not load it into its engine.
    h.clock.set(new Date(sale.endsAt.getTime() + 3 * 86_400_000));
    restarted = createStore({
      db: h.t.db,
      clock: h.clock,
      engine: new InProcessStockEngine(),
      merchants: h.merchants,
      users: h.identity,
      ledger: h.ledger,
      wallets: h.wallet,
      registry: h.registry,
    });
    await restarted.start({ writer: false });
    expect(await restarted.engine.holdsSale(sale.id)).toBe(false);
    // The live metrics read the engine's nothing as nothing left (remaining 0).
    expect(await restarted.liveMetrics(sale.id)).toMatchObject({ remaining: 3, reserved: 2 });
    expect(await restarted.reconcile(sale.id, { repair: true })).toMatchObject({
      status: 'ok',
      drift: 0,
      engineRemaining: 3,
      dbLiveUnits: 2,
    });
  });
});

describe.skipIf(!redisUrl)('the Redis engine after Redis loses its keys mid-sale', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    // No periodic check: the first test shows an attempt finding the lost sale by itself.
    h = await openApiHarness({
      storeEngine: new RedisStockEngine({ url: redisUrl!, prefix: redisPrefix }),
      store: { engineCheckIntervalMs: 0 },
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('is rebuilt from the orders by the running store, without a restart', async () => {
    await h.store.writer!.stop();
    const winners = Array.from({ length: 4 }, () => randomUUID());
    const { sale, keys, later } = await saleWithWinners(h, h.store, 5, winners);
    // What a Redis restarted without persistence (or flushed) holds of the sale: nothing.
    await (h.store.engine as RedisStockEngine).dropSale(sale.id);
    await expectRemembered(h, h.store, sale, winners, keys, later);
  });

  it('is rebuilt by the check when nobody attempts, so reservations that expire give their units back', async () => {
    await h.store.writer?.stop();
    const winners = Array.from({ length: 4 }, () => randomUUID());
    const { sale } = await saleWithWinners(h, h.store, 5, winners);
    await (h.store.engine as RedisStockEngine).dropSale(sale.id);
    expect(await h.store.engine.holdsSale(sale.id)).toBe(false);
    // Until it is rebuilt, the live metrics show the database's stock, not Redis's nothing.
    expect((await h.store.liveMetrics(sale.id)).remaining).toBe(1);
    expect(await h.store.restoreLostSales()).toBeGreaterThanOrEqual(1);
    expect(await h.store.engine.holdsSale(sale.id)).toBe(true);
    expect(await h.store.restoreLostSales()).toBe(0);
    h.clock.set(new Date(h.clock.now().getTime() + 16 * MINUTE));
    await h.store.expireReservations();
    expect(await h.store.reconcile(sale.id)).toMatchObject({ drift: 0, engineRemaining: 5, dbLiveUnits: 0 });
  });

  it('keeps what Redis still holds when the process restarts', async () => {
    await h.store.writer?.stop();
    const winners = Array.from({ length: 4 }, () => randomUUID());
    const { sale, keys, later } = await saleWithWinners(h, h.store, 5, winners);
    const restarted = createStore({
      db: h.t.db,
      clock: h.clock,
      engine: new RedisStockEngine({ url: redisUrl!, prefix: redisPrefix }),
      merchants: h.merchants,
      users: h.identity,
      ledger: h.ledger,
      wallets: h.wallet,
      registry: h.registry,
    });
    try {
      await restarted.start({ writer: false });
      restarted.startWriter();
      await restarted.writer!.stop();
      await expectRemembered(h, restarted, sale, winners, keys, later);
    } finally {
      await restarted.close();
    }
  });
});
