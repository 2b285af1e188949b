import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Ledger } from '../../ledger/index.ts';
import { commandIdFor } from '../idempotency-hooks.ts';
import { entryJson, receiptJson, verifyJson } from '../ledger-presenters.ts';
import {
  entryBody,
  entryOutput,
  receiptOutput,
  resolveBody,
  transferBody,
  verifyOutput,
} from '../ledger-schemas.ts';
import { idParams } from '../schemas.ts';

export const ledgerEntryRoutes: FastifyPluginAsyncZod<{ ledger: Ledger }> = async (app, { ledger }) => {
  app.post(
    '/transfers',
    {
      config: { scope: 'ledger:write' },
      schema: {
        tags: ['ledger'],
        summary: 'Move an amount from one account to another (a two-leg entry)',
        body: transferBody,
        response: { 201: receiptOutput },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const receipt = await ledger.transfer({
        id: commandIdFor(request, body.id),
        debitAccountId: body.debit_account_id,
        creditAccountId: body.credit_account_id,
        amount: body.amount,
        metadata: body.metadata,
      });
      return reply.code(201).send(receiptJson(receipt));
    },
  );

  app.post(
    '/entries',
    {
      config: { scope: 'ledger:write' },
      schema: {
        tags: ['ledger'],
        summary: 'Post an entry of two or more legs, all or nothing; debits must equal credits',
        body: entryBody,
        response: { 201: receiptOutput },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const receipt = await ledger.postEntry({
        id: commandIdFor(request, body.id),
        legs: body.legs.map((leg) => ({ accountId: leg.account_id, side: leg.side, amount: leg.amount })),
        metadata: body.metadata,
      });
      return reply.code(201).send(receiptJson(receipt));
    },
  );

  app.get(
    '/entries/:id',
    {
      config: { scope: 'ledger:read' },
      schema: {
        tags: ['ledger'],
        summary: 'A journal entry with its legs',
        params: idParams,
        response: { 200: entryOutput },
      },
    },
    async (request) => entryJson(await ledger.getEntry(request.params.id)),
  );

  app.post(
    '/entries/:id/reverse',
    {
      config: { scope: 'ledger:write' },
      schema: {
        tags: ['ledger'],
        summary: 'Post a correcting entry that undoes this one',
        params: idParams,
        body: resolveBody,
        response: { 201: receiptOutput },
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      const receipt = await ledger.reverseEntry({
        id: commandIdFor(request, body.id),
        entryId: request.params.id,
        metadata: body.metadata,
      });
      return reply.code(201).send(receiptJson(receipt));
    },
  );

  app.get(
    '/verify',
    {
      config: { scope: 'ledger:read' },
      schema: {
        tags: ['ledger'],
        summary: 'Re-derive the ledger from its journal and compare: hash chain, zero-sum, balances, bounds',
        response: { 200: verifyOutput },
      },
    },
    async () => verifyJson(await ledger.verify()),
  );
};
