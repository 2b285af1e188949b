export interface Product {
  id: string;
  name: string;
  description: string;
  createdAt: Date;
}

export interface Sku {
  id: string;
  productId: string;
  code: string;
  name: string;
  /** Fen. */
  price: bigint;
  /** Units on hand for ordinary sale (flash sales take their allotments out of it). */
  stock: bigint;
  createdAt: Date;
  updatedAt: Date;
}

export interface Sale {
  id: string;
  skuId: string;
  name: string;
  /** The flash-sale price per unit, fen. */
  price: bigint;
  allotment: number;
  perUserLimit: number;
  startsAt: Date;
  endsAt: Date;
  /** F-code holders may buy from here; null: no early access. */
  earlyAccessFrom: Date | null;
  admissionWindowMs: number;
  /** A pre-sale's deposit rules; null for an ordinary flash sale. */
  presale: Presale | null;
  /** Units in live orders, as the database counts them. */
  unitsTaken: number;
  createdAt: Date;
}

export interface Presale {
  /** Per unit, fen: held on the buyer's wallet until the balance is paid. */
  deposit: bigint;
  /** The balance (price − deposit) is due from here (the release)… */
  balanceFrom: Date;
  /** …until here; then an unpaid deposit is forfeited or refunded. */
  balanceDueBy: Date;
  unpaidDeposit: 'forfeit' | 'refund';
}

export type DepositStatus = 'held' | 'applied' | 'forfeited' | 'refunded';

export type OrderStatus =
  | 'reserved'
  | 'deposit_held'
  | 'paying'
  | 'paid'
  | 'packed'
  | 'shipped'
  | 'delivered'
  | 'expired'
  | 'cancelled';

export interface Order {
  id: string;
  saleId: string;
  userId: string;
  attemptId: string;
  quantity: number;
  unitPrice: bigint;
  amount: bigint;
  status: OrderStatus;
  acceptedAt: Date;
  /** The reservation's end: 15 minutes after acceptance. */
  payBy: Date;
  /** Pre-sales: the deposit (per order) and what became of its hold. */
  deposit: bigint | null;
  depositStatus: DepositStatus | null;
  paymentId: string | null;
  refundId: string | null;
  paidAt: Date | null;
  packedAt: Date | null;
  shippedAt: Date | null;
  deliveredAt: Date | null;
  /** Delivery due: paid + 3 days. */
  deliveryDueAt: Date | null;
  /** Delivered within 3 days of payment; null while not delivered. */
  deliveredOnTime: boolean | null;
  /**
   * Delivered orders: the last instant a return may be asked for (seven days from the day after
   * delivery, Asia/Shanghai; see returns.ts).
   */
  returnBy: Date | null;
  /** The order's return, once asked for. */
  return: OrderReturn | null;
  createdAt: Date;
  updatedAt: Date;
}

/** requested (by the buyer) → received (the goods back with the store) → refunded. */
export type ReturnStatus = 'requested' | 'received' | 'refunded';

export interface OrderReturn {
  status: ReturnStatus;
  reason: string | null;
  requestedAt: Date;
  receivedAt: Date | null;
  /** The checkout refund that paid the order back to its original method. */
  refundId: string | null;
  refundedAt: Date | null;
}

export interface PageOf<T> {
  items: T[];
  nextCursor: string | null;
}

export const RESERVATION_MS = 15 * 60_000;
export const DELIVERY_TARGET_MS = 3 * 86_400_000;
