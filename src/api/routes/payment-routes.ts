import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  PAYMENT_CODE_STEP_MS,
  type Merchants,
  type OrderPaymentReads,
  type PaymentDevice,
} from '../../merchants/index.ts';
import { commandIdFor, sendStored, storedResponder } from '../idempotency-hooks.ts';
import { orderJson, orderOutput, paymentJson, paymentOutput } from '../merchant-presenters.ts';
import { idParams, optionalCommandId, timestampOutput } from '../schemas.ts';

const user = { userAuth: true } as const;

/** The user's side of merchant payments: see and pay a scanned order, register a payment-code device. */
export const paymentRoutes: FastifyPluginAsyncZod<{ merchants: Merchants }> = async (app, { merchants }) => {
  /** The order's and the payer's reads, started while the session is read (`config.prefetch`). */
  const orderReads = new WeakMap<FastifyRequest, OrderPaymentReads>();
  app.get(
    '/payment-orders/:id',
    {
      config: user,
      schema: {
        tags: ['payments'],
        summary: 'A scanned payment order: amount, merchant name, status',
        params: idParams,
        response: { 200: orderOutput },
      },
    },
    async (request) => orderJson(await merchants.getOrder(request.params.id)),
  );

  app.post(
    '/payment-orders/:id/pay',
    {
      // The Idempotency-Key is claimed with the payment in the ledger's batch (one commit for both).
      config: {
        ...user,
        idempotencyInBatch: true,
        prefetch: (request, userId) => {
          const reads = merchants.prefetchOrderPayment((request.params as { id: string }).id, userId);
          if (reads) orderReads.set(request, reads);
        },
      },
      schema: {
        tags: ['payments'],
        summary: 'Pay a payment order with a checkout method',
        description:
          "method 'balance' pays from the wallet at once; 'bank_card' (with card_token) is pending until the bank settles. " +
          'Counts against the account-class limit (422 PAYMENT_LIMIT_EXCEEDED). 409 PAYMENT_ORDER_EXPIRED, PAYMENT_ORDER_CANCELLED, PAYMENT_ORDER_ALREADY_PAID.',
        params: idParams,
        body: z.object({
          id: optionalCommandId,
          method: z.string().min(1).max(32).meta({
            description: "'balance', 'bank_card', 'pay_later' or 'pay_later_instalments' (with terms)",
          }),
          card_token: z.string().min(1).max(64).optional(),
          terms: z
            .number()
            .int()
            .min(1)
            .max(99)
            .optional()
            .meta({ description: 'pay_later_instalments: months' }),
          fee_payer: z
            .enum(['user', 'merchant'])
            .optional()
            .meta({ description: "pay_later_instalments: 'merchant' for interest-free instalments" }),
        }),
        response: { 201: paymentOutput },
      },
    },
    async (request, reply) => {
      const command = {
        id: commandIdFor(request, request.body.id),
        orderId: request.params.id,
        userId: request.user!.userId,
        method: request.body.method,
        details: {
          ...(request.body.card_token ? { cardToken: request.body.card_token } : {}),
          ...(request.body.terms ? { terms: String(request.body.terms) } : {}),
          ...(request.body.fee_payer ? { fee_payer: request.body.fee_payer } : {}),
        } as Record<string, string>,
      };
      const deferred = request.idempotencyDeferred!;
      // A client-chosen payment id may name an earlier payment: the ordinary path replays it.
      if (!request.body.id) {
        const key = deferred.batched();
        const respond = storedResponder(request, paymentOutput);
        let result: { ok: true } | { ok: false; error: unknown };
        try {
          const payment = await merchants.payOrderInBatch(
            command,
            (recorded) => [key.effect((outcome) => respond(outcome, () => paymentJson(recorded())))],
            orderReads.get(request),
          );
          if (!payment) result = { ok: false, error: undefined };
          else result = { ok: true };
        } catch (error) {
          result = { ok: false, error };
        }
        const stored = key.stored(result);
        if (stored) return sendStored(reply, stored);
        if (!result.ok && result.error !== undefined) throw result.error;
      }
      if (!(await deferred.claim())) return reply;
      // Nothing is written for this payment before the payer's identity is judged: a refusal for it
      // forgets the key, so the same request pays once the payer is verified.
      const payment = await merchants.payOrder({ ...command, unverifiedPayerBeforeAnyEffect: true });
      return reply.code(201).send(paymentJson(payment));
    },
  );

  app.post(
    '/me/payment-devices',
    {
      // The stored idempotent response must not hold the secret: a replay shows secret: null.
      config: { ...user, idempotencyRedact: ['secret'] },
      schema: {
        tags: ['payments'],
        summary: 'Register a device that shows payment codes; the response carries its secret, shown once',
        description:
          'The device computes 18-digit codes offline: "28", the 8-digit device_index, and an 8-digit TOTP ' +
          '(HMAC-SHA256 of the secret over the 30-second step). A code is valid for the current and previous step ' +
          '(and the next, for a device clock a little fast), once. A lost device is revoked with POST …/{id}/revoke.',
        body: z.object({
          id: optionalCommandId,
          name: z.string().trim().min(1).max(64).optional(),
          funding_method: z.string().max(32).optional().meta({
            description:
              "How this device's codes pay: 'balance' (the wallet, default) or another method that needs no details, such as 'pay_later'. The merchant who scans cannot change it.",
          }),
        }),
        response: {
          201: z.object({
            id: z.string(),
            device_index: z.number().int(),
            name: z.string(),
            funding_method: z.string(),
            secret: z.string().nullable().meta({ description: '32 bytes, base64; null on a replay' }),
            period_seconds: z.number().int(),
            created_at: timestampOutput,
          }),
        },
      },
    },
    async (request, reply) => {
      const { device, secret } = await merchants.registerDevice({
        id: commandIdFor(request, request.body.id),
        userId: request.user!.userId,
        name: request.body.name,
        fundingMethod: request.body.funding_method,
      });
      return reply.code(201).send({
        id: device.id,
        device_index: device.deviceIndex,
        name: device.name,
        funding_method: device.fundingMethod,
        secret: secret ? secret.toString('base64') : null,
        period_seconds: PAYMENT_CODE_STEP_MS / 1000,
        created_at: device.createdAt.toISOString(),
      });
    },
  );

  app.get(
    '/me/payment-devices',
    {
      config: user,
      schema: {
        tags: ['payments'],
        summary: 'My payment-code devices (never their secrets), revoked ones included',
        response: { 200: z.object({ items: z.array(deviceOutput) }) },
      },
    },
    async (request) => ({ items: (await merchants.listDevices(request.user!.userId)).map(deviceJson) }),
  );

  app.post(
    '/me/payment-devices/:id/revoke',
    {
      config: user,
      schema: {
        tags: ['payments'],
        summary: 'Revoke a lost or sold device: its payment codes pay nothing from now on',
        description:
          'Takes effect at once, also for a scan in flight; a code of the device is then 422 PAYMENT_CODE_INVALID. Revoking again is harmless; 404 PAYMENT_DEVICE_NOT_FOUND for a device not mine.',
        params: idParams,
        response: { 200: deviceOutput },
      },
    },
    async (request) => deviceJson(await merchants.revokeDevice(request.user!.userId, request.params.id)),
  );
};

const deviceOutput = z.object({
  id: z.string(),
  device_index: z.number().int(),
  name: z.string(),
  funding_method: z.string(),
  created_at: timestampOutput,
  revoked_at: timestampOutput.nullable(),
});

const deviceJson = (device: PaymentDevice) => ({
  id: device.id,
  device_index: device.deviceIndex,
  name: device.name,
  funding_method: device.fundingMethod,
  created_at: device.createdAt.toISOString(),
  revoked_at: device.revokedAt?.toISOString() ?? null,
});
