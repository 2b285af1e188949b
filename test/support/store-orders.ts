import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { ApiHarness, ApiResponse } from './api-harness.ts';
import { newCustomer, type Customer } from './customers.ts';

const MINUTE = 60_000;

function ok(r: ApiResponse, status: number) {
  expect(r.statusCode, r.body).toBe(status);
  return r.json();
}

/** A product, a SKU with 1,000 units and a sale (10 units, 2 per user) starting in a minute. */
export async function newStoreSale(
  h: ApiHarness,
  overrides: Record<string, unknown> = {},
): Promise<{ saleId: string; skuId: string; startsAt: number }> {
  const product = ok(await h.post('/v1/operator/store/products', { name: 'Millet 15 Pro' }), 201);
  const sku = ok(
    await h.post('/v1/operator/store/skus', {
      product_id: product.id,
      code: `M15P-${randomUUID().slice(0, 8)}`,
      name: '16 GB + 512 GB, black',
      price: '549900',
      stock: 1_000,
    }),
    201,
  );
  const startsAt = h.clock.now().getTime() + MINUTE;
  const sale = ok(
    await h.post('/v1/operator/store/sales', {
      sku_id: sku.id,
      name: 'Launch day',
      price: '499900',
      allotment: 10,
      per_user_limit: 2,
      starts_at: new Date(startsAt).toISOString(),
      ends_at: new Date(startsAt + 60 * MINUTE).toISOString(),
      admission_window_ms: 0,
      ...overrides,
    }),
    201,
  );
  return { saleId: sale.id, skuId: sku.id, startsAt };
}

/** A flash-sale attempt by `c` (a fresh Idempotency-Key unless one is given). */
export function storeAttempt(
  h: ApiHarness,
  c: Customer,
  saleId: string,
  body: Record<string, unknown> = {},
  key: string = randomUUID(),
): Promise<ApiResponse> {
  return h.post(
    `/v1/store/sales/${saleId}/attempts`,
    { device_id: `dev-${c.id}`, ...body },
    { key: c.token, idempotencyKey: key },
  );
}

/** A customer with a funded class III wallet, registered for the sale. */
export async function registeredBuyer(h: ApiHarness, saleId: string, funds = 2_000_000n): Promise<Customer> {
  const c = await newCustomer(h, { funds, accountClass: 'III' });
  ok(await h.post(`/v1/store/sales/${saleId}/registrations`, {}, { key: c.token }), 201);
  return c;
}

/** Polls until the order writer has written the attempt's order. */
export async function orderOfAttempt(h: ApiHarness, c: Customer, saleId: string, attemptId: string) {
  for (let i = 0; i < 200; i++) {
    const s = ok(await h.get(`/v1/store/sales/${saleId}/attempts/${attemptId}`, c.token), 200);
    if (s.order) return s.order;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the order writer never wrote the order');
}

const fulfilmentSteps = ['packed', 'shipped', 'delivered'] as const;
type FulfilmentStep = (typeof fulfilmentSteps)[number];

/**
 * The operator's fulfilment steps of a paid order after `from`, up to `upTo`; the delivery is
 * recorded at `deliveredAt` (the harness clock is set to it) when given.
 */
export async function fulfil(
  h: ApiHarness,
  orderId: string,
  o: { from?: 'paid' | FulfilmentStep; upTo?: FulfilmentStep; deliveredAt?: Date | undefined } = {},
): Promise<void> {
  const first = o.from && o.from !== 'paid' ? fulfilmentSteps.indexOf(o.from) + 1 : 0;
  const last = fulfilmentSteps.indexOf(o.upTo ?? 'delivered');
  for (const status of fulfilmentSteps.slice(first, last + 1)) {
    if (status === 'delivered' && o.deliveredAt) h.clock.set(o.deliveredAt);
    ok(await h.post(`/v1/operator/store/orders/${orderId}/fulfilment`, { status }), 200);
  }
}

export interface FulfilledOrder {
  saleId: string;
  buyer: Customer;
  orderId: string;
  /** The buyer's wallet's ledger account. */
  wallet: string;
}

/** A buyer's order of one unit in a new sale, paid from the wallet and fulfilled up to `upTo`. */
export async function fulfilledOrder(
  h: ApiHarness,
  upTo: 'paid' | FulfilmentStep,
  o: { allotment?: number; deliveredAt?: Date } = {},
): Promise<FulfilledOrder> {
  const { saleId, startsAt } = await newStoreSale(h, { allotment: o.allotment ?? 3 });
  const buyer = await registeredBuyer(h, saleId);
  h.clock.set(new Date(startsAt + 1));
  const won = ok(await storeAttempt(h, buyer, saleId), 201);
  const placed = await orderOfAttempt(h, buyer, saleId, won.attempt_id);
  ok(await h.post(`/v1/store/orders/${placed.id}/pay`, { method: 'balance' }, { key: buyer.token }), 200);
  if (upTo !== 'paid') await fulfil(h, placed.id, { upTo, deliveredAt: o.deliveredAt });
  const wallet = (await h.wallet.getWallet(buyer.id)).ledgerAccountId;
  return { saleId, buyer, orderId: placed.id as string, wallet };
}

/**
 * Delivers a paid order (the fulfilment steps after `from`) and the buyer asks to return it.
 * Answers the order as the return request left it (return requested).
 */
export async function deliverThenAskReturn(
  h: ApiHarness,
  order: { orderId: string; buyer: Customer },
  o: { from?: 'paid' | FulfilmentStep; reason?: string } = {},
) {
  if (o.from !== 'delivered') await fulfil(h, order.orderId, { from: o.from ?? 'paid' });
  const asked = ok(
    await h.post(
      `/v1/store/orders/${order.orderId}/return`,
      o.reason === undefined ? {} : { reason: o.reason },
      { key: order.buyer.token },
    ),
    200,
  );
  expect(asked.return).toMatchObject({ status: 'requested' });
  return asked;
}

/** A buyer's paid order, delivered, whose return the buyer has asked for. */
export async function returnAskedOrder(h: ApiHarness): Promise<FulfilledOrder> {
  const order = await fulfilledOrder(h, 'paid');
  await deliverThenAskReturn(h, order);
  return order;
}
