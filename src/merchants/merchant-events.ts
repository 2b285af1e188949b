import { isMilletError } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import type { PaymentRow, RefundRow } from './rows.ts';
import type { MerchantWebhooks } from './types.ts';

export type MerchantEventType =
  'payment.succeeded' | 'payment.failed' | 'refund.succeeded' | 'settlement.paid';

/** Reasons the notify URL is skipped rather than failing the payment (the endpoints still get it). */
const NOTIFY_URL_PROBLEMS = new Set(['WEBHOOK_SIGNING_SECRET_MISSING', 'WEBHOOK_URL_INVALID']);

/**
 * Tells a merchant what happened to its money: the event goes to the merchant's webhook endpoints
 * (owner = merchant id) and, for an order's payment or refund, to the order's notify URL. Called
 * with the transaction that records the change, so the event commits with it (the outbox) and the
 * `webhooks.deliver` job sends it. A notify URL that cannot be signed (no owner secret) or is not
 * allowed is skipped, never failing the payment.
 */
export async function enqueueMerchantEvent(
  webhooks: MerchantWebhooks,
  tx: Queryable,
  event: {
    merchantId: string;
    type: MerchantEventType;
    payload: Record<string, unknown>;
    notifyUrl?: string | null;
  },
): Promise<void> {
  const base = { ownerId: event.merchantId, eventType: event.type, payload: event.payload };
  if (event.notifyUrl) {
    try {
      await webhooks.enqueue({ ...base, url: event.notifyUrl }, tx);
      return;
    } catch (error) {
      // Refused before anything was written, so the transaction is still good.
      if (!(isMilletError(error) && NOTIFY_URL_PROBLEMS.has(error.code))) throw error;
    }
  }
  await webhooks.enqueue(base, tx);
}

/** The order's notify URL, if the payment came from an order that has one. */
export async function notifyUrlOf(tx: Queryable, orderId: string | null): Promise<string | null> {
  if (!orderId) return null;
  const result = await tx.query<{ notify_url: string | null }>(
    'SELECT notify_url FROM merchants_payment_orders WHERE id = $1',
    [orderId],
  );
  return result.rows[0]?.notify_url ?? null;
}

/** The `data` of payment events: what a merchant needs to match its order, amounts as strings of fen. */
export function paymentEventPayload(row: PaymentRow): Record<string, unknown> {
  return {
    id: row.id,
    merchant_id: row.merchant_id,
    order_id: row.order_id,
    source: row.source,
    method: row.method,
    amount: row.amount.toString(),
    currency: row.currency,
    status: row.status,
    failure_code: row.failure_code,
    created_at: row.created_at.toISOString(),
  };
}

export function refundEventPayload(row: RefundRow, orderId: string | null): Record<string, unknown> {
  return {
    id: row.id,
    payment_id: row.payment_id,
    order_id: orderId,
    merchant_id: row.merchant_id,
    amount: row.amount.toString(),
    currency: row.currency,
    status: row.status,
    created_at: row.created_at.toISOString(),
  };
}
