import { z } from 'zod';
import type { Merchant, MerchantKey, Payment, PaymentOrder, Refund, Settlement } from '../merchants/index.ts';
import { merchantScopes } from '../merchants/index.ts';
import { amountOutput, timestampOutput } from './schemas.ts';

/** JSON shapes (snake_case, amounts as strings of fen) of the merchants module's records. */
export const merchantOutput = z.object({
  id: z.string(),
  name: z.string(),
  status: z.enum(['active', 'suspended']),
  fee_bps: z.number().int().meta({ description: 'Platform fee in basis points, netted at settlement' }),
  ledger_account_id: z.string(),
  currency: z.string(),
  settlement_card_token: z
    .string()
    .meta({ description: 'The bank card or account token payouts are credited to' }),
  created_at: timestampOutput,
  updated_at: timestampOutput,
});

export const merchantKeyOutput = z.object({
  id: z.string(),
  merchant_id: z.string(),
  name: z.string(),
  scopes: z.array(z.enum(merchantScopes)),
  display: z.string().meta({ description: 'Prefix and last four characters, for people' }),
  created_at: timestampOutput,
  created_by: z.string().nullable(),
  revoked_at: timestampOutput.nullable(),
});

export const orderOutput = z.object({
  id: z.string(),
  merchant_id: z.string(),
  merchant_name: z.string(),
  merchant_reference: z.string(),
  amount: amountOutput,
  currency: z.string(),
  description: z.string(),
  notify_url: z.string().nullable(),
  status: z.enum(['open', 'pending', 'paid', 'cancelled', 'expired']),
  payment_id: z.string().nullable(),
  expires_at: timestampOutput,
  created_at: timestampOutput,
  updated_at: timestampOutput,
});

export const paymentOutput = z.object({
  id: z.string(),
  merchant_id: z.string(),
  user_id: z.string(),
  order_id: z.string().nullable(),
  source: z.enum(['order', 'code']),
  method: z.string(),
  amount: amountOutput,
  refunded: amountOutput,
  currency: z.string(),
  fee_bps: z.number().int(),
  description: z.string().nullable(),
  status: z.enum(['pending', 'succeeded', 'failed']),
  failure_code: z.string().nullable(),
  failure_message: z.string().nullable(),
  created_at: timestampOutput,
  updated_at: timestampOutput,
});

export const refundOutput = z.object({
  id: z.string(),
  payment_id: z.string(),
  merchant_id: z.string(),
  amount: amountOutput,
  currency: z.string(),
  reason: z.string().nullable(),
  status: z.enum(['pending', 'succeeded', 'failed']),
  failure_code: z.string().nullable(),
  failure_message: z.string().nullable(),
  created_at: timestampOutput,
  updated_at: timestampOutput,
});

export const merchantJson = (m: Merchant): z.input<typeof merchantOutput> => ({
  id: m.id,
  name: m.name,
  status: m.status,
  fee_bps: m.feeBps,
  ledger_account_id: m.ledgerAccountId,
  currency: m.currency,
  settlement_card_token: m.settlementCardToken,
  created_at: m.createdAt.toISOString(),
  updated_at: m.updatedAt.toISOString(),
});

export const merchantKeyJson = (k: MerchantKey): z.input<typeof merchantKeyOutput> => ({
  id: k.id,
  merchant_id: k.merchantId,
  name: k.name,
  scopes: k.scopes,
  display: `${k.prefix}…${k.last4}`,
  created_at: k.createdAt.toISOString(),
  created_by: k.createdBy,
  revoked_at: k.revokedAt ? k.revokedAt.toISOString() : null,
});

export const orderJson = (o: PaymentOrder): z.input<typeof orderOutput> => ({
  id: o.id,
  merchant_id: o.merchantId,
  merchant_name: o.merchantName,
  merchant_reference: o.merchantReference,
  amount: o.amount.toString(),
  currency: o.currency,
  description: o.description,
  notify_url: o.notifyUrl,
  status: o.status,
  payment_id: o.paymentId,
  expires_at: o.expiresAt.toISOString(),
  created_at: o.createdAt.toISOString(),
  updated_at: o.updatedAt.toISOString(),
});

