import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Ledger } from '../../ledger/index.ts';
import { commandIdFor } from '../idempotency-hooks.ts';
import { holdJson, receiptJson } from '../ledger-presenters.ts';
import { holdBody, holdOutput, postHoldBody, receiptOutput, resolveBody } from '../ledger-schemas.ts';
import { idParams } from '../schemas.ts';

export const ledgerHoldRoutes: FastifyPluginAsyncZod<{ ledger: Ledger }> = async (app, { ledger }) => {
  app.post(
    '/holds',
    {
      config: { scope: 'ledger:write' },
      schema: {
        tags: ['ledger'],
        summary: 'Reserve an amount (two-phase transfer); it counts against the available balance',
        body: holdBody,
        response: { 201: receiptOutput },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const receipt = await ledger.placeHold({
        id: commandIdFor(request, body.id),
        debitAccountId: body.debit_account_id,
        creditAccountId: body.credit_account_id,
        amount: body.amount,
        timeoutSeconds: body.timeout_seconds,
        metadata: body.metadata,
      });
      return reply.code(201).send(receiptJson(receipt));
    },
  );

  app.get(
    '/holds/:id',
    {
      config: { scope: 'ledger:read' },
      schema: {
        tags: ['ledger'],
        summary: 'A hold and its status',
        params: idParams,
        response: { 200: holdOutput },
      },
    },
    async (request) => holdJson(await ledger.getHold(request.params.id)),
  );

  app.post(
    '/holds/:id/post',
    {
      config: { scope: 'ledger:write' },
      schema: {
        tags: ['ledger'],
        summary: 'Post a pending hold, in full or in part',
        params: idParams,
        body: postHoldBody,
        response: { 201: receiptOutput },
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      const receipt = await ledger.postHold({
        id: commandIdFor(request, body.id),
        holdId: request.params.id,
        amount: body.amount,
        metadata: body.metadata,
      });
      return reply.code(201).send(receiptJson(receipt));
    },
  );

  app.post(
    '/holds/:id/void',
    {
      config: { scope: 'ledger:write' },
      schema: {
        tags: ['ledger'],
        summary: 'Release a pending hold',
        params: idParams,
        body: resolveBody,
        response: { 201: receiptOutput },
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      const receipt = await ledger.voidHold({
        id: commandIdFor(request, body.id),
        holdId: request.params.id,
        metadata: body.metadata,
      });
      return reply.code(201).send(receiptJson(receipt));
    },
  );
};
