import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MAX_ORDER_TTL_SECONDS, type Merchants } from '../../merchants/index.ts';
import { commandIdFor } from '../idempotency-hooks.ts';
import {
  orderJson,
  orderOutput,
  paymentJson,
  paymentOutput,
  refundJson,
  refundOutput,
  settlementJson,
  settlementOutput,
  settlementRangeQuery,
} from '../merchant-presenters.ts';
import { endpointJson, endpointOutput } from './webhook-routes.ts';
import { amountInput, idParams, optionalCommandId, pageOf, pageQuery, uuidSchema } from '../schemas.ts';

const write = { merchantAuth: 'payments:write' } as const;
const read = { merchantAuth: 'payments:read' } as const;

/** What a merchant does with its API key: orders, scanning payment codes, payments and refunds. */
export const merchantRoutes: FastifyPluginAsyncZod<{ merchants: Merchants }> = async (app, { merchants }) => {
  app.post(
    '/payment-orders',
    {
      config: write,
      schema: {
        tags: ['merchant'],
        summary: 'Create a payment order for a user to scan and pay',
        body: z.object({
          id: optionalCommandId,
          merchant_reference: z.string().trim().min(1).max(64).meta({
            description: "The merchant's own order number, unique per merchant",
          }),
          amount: amountInput,
          description: z.string().trim().min(1).max(256),
          notify_url: z.url().max(1000).optional(),
          expires_in_seconds: z
            .number()
            .int()
            .min(1)
            .max(MAX_ORDER_TTL_SECONDS)
            .optional()
            .meta({ description: 'Default 900 (15 minutes), at most 86400 (24 hours)' }),
        }),
        response: { 201: orderOutput },
      },
    },
    async (request, reply) => {
      const order = await merchants.createOrder({
        id: commandIdFor(request, request.body.id),
        merchantId: request.merchant!.merchantId,
        merchantReference: request.body.merchant_reference,
        amount: request.body.amount,
        description: request.body.description,
        notifyUrl: request.body.notify_url,
        expiresInSeconds: request.body.expires_in_seconds,
      });
      return reply.code(201).send(orderJson(order));
    },
  );

  app.get(
    '/payment-orders/:id',
    {
      config: read,
      schema: {
        tags: ['merchant'],
        summary: 'One of my payment orders',
        params: idParams,
        response: { 200: orderOutput },
      },
    },
    async (request) => orderJson(await merchants.getOrder(request.params.id, request.merchant!.merchantId)),
  );

  app.post(
    '/payment-orders/:id/cancel',
    {
      config: write,
      schema: {
        tags: ['merchant'],
        summary: 'Cancel an unpaid order (409 PAYMENT_ORDER_ALREADY_PAID once paid)',
        params: idParams,
        response: { 200: orderOutput },
      },
    },
    async (request) =>
      orderJson(await merchants.cancelOrder(request.params.id, request.merchant!.merchantId)),
  );

  app.post(
    '/payments/scan',
    {
      config: write,
      schema: {
        tags: ['merchant'],
        summary: "Take a payment by scanning the user's payment code",
        description:
          'The 18-digit code is valid for about 60 s and once: PAYMENT_CODE_EXPIRED, PAYMENT_CODE_USED, PAYMENT_CODE_INVALID.',
        body: z.object({
          id: optionalCommandId,
          code: z.string().regex(/^\d{18}$/, 'must be the 18 digits of a payment code'),
          amount: amountInput,
          description: z.string().trim().max(256).optional(),
          method: z.string().max(32).optional().meta({
            description:
              "The customer chose how their code pays (the device's funding_method); if given, it must be that method (PAYMENT_METHOD_NOT_ALLOWED otherwise)",
          }),
        }),
        response: { 201: paymentOutput },
      },
    },
    async (request, reply) => {
      const payment = await merchants.scanPay({
        id: commandIdFor(request, request.body.id),
        merchantId: request.merchant!.merchantId,
        code: request.body.code,
        amount: request.body.amount,
        description: request.body.description,
        method: request.body.method,
      });
      return reply.code(201).send(paymentJson(payment));
    },
  );

  app.get(
    '/payments',
    {
      config: read,
      schema: {
        tags: ['merchant'],
        summary: 'My payments, newest first',
        querystring: z.object({
          ...pageQuery,
          status: z.enum(['pending', 'succeeded', 'failed']).optional(),
        }),
        response: { 200: pageOf(paymentOutput) },
      },
    },
    async (request) => {
      const page = await merchants.listPayments(request.merchant!.merchantId, request.query);
      return { items: page.items.map(paymentJson), next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/payments/:id',
    {
      config: read,
      schema: {
        tags: ['merchant'],
        summary: 'One of my payments',
        params: idParams,
        response: { 200: paymentOutput },
      },
    },
    async (request) =>
      paymentJson(
        await merchants.getPayment(request.params.id, { merchantId: request.merchant!.merchantId }),
      ),
  );

  app.post(
    '/refunds',
    {
      config: { merchantAuth: 'refunds:write' },
      schema: {
        tags: ['merchant'],
        summary: 'Refund part or all of a payment, to the payer’s wallet',
        description:
          'Several refunds may add up to the amount paid, never more (422 REFUND_EXCEEDS_PAYMENT); 422 MERCHANT_BALANCE_INSUFFICIENT when my balance with the platform is too small.',
        body: z.object({
          id: optionalCommandId,
          payment_id: uuidSchema,
          amount: amountInput,
          reason: z.string().trim().max(256).optional(),
        }),
        response: { 201: refundOutput },
      },
    },
    async (request, reply) => {
      const refund = await merchants.refund({
        id: commandIdFor(request, request.body.id),
        merchantId: request.merchant!.merchantId,
        paymentId: request.body.payment_id,
        amount: request.body.amount,
        reason: request.body.reason,
      });
      return reply.code(201).send(refundJson(refund));
    },
  );

  app.get(
    '/refunds/:id',
    {
      config: read,
      schema: {
        tags: ['merchant'],
        summary: 'One of my refunds',
        params: idParams,
        response: { 200: refundOutput },
      },
    },
    async (request) => refundJson(await merchants.getRefund(request.params.id, request.merchant!.merchantId)),
  );

  app.get(
    '/settlements',
    {
      config: read,
      schema: {
        tags: ['merchant'],
        summary: 'My settlement report: per business date, payments, refunds, fees, net and payout',
        description:
          'Each payment’s fee is amount × fee_bps / 10,000 fen rounded half-even; refunds return no fee. The net is paid out to my settlement account the next business date (T+1).',
        querystring: settlementRangeQuery,
        response: { 200: z.object({ items: z.array(settlementOutput) }) },
      },
    },
    async (request) => ({
      items: (await merchants.listSettlements(request.merchant!.merchantId, request.query)).map(
        settlementJson,
      ),
    }),
  );

  app.post(
    '/webhook-endpoints',
    {
      // The stored idempotent response must not hold the secret: a replay shows secret: null.
      config: { ...write, idempotencyRedact: ['secret'] },
      schema: {
        tags: ['merchant'],
        summary: 'Add a webhook endpoint for my events; the response carries its signing secret, shown once',
        description:
          'Events: payment.succeeded, payment.failed, refund.succeeded, settlement.paid (empty event_types = all). https only; plain http only to 127.0.0.1 or localhost.',
        body: z.object({
          url: z.string().min(1).max(2000),
          event_types: z.array(z.string()).max(100).optional(),
          description: z.string().max(200).nullable().optional(),
        }),
        response: {
          201: endpointOutput.extend({
            secret: z.string().nullable().meta({
              description: 'whsec_… shown this once; null when an idempotent retry replays the creation',
            }),
          }),
        },
      },
    },
    async (request, reply) => {
      const created = await merchants.createWebhookEndpoint({
        merchantId: request.merchant!.merchantId,
        url: request.body.url,
        eventTypes: request.body.event_types,
        description: request.body.description,
      });
      return reply.code(201).send({ ...endpointJson(created.endpoint), secret: created.secret });
    },
  );

  app.get(
    '/webhook-endpoints',
    {
      config: read,
      schema: {
        tags: ['merchant'],
        summary: 'My webhook endpoints (never their secrets)',
        response: { 200: z.object({ items: z.array(endpointOutput) }) },
      },
    },
    async (request) => ({
      items: (await merchants.listWebhookEndpoints(request.merchant!.merchantId)).map(endpointJson),
    }),
  );
};