export const paymentJson = (p: Payment): z.input<typeof paymentOutput> => ({
  id: p.id,
  merchant_id: p.merchantId,
  user_id: p.userId,
  order_id: p.orderId,
  source: p.source,
  method: p.method,
  amount: p.amount.toString(),
  refunded: p.refunded.toString(),
  currency: p.currency,
  fee_bps: p.feeBps,
  description: p.description,
  status: p.status,
  failure_code: p.failureCode,
  failure_message: p.failureMessage,
  created_at: p.createdAt.toISOString(),
  updated_at: p.updatedAt.toISOString(),
});

export const refundJson = (r: Refund): z.input<typeof refundOutput> => ({
  id: r.id,
  payment_id: r.paymentId,
  merchant_id: r.merchantId,
  amount: r.amount.toString(),
  currency: r.currency,
  reason: r.reason,
  status: r.status,
  failure_code: r.failureCode,
  failure_message: r.failureMessage,
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
});

export const settlementOutput = z.object({
  id: z.string(),
  merchant_id: z.string(),
  business_date: z.string().meta({ description: 'YYYY-MM-DD, Asia/Shanghai' }),
  currency: z.string(),
  payments_count: z.number().int(),
  gross: amountOutput.meta({ description: 'Succeeded payments settled on this date' }),
  refunds_count: z.number().int(),
  refunds: amountOutput,
  fees: amountOutput.meta({
    description: 'Σ per payment of amount × fee_bps / 10,000 rounded half-even; refunds return no fee',
  }),
  net: amountOutput.meta({ description: 'gross − refunds − fees' }),
  fees_owed_in: amountOutput.meta({ description: 'Fees earlier days could not cover' }),
  fees_collected: amountOutput,
  fees_owed_out: amountOutput,
  shortfall_in: amountOutput.meta({ description: '≤ 0: payable earlier refunds used beyond their days' }),
  shortfall_out: amountOutput,
  payout_amount: amountOutput,
  payout: z
    .object({
      id: z.string(),
      due_date: z.string(),
      amount: amountOutput,
      status: z.enum(['scheduled', 'sent', 'paid', 'failed']),
      attempt: z.number().int(),
      failure_code: z.string().nullable(),
      failure_message: z.string().nullable(),
      paid_at: timestampOutput.nullable(),
    })
    .nullable()
    .meta({ description: 'Null when the day pays nothing out' }),
  created_at: timestampOutput,
});

export const settlementJson = (s: Settlement): z.input<typeof settlementOutput> => ({
  id: s.id,
  merchant_id: s.merchantId,
  business_date: s.businessDate,
  currency: s.currency,
  payments_count: s.paymentsCount,
  gross: s.gross.toString(),
  refunds_count: s.refundsCount,
  refunds: s.refunds.toString(),
  fees: s.fees.toString(),
  net: s.net.toString(),
  fees_owed_in: s.feesOwedIn.toString(),
  fees_collected: s.feesCollected.toString(),
  fees_owed_out: s.feesOwedOut.toString(),
  shortfall_in: s.shortfallIn.toString(),
  shortfall_out: s.shortfallOut.toString(),
  payout_amount: s.payoutAmount.toString(),
  payout: s.payout
    ? {
        id: s.payout.id,
        due_date: s.payout.dueDate,
        amount: s.payout.amount.toString(),
        status: s.payout.status,
        attempt: s.payout.attempt,
        failure_code: s.payout.failureCode,
        failure_message: s.payout.failureMessage,
        paid_at: s.payout.paidAt ? s.payout.paidAt.toISOString() : null,
      }
    : null,
  created_at: s.createdAt.toISOString(),
});

export const settlementRangeQuery = z.object({
  from: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/)
    .meta({ description: 'First business date, YYYY-MM-DD' }),
  to: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/)
    .meta({ description: 'Last business date (inclusive), at most 366 days on' }),
});
