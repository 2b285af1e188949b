import { decodeIdCursor, encodeIdCursor } from '../../core/index.ts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { DriftReport, LiveSaleMetrics, Order, Product, Sale, Sku, Store } from '../../store/index.ts';
import { replyWithError } from '../error-handler.ts';
import { commandIdFor } from '../idempotency-hooks.ts';
import {
  amountInput,
  amountOutput,
  idParams,
  optionalCommandId,
  pageOf,
  pageQuery,
  timestampInput,
  timestampOutput,
} from '../schemas.ts';

const tags = ['store'];

const productOutput = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  created_at: timestampOutput,
});
const skuOutput = z.object({
  id: z.string(),
  product_id: z.string(),
  code: z.string(),
  name: z.string(),
  price: amountOutput,
  stock: z.string(),
  created_at: timestampOutput,
  updated_at: timestampOutput,
});
const saleOutput = z.object({
  id: z.string(),
  sku_id: z.string(),
  name: z.string(),
  price: amountOutput,
  allotment: z.number().int(),
  per_user_limit: z.number().int(),
  starts_at: timestampOutput,
  ends_at: timestampOutput,
  early_access_from: timestampOutput.nullable(),
  admission_window_ms: z.number().int(),
  presale: z
    .object({
      deposit: amountOutput,
      balance_from: timestampOutput,
      balance_due_by: timestampOutput,
      unpaid_deposit: z.enum(['forfeit', 'refund']),
    })
    .nullable(),
  units_taken: z.number().int(),
  created_at: timestampOutput,
});
const orderStatuses = [
  'reserved',
  'deposit_held',
  'paying',
  'paid',
  'packed',
  'shipped',
  'delivered',
  'expired',
  'cancelled',
] as const;
const returnStatuses = ['requested', 'received', 'refunded'] as const;
const orderOutput = z.object({
  id: z.string(),
  sale_id: z.string(),
  user_id: z.string(),
  attempt_id: z.string(),
  quantity: z.number().int(),
  unit_price: amountOutput,
  amount: amountOutput,
  status: z.enum(orderStatuses),
  accepted_at: timestampOutput,
  pay_by: timestampOutput,
  deposit: amountOutput.nullable().meta({ description: 'Pre-sales: the deposit held on the wallet' }),
  deposit_status: z.enum(['held', 'applied', 'forfeited', 'refunded']).nullable(),
  payment_id: z.string().nullable(),
  refund_id: z.string().nullable(),
  paid_at: timestampOutput.nullable(),
  packed_at: timestampOutput.nullable(),
  shipped_at: timestampOutput.nullable(),
  delivered_at: timestampOutput.nullable(),
  delivery_due_at: timestampOutput.nullable().meta({ description: 'paid_at + 3 days: the delivery target' }),
  delivered_on_time: z.boolean().nullable(),
  return_by: timestampOutput.nullable().meta({
    description:
      'Delivered orders: the last instant a return may be asked for — seven days from the day after delivery, Asia/Shanghai (Consumer Rights Protection Law, Art. 25)',
  }),
  return: z
    .object({
      status: z.enum(returnStatuses),
      reason: z.string().nullable(),
      requested_at: timestampOutput,
      received_at: timestampOutput.nullable(),
      refund_id: z.string().nullable(),
      refunded_at: timestampOutput.nullable(),
    })
    .nullable()
    .meta({ description: 'The seven-day return, once asked for: requested → received → refunded' }),
});
const attemptOutput = z.object({
  status: z.enum(['accepted', 'queued']),
  attempt_id: z.string(),
  quantity: z.number().int(),
  pay_by: timestampOutput
    .nullable()
    .meta({ description: 'Accepted: the reservation must be paid by then (15 minutes)' }),
});

