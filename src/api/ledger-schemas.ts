import { z } from 'zod';
import {
  amountInput,
  amountOutput,
  metadataSchema,
  optionalCommandId,
  timestampOutput,
  uuidSchema,
} from './schemas.ts';

/** The ledger's JSON shapes (snake_case), requests and responses. */

export const boundInput = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('unbounded') }),
  z.object({ kind: z.literal('no_overdraft') }),
  z.object({ kind: z.literal('overdraft_limit'), limit: amountInput }),
  z.object({ kind: z.literal('credit_only') }),
  z.object({ kind: z.literal('no_overcredit') }),
]);

export const openAccountBody = z.object({
  id: optionalCommandId,
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as CNY'),
  code: z.string().min(1).max(64).meta({ description: 'Chart-of-accounts code, e.g. user_wallet' }),
  bound: boundInput,
  metadata: metadataSchema.optional(),
});

export const transferBody = z.object({
  id: optionalCommandId,
  debit_account_id: uuidSchema,
  credit_account_id: uuidSchema,
  amount: amountInput,
  metadata: metadataSchema.optional(),
});

export const entryBody = z.object({
  id: optionalCommandId,
  legs: z
    .array(z.object({ account_id: uuidSchema, side: z.enum(['debit', 'credit']), amount: amountInput }))
    .min(2)
    .max(64),
  metadata: metadataSchema.optional(),
});

export const holdBody = transferBody.extend({
  timeout_seconds: z
    .number()
    .int()
    .min(1)
    .max(366 * 86_400)
    .optional()
    .meta({ description: 'Expire (void) the hold after this long' }),
});

export const postHoldBody = z
  .object({
    id: optionalCommandId,
    amount: amountInput
      .optional()
      .meta({ description: 'Post part of the hold; the rest is released. Default: all' }),
    metadata: metadataSchema.optional(),
  })
  .nullish();

/** Optional: a POST with no body at all means "all defaults". */
export const resolveBody = z.object({ id: optionalCommandId, metadata: metadataSchema.optional() }).nullish();

export const boundOutput = z.object({ kind: z.string(), limit: amountOutput.optional() });

export const balancesOutput = z.object({
  debits_posted: amountOutput,
  credits_posted: amountOutput,
  debits_pending: amountOutput,
  credits_pending: amountOutput,
  posted: amountOutput,
  available: amountOutput,
});

export const accountOutput = z.object({
  id: z.string(),
  currency: z.string(),
  code: z.string(),
  bound: boundOutput,
  metadata: metadataSchema,
  created_at: timestampOutput,
  balances: balancesOutput,
});

export const receiptOutput = z.object({
  entry_id: z.string(),
  seq: z.string().meta({ description: 'Position in the journal' }),
  kind: z.string(),
  posted_at: timestampOutput,
  hold_id: z.string().nullable(),
});

export const entryOutput = z.object({
  seq: z.string(),
  id: z.string(),
  kind: z.string(),
  posted_at: timestampOutput,
  hold_id: z.string().nullable(),
  reverses_seq: z.string().nullable(),
  legs: z.array(
    z.object({
      account_id: z.string(),
      currency: z.string(),
      side: z.string(),
      phase: z.string(),
      amount: amountOutput,
    }),
  ),
  metadata: metadataSchema,
  hash: z.string(),
});

export const holdOutput = z.object({
  id: z.string(),
  debit_account_id: z.string(),
  credit_account_id: z.string(),
  currency: z.string(),
  amount: amountOutput,
  posted_amount: amountOutput,
  status: z.string(),
  expires_at: timestampOutput.nullable(),
});

export const statementLineOutput = z.object({
  entry_seq: z.string(),
  entry_id: z.string(),
  kind: z.string(),
  posted_at: timestampOutput,
  side: z.string(),
  phase: z.string(),
  amount: amountOutput,
  balance_after: amountOutput,
  metadata: metadataSchema,
});

export const balanceAtOutput = z.object({
  account_id: z.string(),
  as_of: timestampOutput,
  debits_posted: amountOutput,
  credits_posted: amountOutput,
  posted: amountOutput,
});

export const verifyOutput = z.object({
  ok: z.boolean(),
  entries: z.string(),
  checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string() })),
});
