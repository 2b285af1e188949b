import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { BankOperation, Wallet, WalletBalance, WalletTransfer } from '../../wallet/index.ts';
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
  uuidSchema,
} from '../schemas.ts';

const walletOutput = z.object({
  user_id: z.string(),
  currency: z.string(),
  balance: amountOutput,
  available: amountOutput.meta({ description: 'Balance less amounts held for withdrawals in flight' }),
});

const operationOutput = z.object({
  id: z.string(),
  kind: z.enum(['top_up', 'withdrawal']),
  amount: amountOutput,
  currency: z.string(),
  status: z.enum(['pending', 'succeeded', 'failed']),
  failure_code: z.string().nullable(),
  failure_message: z.string().nullable(),
  created_at: timestampOutput,
  updated_at: timestampOutput,
});

const transferOutput = z.object({
  id: z.string(),
  from_user_id: z.string(),
  to_user_id: z.string(),
  amount: amountOutput,
  currency: z.string(),
  memo: z.string().nullable(),
  status: z.enum(['pending', 'succeeded', 'failed']),
  failure_code: z.string().nullable(),
  created_at: timestampOutput,
});

const statementLineOutput = z.object({
  entry_id: z.string(),
  posted_at: timestampOutput,
  side: z.enum(['debit', 'credit']),
  phase: z.enum(['posted', 'pending', 'released']),
  amount: amountOutput,
  balance_after: amountOutput,
  metadata: z.record(z.string(), z.unknown()),
});

const bankOperationBody = z.object({
  id: optionalCommandId,
  amount: amountInput,
  card_token: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .meta({ description: 'A bound bank card (sandbox: see README)' }),
});

const walletJson = (w: WalletBalance) => ({
  user_id: w.userId,
  currency: w.currency,
  balance: w.balance.toString(),
  available: w.available.toString(),
});

const operationJson = (o: BankOperation) => ({
  id: o.id,
  kind: o.kind,
  amount: o.amount.toString(),
  currency: o.currency,
  status: o.status,
  failure_code: o.failureCode,
  failure_message: o.failureMessage,
  created_at: o.createdAt.toISOString(),
  updated_at: o.updatedAt.toISOString(),
});

const transferJson = (t: WalletTransfer) => ({
  id: t.id,
  from_user_id: t.fromUserId,
  to_user_id: t.toUserId,
  amount: t.amount.toString(),
  currency: t.currency,
  memo: t.memo,
  status: t.status,
  failure_code: t.failureCode,
  created_at: t.createdAt.toISOString(),
});