const iso = (d: Date | null) => d?.toISOString() ?? null;
const productJson = (p: Product) => ({
  id: p.id,
  name: p.name,
  description: p.description,
  created_at: p.createdAt.toISOString(),
});
const skuJson = (s: Sku) => ({
  id: s.id,
  product_id: s.productId,
  code: s.code,
  name: s.name,
  price: s.price.toString(),
  stock: s.stock.toString(),
  created_at: s.createdAt.toISOString(),
  updated_at: s.updatedAt.toISOString(),
});
const saleJson = (s: Sale) => ({
  id: s.id,
  sku_id: s.skuId,
  name: s.name,
  price: s.price.toString(),
  allotment: s.allotment,
  per_user_limit: s.perUserLimit,
  starts_at: s.startsAt.toISOString(),
  ends_at: s.endsAt.toISOString(),
  early_access_from: iso(s.earlyAccessFrom),
  admission_window_ms: s.admissionWindowMs,
  presale: s.presale
    ? {
        deposit: s.presale.deposit.toString(),
        balance_from: s.presale.balanceFrom.toISOString(),
        balance_due_by: s.presale.balanceDueBy.toISOString(),
        unpaid_deposit: s.presale.unpaidDeposit,
      }
    : null,
  units_taken: s.unitsTaken,
  created_at: s.createdAt.toISOString(),
});
const orderJson = (o: Order) => ({
  id: o.id,
  sale_id: o.saleId,
  user_id: o.userId,
  attempt_id: o.attemptId,
  quantity: o.quantity,
  unit_price: o.unitPrice.toString(),
  amount: o.amount.toString(),
  status: o.status,
  accepted_at: o.acceptedAt.toISOString(),
  pay_by: o.payBy.toISOString(),
  deposit: o.deposit?.toString() ?? null,
  deposit_status: o.depositStatus,
  payment_id: o.paymentId,
  refund_id: o.refundId,
  paid_at: iso(o.paidAt),
  packed_at: iso(o.packedAt),
  shipped_at: iso(o.shippedAt),
  delivered_at: iso(o.deliveredAt),
  delivery_due_at: iso(o.deliveryDueAt),
  delivered_on_time: o.deliveredOnTime,
  return_by: iso(o.returnBy),
  return: o.return
    ? {
        status: o.return.status,
        reason: o.return.reason,
        requested_at: o.return.requestedAt.toISOString(),
        received_at: iso(o.return.receivedAt),
        refund_id: o.return.refundId,
        refunded_at: iso(o.return.refundedAt),
      }
    : null,
});
const metricsJson = (m: LiveSaleMetrics) => ({
  sale_id: m.saleId,
  attempts_per_s: m.attemptsPerSecond,
  attempts: m.attempts,
  accepted: m.accepted,
  units_accepted: m.unitsAccepted,
  sold: m.sold,
  returned: m.returned,
  reserved: m.reserved,
  remaining: m.remaining,
  lobby: m.lobby,
  pending_hand_off: m.pendingHandOff,
  rejections: m.rejections,
});
const driftJson = (d: DriftReport) => ({
  sale_id: d.saleId,
  allotment: d.allotment,
  engine_remaining: d.engineRemaining,
  engine_taken: d.engineTaken,
  db_units_taken: d.dbUnitsTaken,
  db_live_units: d.dbLiveUnits,
  refused_units: d.refusedUnits,
  in_flight: d.inFlight,
  drift: d.drift,
  status: d.status,
  db_consistent: d.dbConsistent,
  repaired_releases: d.repairedReleases,
  released_fcodes: d.releasedFcodes,
});

const page = <T, U>(p: { items: T[]; nextCursor: string | null }, json: (t: T) => U) => ({
  items: p.items.map(json),
  next_cursor: p.nextCursor ? encodeIdCursor(p.nextCursor) : null,
});
const listQuery = z.object(pageQuery);
const after = (q: { cursor?: string | undefined; limit?: number | undefined }) => ({
  ...(q.cursor ? { after: decodeIdCursor(q.cursor) } : {}),
  limit: q.limit ?? 50,
});

