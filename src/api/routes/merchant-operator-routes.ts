import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { merchantScopes, type Merchants } from '../../merchants/index.ts';
import { commandIdFor } from '../idempotency-hooks.ts';
import {
  merchantJson,
  merchantKeyJson,
  merchantKeyOutput,
  merchantOutput,
  settlementJson,
  settlementOutput,
  settlementRangeQuery,
} from '../merchant-presenters.ts';
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
      // The stored idempotent response must not hold the secret: a replay shows signing_secret: null.
      config: { ...admin, idempotencyRedact: ['signing_secret'] },
      schema: {
        tags: ['merchants'],
        summary: 'Onboard a merchant (opens its merchant_payable ledger account)',
        description:
          "The response carries the merchant's webhook signing secret (whsec_…) once: it signs events sent to its payment orders' notify URLs. A name another merchant already has (trimmed, case ignored) is 409 MERCHANT_NAME_TAKEN.",
        body: z.object({
          id: optionalCommandId,
          name: z.string().trim().min(1).max(100),
          fee_bps: z
            .number()
            .int()
            .min(0)
            .max(10_000)
            .meta({ description: 'Fee in basis points (60 = 0.6%)' }),
          settlement_card_token: z.string().trim().min(1).max(64).optional().meta({
            description: 'The bank card or account token payouts go to (default a sandbox token)',
          }),
        }),
        response: {
          201: merchantOutput.extend({
            signing_secret: z.string().nullable().meta({
              description: 'whsec_… shown this once; null when an idempotent retry replays the onboarding',
            }),
          }),
        },
      },
    },
    async (request, reply) => {
      const { merchant, signingSecret } = await merchants.onboardMerchant({
        id: commandIdFor(request, request.body.id),
        name: request.body.name,
        feeBps: request.body.fee_bps,
        settlementCardToken: request.body.settlement_card_token,
      });
      return reply.code(201).send({ ...merchantJson(merchant), signing_secret: signingSecret });
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

  app.post(
    '/:id/settlement-account',
    {
      config: admin,
      schema: {
        tags: ['merchants'],
        summary: "Set the bank card or account token the merchant's payouts are credited to",
        description: 'Payouts not yet sent, and failed ones retried at the next close, go to the new token.',
        params: idParams,
        body: z.object({ card_token: z.string().trim().min(1).max(64) }),
        response: { 200: merchantOutput },
      },
    },
    async (request) =>
      merchantJson(await merchants.setSettlementCardToken(request.params.id, request.body.card_token)),
  );

  app.get(
    '/:id/settlements',
    {
      config: admin,
      schema: {
        tags: ['merchants'],
        summary: "A merchant's settlement report: per business date, payments, refunds, fees, net and payout",
        params: idParams,
        querystring: settlementRangeQuery,
        response: { 200: z.object({ items: z.array(settlementOutput) }) },
      },
    },
    async (request) => ({
      items: (await merchants.listSettlements(request.params.id, request.query)).map(settlementJson),
    }),
  );
};
