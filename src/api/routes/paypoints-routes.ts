import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { PayPoints, ServiceOrder } from '../../paypoints/index.ts';
import { commandIdFor } from '../idempotency-hooks.ts';
import {
  amountInput,
  amountOutput,
  idParams,
  optionalCommandId,
  pageOf,
  pageQuery,
  timestampOutput,
} from '../schemas.ts';

const statuses = [
  'created',
  'accepting',
  'active',
  'completing',
  'completed',
  'unpaid',
  'cancelled',
] as const;

const serviceOrderOutput = z.object({
  id: z.string(),
  merchant_id: z.string(),
  merchant_reference: z.string(),
  description: z.string(),
  currency: z.string(),
  risk_amount: amountOutput.meta({ description: 'The deposit the merchant would take, fen' }),
  score_bar: z.number().int().meta({ description: 'The score (350–950) that waives the deposit' }),
  max_days: z.number().int(),
  status: z.enum(statuses).meta({
    description:
      'created → active (accepted; accepting while the deposit is being held) → completed, or unpaid (a debt) until paid; cancelled',
  }),
  user_id: z.string().nullable(),
  method: z.string().nullable().meta({ description: 'Checkout method for the final fee' }),
  deposit: z.enum(['waived', 'held', 'used', 'released']).nullable().meta({
    description:
      'Null until accepted; waived by the score, or where the held deposit is now: held on the wallet, used (paid deposit_used of the fee, the rest released) or released back (cancelled, no fee, or past max_days)',
  }),
  decision: z
    .enum(['score_cleared_bar', 'score_below_bar', 'no_consent', 'no_score', 'not_eligible'])
    .nullable(),
  score: z.number().int().nullable().meta({
    description: 'The score the decision used; null in the merchant’s view (the score is not shared)',
  }),
  score_id: z.string().nullable().meta({ description: 'Null in the merchant’s view, as the score' }),
  deposit_hold_id: z.string().nullable().meta({ description: 'The ledger hold on the wallet' }),
  final_fee: amountOutput.nullable(),
  deposit_used: amountOutput.meta({ description: 'Of the final fee: paid from the held deposit' }),
  charged: amountOutput.meta({ description: 'Of the final fee: charged with the checkout method' }),
  debt: amountOutput.meta({ description: 'Of the final fee: unpaid (owed while status is unpaid)' }),
  debt_outstanding: amountOutput,
  paid: amountOutput.meta({
    description: 'Of the final fee: paid by the user (deposit used, charged, and the debt once paid)',
  }),
  refunded: amountOutput.meta({ description: 'Of what was paid: refunded by the merchant' }),
  net: amountOutput.meta({ description: 'paid − refunded' }),
  payments: z
    .array(
      z.object({
        id: z.string(),
        part: z.enum(['deposit', 'fee', 'debt']),
        amount: amountOutput,
        refunded: amountOutput,
      }),
    )
    .meta({
      description: 'The merchant payments the fee was paid with (refund them with POST /v1/merchant/refunds)',
    }),
  created_at: timestampOutput,
  accepted_at: timestampOutput.nullable(),
  completed_at: timestampOutput.nullable(),
  debt_paid_at: timestampOutput.nullable(),
  cancelled_at: timestampOutput.nullable(),
});

const iso = (d: Date | null) => d?.toISOString() ?? null;

export const serviceOrderJson = (o: ServiceOrder) => ({
  id: o.id,
  merchant_id: o.merchantId,
  merchant_reference: o.merchantReference,
  description: o.description,
  currency: o.currency,
  risk_amount: o.riskAmount.toString(),
  score_bar: o.scoreBar,
  max_days: o.maxDays,
  status: o.status,
  user_id: o.userId,
  method: o.method,
  deposit: o.deposit,
  decision: o.decision,
  score: o.score,
  score_id: o.scoreId,
  deposit_hold_id: o.depositHoldId,
  final_fee: o.finalFee?.toString() ?? null,
  deposit_used: o.depositUsed.toString(),
  charged: o.charged.toString(),
  debt: o.debt.toString(),
  debt_outstanding: (o.status === 'unpaid' ? o.debt : 0n).toString(),
  paid: o.paid.toString(),
  refunded: o.refunded.toString(),
  net: o.net.toString(),
  payments: o.payments.map((p) => ({
    id: p.id,
    part: p.part,
    amount: p.amount.toString(),
    refunded: p.refunded.toString(),
  })),
  created_at: o.createdAt.toISOString(),
  accepted_at: iso(o.acceptedAt),
  completed_at: iso(o.completedAt),
  debt_paid_at: iso(o.debtPaidAt),
  cancelled_at: iso(o.cancelledAt),
});

/**
 * The merchant's view: the user's credit score stays with the platform (the consent to credit
 * scoring names the platform as its only recipient), so the merchant learns the decision on the
 * deposit only, never the score or which score it was. Before 2026-12-05 every merchant read of an
 * order carried the user's score, still after the user withdrew that consent.
 */
const merchantServiceOrderJson = (o: ServiceOrder) => ({
  ...serviceOrderJson(o),
  score: null,
  score_id: null,
});

const tags = ['paypoints'];

