import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { merchantScopes, type Merchants } from '../../merchants/index.ts';
import { commandIdFor } from '../idempotency-hooks.ts';
import { merchantJson, merchantKeyJson, merchantKeyOutput, merchantOutput } from '../merchant-presenters.ts';
import { amountOutput, idParams, optionalCommandId, pageOf, pageQuery } from '../schemas.ts';

const admin = { scope: 'merchants:admin' } as const;

const merchantDetailOutput = merchantOutput.extend({
  balance: amountOutput.meta({ description: 'What the platform owes the merchant (merchant_payable)' }),
  available: amountOutput,
});

/** Operators onboard merchants, suspend them, and issue their API keys. */
export const merchantOperatorRoutes: FastifyPluginAsyncZod<{ merchants: Merchants }> = async (
  app,
  { merchants },
) => {
  app.post(
    '/',
    {
      config: admin,
      schema: {
        tags: ['merchants'],
        summary: 'Onboard a merchant (opens its merchant_payable ledger account)',
        body: z.object({
          id: optionalCommandId,
          name: z.string().trim().min(1).max(100),
          fee_bps: z
            .number()
            .int()
            .min(0)
            .max(10_000)
            .meta({ description: 'Fee in basis points (60 = 0.6%)' }),
        }),
        response: { 201: merchantOutput },
      },
    },
    async (request, reply) => {
      const merchant = await merchants.createMerchant({
        id: commandIdFor(request, request.body.id),
        name: request.body.name,
        feeBps: request.body.fee_bps,
      });
      return reply.code(201).send(merchantJson(merchant));
    },
  );

  app.get(
    '/',
    {
      config: admin,
      schema: {
        tags: ['merchants'],
        summary: 'List merchants',
        querystring: z.object(pageQuery),
        response: { 200: pageOf(merchantOutput) },
      },
    },
    async (request) => {
      const page = await merchants.listMerchants(request.query);
      return { items: page.items.map(merchantJson), next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/:id',
    {
      config: admin,
      schema: {
        tags: ['merchants'],
        summary: 'A merchant with its payable balance',
        params: idParams,
        response: { 200: merchantDetailOutput },
      },
    },
    async (request) => {
      const merchant = await merchants.getMerchant(request.params.id);
      const balance = await merchants.merchantBalance(merchant.id);
      return {
        ...merchantJson(merchant),
        balance: balance.posted.toString(),
        available: balance.available.toString(),
      };
    },
  );

  for (const [action, status] of [
    ['suspend', 'suspended'],
    ['activate', 'active'],
  ] as const) {
    app.post(
      `/:id/${action}`,
      {
        config: admin,
        schema: {
          tags: ['merchants'],
          summary:
            action === 'suspend'
              ? 'Suspend a merchant: it takes no new orders or payments (refunds still work)'
              : 'Reactivate a suspended merchant',
          params: idParams,
          response: { 200: merchantOutput },
        },
      },
      async (request) => merchantJson(await merchants.setMerchantStatus(request.params.id, status)),
    );
  }

  app.post(
    '/:id/api-keys',
    {
      // The stored idempotent response must not hold the secret: a replay shows key: null.
      config: { ...admin, idempotencyRedact: ['key'] },
      schema: {
        tags: ['merchants'],
        summary: 'Create a merchant API key (mlt_mk_…); the response carries the key, shown once',
        params: idParams,
        body: z.object({
          name: z.string().trim().min(1).max(100),
          scopes: z.array(z.enum(merchantScopes)).min(1),
        }),
        response: { 201: merchantKeyOutput.extend({ key: z.string().nullable() }) },
      },
    },
    async (request, reply) => {
      const created = await merchants.createKey({
        merchantId: request.params.id,
        name: request.body.name,
        scopes: request.body.scopes,
        createdBy: request.operator?.id ?? null,
      });
      return reply.code(201).send({ ...merchantKeyJson(created.key), key: created.plaintext });
    },
  );

  app.get(
    '/:id/api-keys',
    {
      config: admin,
      schema: {
        tags: ['merchants'],
        summary: "A merchant's API keys (never their secrets)",
        params: idParams,
        response: { 200: z.object({ items: z.array(merchantKeyOutput) }) },
      },
    },
    async (request) => ({ items: (await merchants.listKeys(request.params.id)).map(merchantKeyJson) }),
  );

  app.post(
    '/:id/api-keys/:keyId/revoke',
    {
      config: admin,
      schema: {
        tags: ['merchants'],
        summary: 'Revoke a merchant API key; it stops working at once',
        params: z.object({ id: z.string(), keyId: z.string() }),
        response: { 200: merchantKeyOutput },
      },
    },
    async (request) => merchantKeyJson(await merchants.revokeKey(request.params.id, request.params.keyId)),
  );
};