/** The logged-in user's wallet: balance, statement, top-ups, withdrawals and transfers to friends. */
export const walletRoutes: FastifyPluginAsyncZod<{ wallet: Wallet }> = async (app, { wallet }) => {
  const user = { userAuth: true } as const;

  app.post(
    '/wallet',
    {
      config: user,
      schema: {
        tags: ['wallet'],
        summary: 'Open my wallet (opening it again is harmless)',
        response: { 201: walletOutput },
      },
    },
    async (request, reply) => reply.code(201).send(walletJson(await wallet.openWallet(request.user!.userId))),
  );

  app.get(
    '/wallet',
    { config: user, schema: { tags: ['wallet'], summary: 'My balance', response: { 200: walletOutput } } },
    async (request) => walletJson(await wallet.getWallet(request.user!.userId)),
  );

  app.get(
    '/wallet/statement',
    {
      config: user,
      schema: {
        tags: ['wallet'],
        summary: 'My wallet statement',
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
      const page = await wallet.statement(request.user!.userId, { cursor, limit, from, to });
      return {
        items: page.items.map((line) => ({
          entry_id: line.entryId,
          posted_at: line.postedAt.toISOString(),
          side: line.side,
          phase: line.phase,
          amount: line.amount.toString(),
          balance_after: line.balanceAfter.toString(),
          metadata: line.metadata,
        })),
        next_cursor: page.nextCursor,
      };
    },
  );

  for (const kind of ['top-ups', 'withdrawals'] as const) {
    app.post(
      `/wallet/${kind}`,
      {
        config: user,
        schema: {
          tags: ['wallet'],
          summary:
            kind === 'top-ups'
              ? 'Top up from a bank card'
              : 'Withdraw to a bank card (held until the bank settles)',
          description:
            kind === 'top-ups'
              ? 'Answers with status pending; the bank settles asynchronously. A declined card is 422 BANK_DECLINED.'
              : 'Answers with status pending; the bank settles asynchronously. A declined card is 422 BANK_DECLINED. ' +
                'Only a verified user may withdraw (403 IDENTITY_NOT_VERIFIED).',
          body: bankOperationBody,
          response: { 201: operationOutput },
        },
      },
      async (request, reply) => {
        const command = {
          id: commandIdFor(request, request.body.id),
          userId: request.user!.userId,
          amount: request.body.amount,
          cardToken: request.body.card_token,
        };
        const operation = kind === 'top-ups' ? await wallet.topUp(command) : await wallet.withdraw(command);
        return reply.code(201).send(operationJson(operation));
      },
    );
    app.get(
      `/wallet/${kind}/:id`,
      {
        config: user,
        schema: {
          tags: ['wallet'],
          summary: `One of my ${kind}`,
          params: idParams,
          response: { 200: operationOutput },
        },
      },
      async (request) =>
        operationJson(
          await wallet.getBankOperation(
            request.params.id,
            request.user!.userId,
            kind === 'top-ups' ? 'top_up' : 'withdrawal',
          ),
        ),
    );
  }

  app.post(
    '/transfers',
    {
      config: user,
      schema: {
        tags: ['wallet'],
        summary: 'Send money to another user',
        description: 'Counts against the account-class payment limit (422 PAYMENT_LIMIT_EXCEEDED past it).',
        body: z.object({
          id: optionalCommandId,
          to_user_id: uuidSchema,
          amount: amountInput,
          memo: z.string().max(140).optional(),
        }),
        response: { 201: transferOutput },
      },
    },
    async (request, reply) => {
      const transfer = await wallet.transfer({
        id: commandIdFor(request, request.body.id),
        fromUserId: request.user!.userId,
        toUserId: request.body.to_user_id,
        amount: request.body.amount,
        memo: request.body.memo,
      });
      return reply.code(201).send(transferJson(transfer));
    },
  );

  app.get(
    '/transfers/:id',
    {
      config: user,
      schema: {
        tags: ['wallet'],
        summary: 'A transfer I sent or received',
        params: idParams,
        response: { 200: transferOutput },
      },
    },
    async (request) => transferJson(await wallet.getTransfer(request.params.id, request.user!.userId)),
  );
};

const operatorOperationOutput = operationOutput.extend({
  user_id: z.string(),
  attention_at: timestampOutput
    .nullable()
    .meta({ description: 'When reconciliation flagged it as undecided at the bank for a day; else null' }),
});

/**
 * Wallet bank operations for operators under /v1/operator/wallet: chiefly the ones the bank has
 * left undecided for a day, which someone must take up with the bank. Read with the ledger scope,
 * like the close runs: it is a view of money in flight, not an action on it.
 */
export const walletOperatorRoutes: FastifyPluginAsyncZod<{ wallet: Wallet }> = async (app, { wallet }) => {
  app.get(
    '/bank-operations',
    {
      config: { scope: 'ledger:read' },
      schema: {
        tags: ['wallet'],
        summary:
          'Every user’s top-ups and withdrawals, in id order; attention=true: flagged and still pending',
        querystring: z.object({
          ...pageQuery,
          attention: z
            .enum(['true', 'false'])
            .optional()
            .meta({ description: 'true: only operations undecided at the bank for a day and still pending' }),
        }),
        response: { 200: pageOf(operatorOperationOutput) },
      },
    },
    async (request) => {
      const { cursor, limit, attention } = request.query;
      const page = await wallet.listBankOperations({ cursor, limit, attention: attention === 'true' });
      return {
        items: page.items.map((o) => ({
          ...operationJson(o),
          user_id: o.userId,
          attention_at: o.attentionAt?.toISOString() ?? null,
        })),
        next_cursor: page.nextCursor,
      };
    },
  );
};