/** The merchant's side (merchant API key): create, look at, complete, cancel service orders. */
export const merchantServiceOrderRoutes: FastifyPluginAsyncZod<{ paypoints: PayPoints }> = async (
  app,
  { paypoints },
) => {
  const write = { merchantAuth: 'payments:write' } as const;
  app.post(
    '/service-orders',
    {
      config: write,
      schema: {
        tags,
        summary: 'Offer a Pay Points service: a deposit-free service for users whose score clears the bar',
        body: z.object({
          id: optionalCommandId,
          merchant_reference: z.string().trim().min(1).max(64),
          description: z.string().trim().min(1).max(256),
          risk_amount: amountInput.meta({ description: 'The deposit otherwise taken, fen' }),
          score_bar: z.number().int().min(350).max(950),
          max_days: z.number().int().min(1).max(365).optional().meta({
            description: 'Days a held deposit may stay held (default 30); then the ledger releases it',
          }),
        }),
        response: { 201: serviceOrderOutput },
      },
    },
    async (request, reply) => {
      const order = await paypoints.createServiceOrder({
        id: commandIdFor(request, request.body.id),
        merchantId: request.merchant!.merchantId,
        merchantReference: request.body.merchant_reference,
        description: request.body.description,
        riskAmount: request.body.risk_amount,
        scoreBar: request.body.score_bar,
        maxDays: request.body.max_days,
      });
      return reply.code(201).send(merchantServiceOrderJson(order));
    },
  );

  app.get(
    '/service-orders/:id',
    {
      config: { merchantAuth: 'payments:read' },
      schema: {
        tags,
        summary: 'One of my service orders',
        params: idParams,
        response: { 200: serviceOrderOutput },
      },
    },
    async (request) =>
      merchantServiceOrderJson(
        await paypoints.getServiceOrder(request.params.id, { merchantId: request.merchant!.merchantId }),
      ),
  );

  app.post(
    '/service-orders/:id/complete',
    {
      config: write,
      schema: {
        tags,
        summary: 'End the service with the final fee',
        description:
          'The held deposit pays what it covers (the rest is released); the user is charged the remainder with their checkout method; what cannot be charged becomes a debt (status unpaid) that lowers their score until paid. 409 SERVICE_ORDER_STATE unless active. 422 MERCHANT_SUSPENDED when the merchant is suspended before any of the fee is paid: the order is then cancelled and the deposit released. 503 SERVICE_ORDER_DEPOSIT_RELEASING when the held deposit has reached its timeout and the ledger has not yet released it: nothing is charged; retry in a few seconds (the same Idempotency-Key may be used).',
        params: idParams,
        body: z.object({ final_fee: amountInput }),
        response: { 200: serviceOrderOutput },
      },
    },
    async (request) =>
      merchantServiceOrderJson(
        await paypoints.completeServiceOrder({
          id: request.params.id,
          merchantId: request.merchant!.merchantId,
          finalFee: request.body.final_fee,
        }),
      ),
  );

  app.post(
    '/service-orders/:id/cancel',
    {
      config: write,
      schema: {
        tags,
        summary: 'Cancel a service order before completion; a held deposit is released',
        params: idParams,
        response: { 200: serviceOrderOutput },
      },
    },
    async (request) =>
      merchantServiceOrderJson(
        await paypoints.cancelServiceOrder({
          id: request.params.id,
          merchantId: request.merchant!.merchantId,
        }),
      ),
  );
};

/** The user's side: look at an offered order, accept it, see mine, pay a debt. */
export const userServiceOrderRoutes: FastifyPluginAsyncZod<{ paypoints: PayPoints }> = async (
  app,
  { paypoints },
) => {
  const user = { userAuth: true } as const;
  app.get(
    '/service-orders/:id',
    {
      config: user,
      schema: {
        tags,
        summary: 'A service order offered to me (not yet taken) or mine',
        params: idParams,
        response: { 200: serviceOrderOutput },
      },
    },
    async (request) =>
      serviceOrderJson(await paypoints.getServiceOrder(request.params.id, { userId: request.user!.userId })),
  );

  app.post(
    '/service-orders/:id/accept',
    {
      config: user,
      schema: {
        tags,
        summary:
          'Take the service: the deposit is waived if my score clears the bar, else held from my wallet',
        description:
          'With consent to credit scoring the score is computed now; without it (or without a score) the deposit is held. 422 INSUFFICIENT_FUNDS when the wallet cannot hold it; 409 SERVICE_ORDER_STATE when taken; 422 PAYMENT_METHOD_UNKNOWN, or 400 VALIDATION_FAILED for a method that needs details an order does not keep (bank_card: a card token).',
        params: idParams,
        body: z.object({
          method: z.string().min(1).max(32).optional().meta({
            description: "Checkout method for the final fee (default 'balance')",
          }),
        }),
        response: { 200: serviceOrderOutput },
      },
    },
    async (request) =>
      serviceOrderJson(
        await paypoints.acceptServiceOrder({
          id: request.params.id,
          userId: request.user!.userId,
          method: request.body.method,
        }),
      ),
  );

  app.get(
    '/me/service-orders',
    {
      config: user,
      schema: {
        tags,
        summary: 'My service orders, newest first (status=unpaid: my debts)',
        querystring: z.object({ ...pageQuery, status: z.enum(statuses).optional() }),
        response: { 200: pageOf(serviceOrderOutput) },
      },
    },
    async (request) => {
      const page = await paypoints.listUserServiceOrders(request.user!.userId, request.query);
      return { items: page.items.map(serviceOrderJson), next_cursor: page.nextCursor };
    },
  );

  app.post(
    '/me/service-orders/:id/pay',
    {
      config: user,
      schema: {
        tags,
        summary: "Pay an unpaid service order's debt",
        description:
          'Charges the debt with a checkout method (default balance); paid, the order is completed and the debt no longer lowers the score. 409 SERVICE_ORDER_STATE when nothing is owed.',
        params: idParams,
        body: z.object({ id: optionalCommandId, method: z.string().min(1).max(32).optional() }),
        response: { 200: serviceOrderOutput },
      },
    },
    async (request) =>
      serviceOrderJson(
        await paypoints.payServiceDebt({
          id: request.params.id,
          userId: request.user!.userId,
          paymentId: commandIdFor(request, request.body.id),
          method: request.body.method,
        }),
      ),
  );
};
