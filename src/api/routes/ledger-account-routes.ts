import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Ledger } from '../../ledger/index.ts';
import { commandIdFor } from '../idempotency-hooks.ts';
import { accountJson, balanceAtJson, statementLineJson } from '../ledger-presenters.ts';
import { accountOutput, balanceAtOutput, openAccountBody, statementLineOutput } from '../ledger-schemas.ts';
import { idParams, pageOf, pageQuery, timestampInput } from '../schemas.ts';

export const ledgerAccountRoutes: FastifyPluginAsyncZod<{ ledger: Ledger }> = async (app, { ledger }) => {
  app.post(
    '/accounts',
    {
      config: { scope: 'ledger:write' },
      schema: {
        tags: ['ledger'],
        summary: 'Open an account',
        body: openAccountBody,
        response: { 201: accountOutput },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const account = await ledger.openAccount({
        id: commandIdFor(request, body.id),
        currency: body.currency,
        code: body.code,
        bound: body.bound,
        metadata: body.metadata,
      });
      return reply.code(201).send(accountJson(account));
    },
  );

  app.get(
    '/accounts',
    {
      config: { scope: 'ledger:read' },
      schema: {
        tags: ['ledger'],
        summary: 'List accounts in id order, a page at a time',
        querystring: z.object({ ...pageQuery, code: z.string().max(64).optional() }),
        response: { 200: pageOf(accountOutput) },
      },
    },
    async (request) => {
      const page = await ledger.listAccounts(request.query);
      return { items: page.items.map(accountJson), next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/accounts/:id',
    {
      config: { scope: 'ledger:read' },
      schema: {
        tags: ['ledger'],
        summary: 'An account with its balances',
        params: idParams,
        response: { 200: accountOutput },
      },
    },
    async (request) => accountJson(await ledger.getAccount(request.params.id)),
  );

  app.get(
    '/accounts/:id/balance',
    {
      config: { scope: 'ledger:read' },
      schema: {
        tags: ['ledger'],
        summary: 'Posted balance as of an instant (default: now)',
        params: idParams,
        querystring: z.object({ as_of: timestampInput.optional() }),
        response: { 200: balanceAtOutput },
      },
    },
    async (request) =>
      balanceAtJson(await ledger.balanceAt(request.params.id, request.query.as_of ?? new Date())),
  );

  app.get(
    '/accounts/:id/statement',
    {
      config: { scope: 'ledger:read' },
      schema: {
        tags: ['ledger'],
        summary: 'Account statement in journal order with the running balance',
        params: idParams,
        querystring: z.object({
          ...pageQuery,
          from: timestampInput.optional().meta({ description: 'Lines posted at or after this instant' }),
          to: timestampInput.optional().meta({ description: 'Lines posted before this instant' }),
        }),
        response: { 200: pageOf(statementLineOutput) },
      },
    },
    async (request) => {
      const { cursor, limit, from, to } = request.query;
      const page = await ledger.statement(request.params.id, { cursor, limit, from, to });
      return { items: page.items.map(statementLineJson), next_cursor: page.nextCursor };
    },
  );
};
