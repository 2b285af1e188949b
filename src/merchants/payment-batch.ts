import type { BatchHook, EffectOutcome } from '../ledger/index.ts';
import type { WebhookEvent } from '../webhooks/index.ts';
import { merchantSuspended } from './merchant-directory.ts';
import { paymentEventPayload } from './merchant-events.ts';
import { orderRefusal } from './payment-orders.ts';
import type { OrderRow, PaymentRow } from './rows.ts';
import type { MerchantWebhooks } from './types.ts';

/** A payment of an order whose money moves in one ledger entry, recorded in that entry's batch. */
export interface BatchedPayment {
  id: string;
  orderId: string;
  merchantId: string;
  userId: string;
  amount: bigint;
  currency: string;
  method: string;
  details: Record<string, string>;
  description: string | null;
  usagePeriod: string;
  at: Date;
  /** Told the payment's record once the batch has decided it (before the batch commits). */
  onRecorded: (row: PaymentRow) => void;
}

type LockedOrder = Pick<
  OrderRow,
  'id' | 'merchant_id' | 'amount' | 'status' | 'expires_at' | 'notify_url'
> & {
  merchant_name: string;
  merchant_status: string;
  fee_bps: number;
};

interface State {
  orders: Map<string, LockedOrder>;
  existingPayments: Set<string>;
  seen: Set<string>;
  rows: Array<PaymentRow & { succeeded_at: Date | null }>;
  paidOrders: Array<{ orderId: string; paymentId: string; at: Date }>;
  events: WebhookEvent[];
}

/**
 * The payment's records as a ledger batch effect: in the batch that moves the money, the orders
 * are locked (with their merchants' status and fee) and each payment is judged as the ordinary
 * path's transaction judges it — merchant active, order open and unexpired, not claimed by an
 * earlier payment of the batch — then, with the ledger's outcome, written: a succeeded payment and
 * its order paid, or (the ledger refused the money) a failed payment and the order left open,
 * each with its webhook event. A payment id already recorded defers to the ordinary path, which
 * replays it.
 */
export function paymentBatchHook(webhooks: MerchantWebhooks): BatchHook<BatchedPayment, State> {
  return {
    name: 'merchants.payments',
    async load(tx, items) {
      // One round trip: the orders locked, and which payment ids already exist (an uncorrelated
      // subquery, evaluated once). With no order found every item defers anyway.
      const orders = await tx.query<LockedOrder & { existing_payments: string[] }>(
        `SELECT o.id, o.merchant_id, o.amount, o.status, o.expires_at, o.notify_url,
                m.name AS merchant_name, m.status AS merchant_status, m.fee_bps,
                ARRAY(SELECT p.id FROM merchants_payments p WHERE p.id = ANY($2::uuid[])) AS existing_payments
           FROM merchants_payment_orders o JOIN merchants_merchants m ON m.id = o.merchant_id
          WHERE o.id = ANY($1::uuid[]) ORDER BY o.id FOR UPDATE OF o`,
        [[...new Set(items.map((i) => i.orderId))], items.map((i) => i.id)],
      );
      return {
        orders: new Map(orders.rows.map(({ existing_payments: _, ...o }) => [o.id, o])),
        existingPayments: new Set(orders.rows[0]?.existing_payments ?? []),
        seen: new Set(),
        rows: [],
        paidOrders: [],
        events: [],
      };
    },
    admit(state, item) {
      if (state.existingPayments.has(item.id) || state.seen.has(item.id)) return 'defer';
      const order = state.orders.get(item.orderId);
      // The order was read before the batch; an order that changed hands is the ordinary path's.
      if (!order || order.merchant_id !== item.merchantId || order.amount !== item.amount) return 'defer';
      if (order.merchant_status !== 'active') throw merchantSuspended(order.merchant_id, order.merchant_name);
      const refusal = orderRefusal(order, item.at);
      if (refusal) throw refusal;
      return {
        settle: (outcome: EffectOutcome) => {
          state.seen.add(item.id);
          // Refused before the ledger (the class limit): nothing is recorded, as on the ordinary path.
          if (!outcome.ok && !outcome.byLedger) return;
          const at = outcome.ok ? outcome.receipt.postedAt : item.at;
          const row = {
            id: item.id,
            merchant_id: item.merchantId,
            user_id: item.userId,
            order_id: item.orderId,
            source: 'order' as const,
            method: item.method,
            method_details: item.details,
            amount: item.amount,
            refunded: 0n,
            currency: item.currency,
            fee_bps: order.fee_bps,
            description: item.description,
            usage_period: item.usagePeriod,
            status: outcome.ok ? ('succeeded' as const) : ('failed' as const),
            method_reference: null,
            failure_code: outcome.ok ? null : outcome.error.code,
            failure_message: outcome.ok ? null : outcome.error.message,
            created_at: item.at,
            updated_at: at,
            succeeded_at: outcome.ok ? at : null,
          };
          state.rows.push(row);
          if (outcome.ok) {
            order.status = 'paid';
            state.paidOrders.push({ orderId: order.id, paymentId: item.id, at });
          }
          state.events.push({
            ownerId: item.merchantId,
            eventType: outcome.ok ? 'payment.succeeded' : 'payment.failed',
            payload: paymentEventPayload(row),
            url: order.notify_url ?? undefined,
          });
          item.onRecorded(row);
        },
      };
    },
    async write(tx, state) {
      const { rows, paidOrders } = state;
      // The payments and their orders paid in one statement (one round trip): the two parts touch
      // different tables and the order update reads only its parameters.
      // Issued with the webhook events' first statement, so they can share a round trip.
      const recorded =
        rows.length > 0
          ? tx.query(
              `WITH payments AS (
             INSERT INTO merchants_payments (id, merchant_id, user_id, order_id, source, method, method_details, amount,
               currency, fee_bps, description, usage_period, status, failure_code, failure_message, created_at,
               updated_at, succeeded_at)
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::jsonb[],
               $8::int8[], $9::text[], $10::int[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
               $16::timestamptz[], $17::timestamptz[], $18::timestamptz[])
           )
           UPDATE merchants_payment_orders o SET status = 'paid', payment_id = v.payment_id, updated_at = v.at
             FROM unnest($19::uuid[], $20::uuid[], $21::timestamptz[]) AS v(id, payment_id, at)
            WHERE o.id = v.id`,
              [
                rows.map((r) => r.id),
                rows.map((r) => r.merchant_id),
                rows.map((r) => r.user_id),
                rows.map((r) => r.order_id),
                rows.map((r) => r.source),
                rows.map((r) => r.method),
                rows.map((r) => JSON.stringify(r.method_details)),
                rows.map((r) => r.amount),
                rows.map((r) => r.currency),
                rows.map((r) => r.fee_bps),
                rows.map((r) => r.description),
                rows.map((r) => r.usage_period),
                rows.map((r) => r.status),
                rows.map((r) => r.failure_code),
                rows.map((r) => r.failure_message),
                rows.map((r) => r.created_at),
                rows.map((r) => r.updated_at),
                rows.map((r) => r.succeeded_at),
                paidOrders.map((p) => p.orderId),
                paidOrders.map((p) => p.paymentId),
                paidOrders.map((p) => p.at),
              ],
            )
          : undefined;
      await Promise.all([recorded, webhooks.enqueueMany(state.events, tx)]);
    },
  };
}