/** Operator routes under /v1/operator/store (scope `store:admin`). */
export const storeOperatorRoutes: FastifyPluginAsyncZod<{ store: Store }> = async (app, { store }) => {
  const config = { scope: 'store:admin' as const };

  app.post(
    '/products',
    {
      config,
      schema: {
        tags,
        summary: 'Add a product to the catalogue',
        body: z.object({
          id: optionalCommandId,
          name: z.string().min(1).max(200),
          description: z.string().max(2000).optional(),
        }),
        response: { 201: productOutput },
      },
    },
    async (request, reply) => {
      const p = await store.createProduct({
        id: commandIdFor(request, request.body.id),
        name: request.body.name,
        description: request.body.description,
      });
      return reply.code(201).send(productJson(p));
    },
  );
  app.get(
    '/products',
    {
      config,
      schema: {
        tags,
        summary: 'The catalogue',
        querystring: listQuery,
        response: { 200: pageOf(productOutput) },
      },
    },
    async (request) => page(await store.listProducts(after(request.query)), productJson),
  );
  app.get(
    '/products/:id/skus',
    {
      config,
      schema: {
        tags,
        summary: "A product's SKUs",
        params: idParams,
        response: { 200: z.object({ items: z.array(skuOutput) }) },
      },
    },
    async (request) => ({ items: (await store.listSkus(request.params.id)).map(skuJson) }),
  );
  app.post(
    '/skus',
    {
      config,
      schema: {
        tags,
        summary: 'Add a SKU (price in fen, units on hand)',
        body: z.object({
          id: optionalCommandId,
          product_id: z.uuid(),
          code: z.string().min(1).max(64),
          name: z.string().min(1).max(200),
          price: amountInput,
          stock: z.number().int().min(0).max(1e12),
        }),
        response: { 201: skuOutput },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const sku = await store.createSku({
        id: commandIdFor(request, b.id),
        productId: b.product_id,
        code: b.code,
        name: b.name,
        price: b.price,
        stock: BigInt(b.stock),
      });
      return reply.code(201).send(skuJson(sku));
    },
  );
  app.post(
    '/skus/:id',
    {
      config,
      schema: {
        tags,
        summary: "Change a SKU's price and/or add units (negative: take units away)",
        params: idParams,
        body: z.object({
          price: amountInput.optional(),
          stock_delta: z.number().int().min(-1e12).max(1e12).optional(),
        }),
        response: { 200: skuOutput },
      },
    },
    async (request) =>
      skuJson(
        await store.updateSku(request.params.id, {
          price: request.body.price,
          stockDelta: request.body.stock_delta === undefined ? undefined : BigInt(request.body.stock_delta),
        }),
      ),
  );
  app.post(
    '/sales',
    {
      config,
      schema: {
        tags,
        summary: 'Create a flash sale (its allotment leaves the SKU stock)',
        description:
          'admission_window_ms (default 3000): attempts in the first milliseconds of the sale are shuffled before any stock is allocated.',
        body: z.object({
          id: optionalCommandId,
          sku_id: z.uuid(),
          name: z.string().min(1).max(200),
          price: amountInput,
          allotment: z.number().int().min(1).max(1e9),
          per_user_limit: z.number().int().min(1).max(100),
          starts_at: timestampInput,
          ends_at: timestampInput,
          early_access_from: timestampInput.optional(),
          admission_window_ms: z.number().int().min(0).max(60_000).optional(),
          presale: z
            .object({
              deposit: amountInput.meta({
                description: 'Per unit, fen: held on the wallet to secure the unit',
              }),
              balance_from: timestampInput,
              balance_due_by: timestampInput,
              unpaid_deposit: z.enum(['forfeit', 'refund']),
            })
            .optional()
            .meta({
              description: 'A pre-sale: deposit first, the balance due from balance_from to balance_due_by',
            }),
        }),
        response: { 201: saleOutput },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const sale = await store.createSale({
        id: commandIdFor(request, b.id),
        skuId: b.sku_id,
        name: b.name,
        price: b.price,
        allotment: b.allotment,
        perUserLimit: b.per_user_limit,
        startsAt: b.starts_at,
        endsAt: b.ends_at,
        earlyAccessFrom: b.early_access_from ?? null,
        admissionWindowMs: b.admission_window_ms,
        presale: b.presale
          ? {
              deposit: b.presale.deposit,
              balanceFrom: b.presale.balance_from,
              balanceDueBy: b.presale.balance_due_by,
              unpaidDeposit: b.presale.unpaid_deposit,
            }
          : null,
      });
      return reply.code(201).send(saleJson(sale));
    },
  );
  app.get(
    '/sales',
    {
      config,
      schema: { tags, summary: 'Flash sales', querystring: listQuery, response: { 200: pageOf(saleOutput) } },
    },
    async (request) => page(await store.listSales(after(request.query)), saleJson),
  );
  app.post(
    '/sales/:id/f-codes',
    {
      // The codes are shown once: a replay of the request answers with codes: [].
      config: { ...config, idempotencyRedact: ['codes'] },
      schema: {
        tags,
        summary: 'Generate a batch of single-use F-codes bound to the sale',
        params: idParams,
        description: '409 STORE_FCODE_EXPIRED answers an attempt with a code of a batch past its expires_at.',
        body: z.object({
          count: z.number().int().min(1).max(10_000),
          expires_at: timestampInput.optional().meta({
            description: 'The codes are refused from then on; without it they are good for the whole sale',
          }),
        }),
        response: {
          201: z.object({
            batch_id: z.string(),
            codes: z.array(z.string()).nullable(),
            expires_at: timestampOutput.nullable(),
          }),
        },
      },
    },
    async (request, reply) => {
      const batch = await store.generateFcodes(request.params.id, request.body.count, {
        expiresAt: request.body.expires_at ?? null,
      });
      return reply
        .code(201)
        .send({ batch_id: batch.batchId, codes: batch.codes, expires_at: iso(batch.expiresAt) });
    },
  );
  app.get(
    '/sales/:id/metrics',
    {
      config,
      schema: {
        tags,
        summary:
          'Live sale metrics for the console: attempts/s, accepted, sold, remaining, rejections by reason',
        params: idParams,
        response: {
          200: z.object({
            sale_id: z.string(),
            attempts_per_s: z.number(),
            attempts: z.number().int(),
            accepted: z.number().int(),
            units_accepted: z.number().int(),
            sold: z.number().int(),
            returned: z.number().int(),
            reserved: z.number().int(),
            remaining: z.number().int(),
            lobby: z.number().int(),
            pending_hand_off: z.number().int(),
            rejections: z.record(z.string(), z.number().int()),
          }),
        },
      },
    },
    async (request) => metricsJson(await store.liveMetrics(request.params.id)),
  );
  const driftOutput = z.object({
    sale_id: z.string(),
    allotment: z.number().int(),
    engine_remaining: z.number().int(),
    engine_taken: z.number().int(),
    db_units_taken: z.number().int(),
    db_live_units: z.number().int(),
    refused_units: z.number().int(),
    in_flight: z.number().int(),
    drift: z.number().int(),
    status: z.enum(['ok', 'undersell', 'oversell_risk']),
    db_consistent: z.boolean(),
    repaired_releases: z.number().int(),
    released_fcodes: z.number().int(),
  });
  app.post(
    '/sales/:id/reconciliation',
    {
      config,
      schema: {
        tags,
        summary:
          "Reconcile the stock engine with the database: the drift report (repair: release closed orders' units again)",
        params: idParams,
        body: z.object({ repair: z.boolean().optional() }),
        response: { 200: driftOutput },
      },
    },
    async (request) => driftJson(await store.reconcile(request.params.id, { repair: request.body.repair })),
  );
  app.get(
    '/sales/:id/fulfilment',
    {
      config,
      schema: {
        tags,
        summary: 'Delivery against the 3-day target',
        params: idParams,
        response: {
          200: z.object({
            paid: z.number(),
            delivered: z.number(),
            delivered_on_time: z.number(),
            delivered_late: z.number(),
            overdue: z.number(),
            returned: z.number(),
          }),
        },
      },
    },
    async (request) => {
      const r = await store.fulfilmentReport(request.params.id);
      return {
        paid: r.paid,
        delivered: r.delivered,
        delivered_on_time: r.deliveredOnTime,
        delivered_late: r.deliveredLate,
        overdue: r.overdue,
        returned: r.returned,
      };
    },
  );
  app.get(
    '/orders',
    {
      config,
      schema: {
        tags,
        summary: 'Orders, by sale and status',
        querystring: z.object({
          ...pageQuery,
          sale_id: z.uuid().optional(),
          status: z.enum(orderStatuses).optional(),
          return_status: z
            .enum(returnStatuses)
            .optional()
            .meta({ description: 'requested: returns to receive' }),
        }),
        response: { 200: pageOf(orderOutput) },
      },
    },
    async (request) =>
      page(
        await store.listOrders({
          ...after(request.query),
          saleId: request.query.sale_id,
          status: request.query.status,
          returnStatus: request.query.return_status,
        }),
        orderJson,
      ),
  );
  app.post(
    '/orders/:id/fulfilment',
    {
      config,
      schema: {
        tags,
        summary: 'Record a fulfilment step: packed, shipped, delivered (in that order)',
        params: idParams,
        body: z.object({ status: z.enum(['packed', 'shipped', 'delivered']) }),
        response: { 200: orderOutput },
      },
    },
    async (request) => orderJson(await store.advanceOrder(request.params.id, request.body.status)),
  );
  app.post(
    '/orders/:id/cancel',
    {
      config,
      schema: {
        tags,
        summary: 'Cancel an order before it ships (refunded in full if paid)',
        params: idParams,
        body: z.object({ reason: z.string().max(256).optional() }),
        response: { 200: orderOutput },
      },
    },
    async (request) => orderJson(await store.cancelOrder(request.params.id, { reason: request.body.reason })),
  );
  app.post(
    '/orders/:id/return/received',
    {
      config,
      schema: {
        tags,
        summary: 'The returned goods are back: refund the order in full to its original method',
        description:
          'Refunds once through checkout (wallet; pay-later and instalments lower what the buyer owes). Repeating it finishes a refund that failed and answers a refunded return as it is. The units do not go back to the sale: a returned item is not new stock. 409 STORE_RETURN_NOT_REQUESTED when the buyer asked for no return.',
        params: idParams,
        body: z.object({}).optional(),
        response: { 200: orderOutput },
      },
    },
    async (request) => orderJson(await store.receiveReturn(request.params.id)),
  );
  const blacklistOutput = z.object({ user_id: z.string(), reason: z.string(), created_at: timestampOutput });
  app.post(
    '/blacklist',
    {
      config,
      schema: {
        tags,
        summary: 'Blacklist a user from every flash sale',
        body: z.object({ user_id: z.uuid(), reason: z.string().min(1).max(256) }),
        response: { 201: z.object({ user_id: z.string(), blacklisted: z.literal(true) }) },
      },
    },
    async (request, reply) => {
      await store.setBlacklisted(
        request.body.user_id,
        true,
        request.body.reason,
        request.operator?.id ?? null,
      );
      return reply.code(201).send({ user_id: request.body.user_id, blacklisted: true as const });
    },
  );
  app.post(
    '/blacklist/:id/remove',
    {
      config,
      schema: {
        tags,
        summary: 'Take a user off the blacklist',
        params: idParams,
        body: z.object({}).optional(),
        response: { 200: z.object({ user_id: z.string(), blacklisted: z.literal(false) }) },
      },
    },
    async (request) => {
      await store.setBlacklisted(request.params.id, false);
      return { user_id: request.params.id, blacklisted: false as const };
    },
  );
  app.get(
    '/blacklist',
    {
      config,
      schema: {
        tags,
        summary: 'The blacklist',
        querystring: listQuery,
        response: { 200: pageOf(blacklistOutput) },
      },
    },
    async (request) => {
      const q = after(request.query);
      const items = await store.blacklist.list({ after: q.after, limit: q.limit + 1 });
      const shown = items.slice(0, q.limit);
      return {
        items: shown.map((e) => ({
          user_id: e.userId,
          reason: e.reason,
          created_at: e.createdAt.toISOString(),
        })),
        next_cursor: items.length > q.limit ? encodeIdCursor(shown.at(-1)!.userId) : null,
      };
    },
  );
};

/** User routes under /v1/store. */
export const storeRoutes: FastifyPluginAsyncZod<{ store: Store }> = async (app, { store }) => {
  const user = { userAuth: true } as const;

  app.get(
    '/sales',
    {
      config: user,
      schema: {
        tags,
        summary: 'Flash sales on now or still to come, soonest first, with their product',
        description:
          'now is the server time, so a countdown to starts_at does not depend on the device clock.',
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) }),
        response: {
          200: z.object({
            now: timestampOutput,
            items: z.array(
              saleOutput.extend({
                product: z.object({ id: z.string(), name: z.string(), description: z.string() }),
                sku: z.object({ id: z.string(), name: z.string(), price: amountOutput }),
              }),
            ),
          }),
        },
      },
    },
    async (request) => {
      const { now, items } = await store.currentSales(request.query.limit);
      return {
        now: now.toISOString(),
        items: items.map(({ sale, sku, product }) => ({
          ...saleJson(sale),
          product: { id: product.id, name: product.name, description: product.description },
          sku: { id: sku.id, name: sku.name, price: sku.price.toString() },
        })),
      };
    },
  );
  app.get(
    '/sales/:id',
    {
      config: user,
      schema: { tags, summary: 'A flash sale', params: idParams, response: { 200: saleOutput } },
    },
    async (request) => saleJson(await store.getSale(request.params.id)),
  );
  app.post(
    '/sales/:id/registrations',
    {
      config: user,
      schema: {
        tags,
        summary: 'Register for a flash sale (required before attempting)',
        params: idParams,
        body: z.object({}).optional(),
        response: { 201: z.object({ sale_id: z.string(), registered: z.literal(true) }) },
      },
    },
    async (request, reply) => {
      await store.register(request.params.id, request.user!.userId);
      return reply.code(201).send({ sale_id: request.params.id, registered: true as const });
    },
  );
  app.post(
    '/sales/:id/attempts',
    {
      // The hot path: the token is checked without a session read, and the Idempotency-Key is the
      // attempt's identity in the stock engine (the same key is the same attempt), so the api's
      // stored-response claim — two SQL round trips — is skipped. See docs/ARCHITECTURE.md.
      config: { userAuth: 'stateless', ownIdempotency: true },
      // Tens of thousands a second in a sale: no per-request lines at info (Fastify's incoming and
      // completed, the refusals). Each anti-scalper decision is still logged with its reasons by
      // the risk guard's own logger, and every result and reason is counted in the metrics.
      logLevel: 'warn',
      schema: {
        tags,
        summary: 'Try to buy: accepted (a 15-minute reservation), queued (the admission window), or refused',
        description:
          '201 accepted; 202 queued in the admission lobby (poll GET …/attempts/{attempt_id}); 409 STORE_ATTEMPT_REJECTED with details.reason (sold_out, limit_reached, not_started, ended, over_limit, blacklisted, already_queued); 429 RATE_LIMITED (slow down), 403 STORE_CHALLENGE_REQUIRED or STORE_ATTEMPT_BLOCKED from the anti-scalper rules; 403 STORE_NOT_REGISTERED. Retrying with the same Idempotency-Key returns the same attempt.',
        params: idParams,
        body: z.object({
          quantity: z.number().int().min(1).max(100).default(1),
          device_id: z.string().min(1).max(128).optional(),
          address: z.string().min(1).max(500).optional().meta({ description: 'The shipping address' }),
          card_token: z.string().min(1).max(64).optional(),
          f_code: z.string().min(1).max(32).optional(),
        }),
        response: { 201: attemptOutput, 202: attemptOutput },
      },
    },
    async (request, reply) => {
      const b = request.body;
      let answer: Awaited<ReturnType<Store['attempt']>>;
      try {
        answer = await store.attempt({
          saleId: request.params.id,
          userId: request.user!.userId,
          key: request.idempotencyKey!,
          quantity: b.quantity,
          deviceId: b.device_id ?? (request.headers['x-device-id'] as string | undefined),
          ip: request.ip,
          address: b.address,
          card: b.card_token,
          fcode: b.f_code,
        });
      } catch (error) {
        // Most attempts in a sale are refused (sold out, limit, anti-scalper): answered here, as
        // the error handler would, without the detour through Fastify's error path.
        return replyWithError(error, request, reply);
      }
      return reply.code(answer.status === 'accepted' ? 201 : 202).send({
        status: answer.status,
        attempt_id: answer.attemptId,
        quantity: answer.quantity,
        pay_by: answer.status === 'accepted' ? answer.payBy.toISOString() : null,
      });
    },
  );
  app.get(
    '/sales/:id/attempts/:attempt_id',
    {
      config: user,
      schema: {
        tags,
        summary: 'What became of an attempt (queued, accepted with its order once written, rejected)',
        params: z.object({ id: z.uuid(), attempt_id: z.uuid() }),
        response: {
          200: z.object({
            status: z.enum(['accepted', 'queued', 'rejected', 'unknown']),
            reason: z.string().nullable(),
            order: orderOutput.nullable(),
          }),
        },
      },
    },
    async (request) => {
      const s = await store.attemptStatus(request.params.id, request.user!.userId, request.params.attempt_id);
      return {
        status: s.result.status,
        reason: s.result.status === 'rejected' ? s.result.reason : null,
        order: s.order ? orderJson(s.order) : null,
      };
    },
  );
  app.get(
    '/orders',
    {
      config: user,
      schema: {
        tags,
        summary: 'My store orders',
        querystring: listQuery,
        response: { 200: pageOf(orderOutput) },
      },
    },
    async (request) =>
      page(await store.listOrders({ ...after(request.query), userId: request.user!.userId }), orderJson),
  );
  app.get(
    '/orders/:id',
    {
      config: user,
      schema: { tags, summary: 'One of my orders', params: idParams, response: { 200: orderOutput } },
    },
    async (request) => orderJson(await store.getOrder(request.params.id, request.user!.userId)),
  );
  app.post(
    '/orders/:id/pay',
    {
      config: user,
      schema: {
        tags,
        summary: 'Pay a reservation through checkout: balance, bank_card, pay_later or pay_later_instalments',
        description:
          '409 STORE_RESERVATION_EXPIRED after the 15 minutes; 409 STORE_ORDER_NOT_PAYABLE when not reserved.',
        params: idParams,
        body: z.object({
          id: optionalCommandId,
          method: z.string().min(1).max(32).meta({
            description:
              "'balance', 'bank_card' (with card_token), 'pay_later', 'pay_later_instalments' (with terms)",
          }),
          card_token: z.string().min(1).max(64).optional(),
          terms: z
            .string()
            .regex(/^[1-9][0-9]?$/)
            .optional()
            .meta({ description: 'pay_later_instalments: months' }),
        }),
        response: { 200: orderOutput },
      },
    },
    async (request) =>
      orderJson(
        await store.payOrder({
          orderId: request.params.id,
          userId: request.user!.userId,
          paymentId: commandIdFor(request, request.body.id),
          method: request.body.method,
          details: {
            ...(request.body.card_token ? { cardToken: request.body.card_token } : {}),
            ...(request.body.terms ? { terms: request.body.terms } : {}),
          },
        }),
      ),
  );
  app.post(
    '/orders/:id/deposit',
    {
      config: user,
      schema: {
        tags,
        summary: 'Pre-sales: secure the reservation with the deposit (a hold on the wallet)',
        description:
          'Within the 15-minute reservation. Then pay the balance with POST /orders/{id}/pay between balance_from and balance_due_by; an unpaid deposit is forfeited or refunded per the sale.',
        params: idParams,
        body: z.object({}).optional(),
        response: { 200: orderOutput },
      },
    },
    async (request) => orderJson(await store.payDeposit(request.params.id, request.user!.userId)),
  );
  app.post(
    '/orders/:id/cancel',
    {
      config: user,
      schema: {
        tags,
        summary: 'Cancel my order before it ships (refunded in full to the wallet if paid)',
        params: idParams,
        body: z.object({ reason: z.string().max(256).optional() }),
        response: { 200: orderOutput },
      },
    },
    async (request) =>
      orderJson(
        await store.cancelOrder(request.params.id, {
          userId: request.user!.userId,
          reason: request.body.reason,
        }),
      ),
  );
  app.post(
    '/orders/:id/return',
    {
      config: user,
      schema: {
        tags,
        summary: 'Return my delivered order within seven days of receipt, no reason needed',
        description:
          "Consumer Rights Protection Law of the PRC (2013), Art. 25: seven days from the day after delivery, until the end of the order's return_by (Asia/Shanghai). The whole order is returned; once the store has the goods back it refunds the order to the method it was paid with. Asking again answers the return as it stands. 409 STORE_RETURN_NOT_DELIVERED before delivery, 409 STORE_RETURN_WINDOW_CLOSED after return_by.",
        params: idParams,
        body: z.object({ reason: z.string().max(256).optional() }),
        response: { 200: orderOutput },
      },
    },
    async (request) =>
      orderJson(await store.requestReturn(request.params.id, request.user!.userId, request.body.reason)),
  );
};
