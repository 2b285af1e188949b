import { MilletError, isUuid } from '../core/index.ts';
import { returnDeadline } from './returns.ts';
import {
  DELIVERY_TARGET_MS,
  type DepositStatus,
  type Order,
  type OrderStatus,
  type Product,
  type ReturnStatus,
  type Sale,
  type Sku,
} from './types.ts';

export interface ProductRow {
  id: string;
  name: string;
  description: string;
  created_at: Date;
}
export interface SkuRow {
  id: string;
  product_id: string;
  code: string;
  name: string;
  price: bigint;
  stock: bigint;
  created_at: Date;
  updated_at: Date;
}
export interface SaleRow {
  id: string;
  sku_id: string;
  name: string;
  price: bigint;
  allotment: bigint;
  per_user_limit: number;
  starts_at: Date;
  ends_at: Date;
  early_access_from: Date | null;
  admission_window_ms: number;
  units_taken: bigint;
  deposit: bigint | null;
  balance_from: Date | null;
  balance_due_by: Date | null;
  unpaid_deposit: 'forfeit' | 'refund' | null;
  created_at: Date;
}
export interface OrderRow {
  id: string;
  sale_id: string;
  user_id: string;
  attempt_id: string;
  quantity: number;
  unit_price: bigint;
  amount: bigint;
  status: OrderStatus;
  deposit: bigint | null;
  deposit_hold_id: string | null;
  deposit_status: DepositStatus | null;
  accepted_at: Date;
  pay_by: Date;
  payment_id: string | null;
  refund_id: string | null;
  /** Set when a cancel or the pre-sale deadline starts closing the order (migration 0002). */
  closing_at: Date | null;
  paid_at: Date | null;
  packed_at: Date | null;
  shipped_at: Date | null;
  delivered_at: Date | null;
  /** A seven-day return of the delivered order (migration 0006). */
  return_status: ReturnStatus | null;
  return_reason: string | null;
  return_requested_at: Date | null;
  return_received_at: Date | null;
  return_refund_id: string | null;
  return_refunded_at: Date | null;
  /** The reason the first cancel gave its refund, asked again by every later try. */
  cancel_reason: string | null;
  /** Refunds checkout failed for good: the next try takes the next derived refund id. */
  refund_tries: number;
  refund_retry_at: Date | null;
  /** When checkout was seen to have paid the closed order's refund (migration 0009). */
  refund_confirmed_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export const productFromRow = (r: ProductRow): Product => ({
  id: r.id,
  name: r.name,
  description: r.description,
  createdAt: r.created_at,
});

export const skuFromRow = (r: SkuRow): Sku => ({
  id: r.id,
  productId: r.product_id,
  code: r.code,
  name: r.name,
  price: r.price,
  stock: r.stock,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export const saleFromRow = (r: SaleRow): Sale => ({
  id: r.id,
  skuId: r.sku_id,
  name: r.name,
  price: r.price,
  allotment: Number(r.allotment),
  perUserLimit: r.per_user_limit,
  startsAt: r.starts_at,
  endsAt: r.ends_at,
  earlyAccessFrom: r.early_access_from,
  admissionWindowMs: r.admission_window_ms,
  presale:
    r.deposit === null
      ? null
      : {
          deposit: r.deposit,
          balanceFrom: r.balance_from!,
          balanceDueBy: r.balance_due_by!,
          unpaidDeposit: r.unpaid_deposit!,
        },
  unitsTaken: Number(r.units_taken),
  createdAt: r.created_at,
});

export function orderFromRow(r: OrderRow): Order {
  const due = r.paid_at ? new Date(r.paid_at.getTime() + DELIVERY_TARGET_MS) : null;
  return {
    id: r.id,
    saleId: r.sale_id,
    userId: r.user_id,
    attemptId: r.attempt_id,
    quantity: r.quantity,
    unitPrice: r.unit_price,
    amount: r.amount,
    status: r.status,
    acceptedAt: r.accepted_at,
    payBy: r.pay_by,
    deposit: r.deposit,
    depositStatus: r.deposit_status,
    paymentId: r.payment_id,
    refundId: r.refund_id,
    paidAt: r.paid_at,
    packedAt: r.packed_at,
    shippedAt: r.shipped_at,
    deliveredAt: r.delivered_at,
    deliveryDueAt: due,
    deliveredOnTime: r.delivered_at && due ? r.delivered_at.getTime() <= due.getTime() : null,
    returnBy: r.delivered_at ? returnDeadline(r.delivered_at) : null,
    return: r.return_status
      ? {
          status: r.return_status,
          reason: r.return_reason,
          requestedAt: r.return_requested_at!,
          receivedAt: r.return_received_at,
          refundId: r.return_refund_id,
          refundedAt: r.return_refunded_at,
        }
      : null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function requireUuid(value: string, field: string): void {
  if (!isUuid(value)) throw new MilletError('VALIDATION_FAILED', `${field} must be a UUID`, { field });
}
