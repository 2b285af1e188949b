import { MilletError, isUuid } from '../core/index.ts';
import type { Merchant, Payment, PaymentOrder, Refund } from './types.ts';

/** Table rows as the drivers return them, and their conversion to the module's records. */
export interface MerchantRow {
  id: string;
  name: string;
  status: Merchant['status'];
  fee_bps: number;
  ledger_account_id: string;
  currency: string;
  settlement_card_token: string;
  created_at: Date;
  updated_at: Date;
}

export interface OrderRow {
  id: string;
  merchant_id: string;
  merchant_reference: string;
  amount: bigint;
  currency: string;
  description: string;
  notify_url: string | null;
  status: 'open' | 'pending' | 'paid' | 'cancelled';
  payment_id: string | null;
  expires_at: Date;
  created_at: Date;
  updated_at: Date;
}

export interface PaymentRow {
  id: string;
  merchant_id: string;
  user_id: string;
  order_id: string | null;
  source: 'order' | 'code';
  method: string;
  method_details: Record<string, string>;
  amount: bigint;
  refunded: bigint;
  currency: string;
  fee_bps: number;
  description: string | null;
  usage_period: string;
  status: Payment['status'];
  method_reference: string | null;
  failure_code: string | null;
  failure_message: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface RefundRow {
  id: string;
  payment_id: string;
  merchant_id: string;
  amount: bigint;
  currency: string;
  reason: string | null;
  status: Refund['status'];
  failure_code: string | null;
  failure_message: string | null;
  created_at: Date;
  updated_at: Date;
}

export function merchantFromRow(r: MerchantRow): Merchant {
  return {
    id: r.id,
    name: r.name,
    status: r.status,
    feeBps: r.fee_bps,
    ledgerAccountId: r.ledger_account_id,
    currency: r.currency,
    settlementCardToken: r.settlement_card_token,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function orderFromRow(r: OrderRow, merchantName: string, now: Date): PaymentOrder {
  return {
    id: r.id,
    merchantId: r.merchant_id,
    merchantName,
    merchantReference: r.merchant_reference,
    amount: r.amount,
    currency: r.currency,
    description: r.description,
    notifyUrl: r.notify_url,
    status: r.status === 'open' && r.expires_at.getTime() <= now.getTime() ? 'expired' : r.status,
    paymentId: r.payment_id,
    expiresAt: r.expires_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function paymentFromRow(r: PaymentRow): Payment {
  return {
    id: r.id,
    merchantId: r.merchant_id,
    userId: r.user_id,
    orderId: r.order_id,
    source: r.source,
    method: r.method,
    amount: r.amount,
    refunded: r.refunded,
    currency: r.currency,
    feeBps: r.fee_bps,
    description: r.description,
    status: r.status,
    failureCode: r.failure_code,
    failureMessage: r.failure_message,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function refundFromRow(r: RefundRow): Refund {
  return {
    id: r.id,
    paymentId: r.payment_id,
    merchantId: r.merchant_id,
    amount: r.amount,
    currency: r.currency,
    reason: r.reason,
    status: r.status,
    failureCode: r.failure_code,
    failureMessage: r.failure_message,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Ids reach SQL as uuid parameters: refuse anything else with a clear error, not a database fault. */
export function requireIds(ids: Record<string, string>): void {
  for (const [field, value] of Object.entries(ids)) {
    if (!isUuid(value)) throw new MilletError('VALIDATION_FAILED', `${field} must be a UUID`, { field });
  }
}

export function isUniqueViolation(error: unknown, constraintHint: string): boolean {
  const e = error as { code?: unknown; constraint?: unknown; message?: unknown; detail?: unknown } | null;
  if (e?.code !== '23505') return false;
  return [e.constraint, e.message, e.detail].some(
    (part) => typeof part === 'string' && part.includes(constraintHint),
  );
}
