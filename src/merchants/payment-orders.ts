import { MilletError, batchedLoader, isUuid, type Clock } from '../core/index.ts';
import type { BatchEffect } from '../ledger/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import { activeMerchant, MERCHANT_CURRENCY } from './merchant-directory.ts';
import type { PaymentService } from './payments.ts';
import { orderFromRow, requireIds, type OrderRow } from './rows.ts';
import type {
  CreateOrderCommand,
  MerchantWebhooks,
  OrderPaymentReads,
  PayOrderCommand,
  Payment,
  PaymentOrder,
} from './types.ts';
import type { WalletUser } from '../wallet/index.ts';

type OrderForPayment = OrderRow & { merchant_account_id: string };

/** The reads of one order's payment, started by `prefetch`. */
interface StartedReads extends OrderPaymentReads {
  order: Promise<OrderForPayment | undefined>;
  payer: Promise<WalletUser>;
}

export const DEFAULT_ORDER_TTL_SECONDS = 15 * 60;
export const MAX_ORDER_TTL_SECONDS = 24 * 60 * 60;

function orderNotFound(id: string): MilletError {
  return new MilletError('PAYMENT_ORDER_NOT_FOUND', `No payment order ${id}`, { id });
}

/**
 * Payment orders: the merchant creates one (amount, description, its own reference, an expiry),
 * the user scans and pays it. open → pending (a payment in flight) → paid; a failed payment
 * reopens it; the merchant may cancel it while it is open. An open order past its expiry reads as
 * `expired` and can no longer be paid.
 */
export class PaymentOrders {
  /** Orders (with their merchant's payable account) read for many payments at once. */
  readonly #forPayment;
  /** Reads this instance started: a prefetch is used only if it came from here. */
  readonly #started = new WeakSet<OrderPaymentReads>();

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly payments: PaymentService,
    private readonly webhooks: Pick<MerchantWebhooks, 'checkUrl'>,
  ) {
    this.#forPayment = batchedLoader(
      async (ids) =>
        (
          await db.query<OrderRow & { merchant_account_id: string }>(
            `SELECT o.*, m.ledger_account_id AS merchant_account_id FROM merchants_payment_orders o
               JOIN merchants_merchants m ON m.id = o.merchant_id WHERE o.id = ANY($1::uuid[])`,
            [ids],
          )
        ).rows,
      (row) => row.id,
    );
  }

  /**
   * `pay` in the ledger's batch (PaymentService.startInBatch); undefined when the payment must go
   * through `pay` — also for an order `pay` would refuse, so that `pay` gives the refusal.
   */
  async payInBatch(
    command: PayOrderCommand,
    effects: (recorded: () => Payment) => BatchEffect[],
    prefetched?: OrderPaymentReads,
  ): Promise<Payment | undefined> {
    if (!isUuid(command.id)) return undefined;
    const started =
      prefetched &&
      prefetched.orderId === command.orderId &&
      prefetched.userId === command.userId &&
      this.#started.has(prefetched)
        ? (prefetched as StartedReads)
        : this.prefetch(command.orderId, command.userId);
    if (!started) return undefined;
    const { payer } = started;
    const order = await started.order;
    if (!order || orderRefusal(order, this.clock.now())) return undefined;
    return this.payments.startInBatch(
      {
        id: command.id,
        merchantId: order.merchant_id,
        merchantAccountId: order.merchant_account_id,
        userId: command.userId,
        amount: order.amount,
        method: command.method,
        details: command.details ?? {},
        description: order.description,
        source: 'order',
        orderId: order.id,
      },
      effects,
      payer,
    );
  }

  /** The order and the payer, read side by side (two loaders, one turn). */
  prefetch(orderId: string, userId: string): StartedReads | undefined {
    if (!isUuid(orderId) || !isUuid(userId)) return undefined;
    const order = this.#forPayment.load(orderId);
    order.catch(() => {}); // awaited by the payment, if it runs
    const reads: StartedReads = { orderId, userId, order, payer: this.payments.readPayer(userId) };
    this.#started.add(reads);
    return reads;
  }

  async create(command: CreateOrderCommand): Promise<PaymentOrder> {
    requireIds({ id: command.id, merchantId: command.merchantId });
    if (command.amount <= 0n) throw new MilletError('AMOUNT_INVALID', 'amount must be positive');
    const reference = command.merchantReference.trim();
    if (reference.length === 0 || reference.length > 64)
      throw new MilletError('VALIDATION_FAILED', 'merchant_reference must be 1–64 characters', {
        field: 'merchant_reference',
      });
    const description = command.description.trim();
    if (description.length === 0 || description.length > 256)
      throw new MilletError('VALIDATION_FAILED', 'description must be 1–256 characters', {
        field: 'description',
      });
    const ttl = command.expiresInSeconds ?? DEFAULT_ORDER_TTL_SECONDS;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_ORDER_TTL_SECONDS)
      throw new MilletError('VALIDATION_FAILED', `expires_in_seconds must be 1–${MAX_ORDER_TTL_SECONDS}`, {
        field: 'expires_in_seconds',
      });
    if (command.notifyUrl !== undefined && !/^https?:\/\/[^\s]{1,1000}$/.test(command.notifyUrl))
      throw new MilletError('VALIDATION_FAILED', 'notify_url must be an http(s) URL', {
        field: 'notify_url',
      });
    // A URL the webhooks module would never call is refused now, not silently skipped later.
    if (command.notifyUrl !== undefined) this.webhooks.checkUrl(command.notifyUrl, 'notify_url');
    const merchant = await activeMerchant(this.db, command.merchantId);
    const now = this.clock.now();
    const inserted = await this.db.query<OrderRow>(
      `INSERT INTO merchants_payment_orders (id, merchant_id, merchant_reference, amount, currency, description,
         notify_url, status, expires_at, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9, $9) ON CONFLICT DO NOTHING RETURNING *`,
      [
        command.id,
        command.merchantId,
        reference,
        command.amount,
        MERCHANT_CURRENCY,
        description,
        command.notifyUrl ?? null,
        new Date(now.getTime() + ttl * 1000),
        now,
      ],
    );
    if (inserted.rows[0]) return orderFromRow(inserted.rows[0], merchant.name, now);
    const existing = await this.db.query<OrderRow>('SELECT * FROM merchants_payment_orders WHERE id = $1', [
      command.id,
    ]);
    const row = existing.rows[0];
    if (!row)
      throw new MilletError(
        'MERCHANT_REFERENCE_TAKEN',
        `An order with merchant_reference "${reference}" already exists`,
        { merchantReference: reference },
      );
    // Every field the merchant sent counts: a retry that drops a notify_url, say, would otherwise be
    // answered with an order that never notifies.
    if (
      row.merchant_id !== command.merchantId ||
      row.merchant_reference !== reference ||
      row.amount !== command.amount ||
      row.description !== description ||
      row.notify_url !== (command.notifyUrl ?? null) ||
      row.expires_at.getTime() - row.created_at.getTime() !== ttl * 1000
    )
      throw new MilletError(
        'IDEMPOTENCY_KEY_REUSED',
        `Order ${command.id} was already created with other details`,
      );
    return orderFromRow(row, merchant.name, now);
  }

  /** With merchantId, another merchant's order is not found. */
  async get(id: string, merchantId?: string): Promise<PaymentOrder> {
    if (!isUuid(id)) throw orderNotFound(id);
    const result = await this.db.query<OrderRow & { merchant_name: string }>(
      `SELECT o.*, m.name AS merchant_name FROM merchants_payment_orders o
         JOIN merchants_merchants m ON m.id = o.merchant_id WHERE o.id = $1`,
      [id],
    );
    const row = result.rows[0];
    if (!row || (merchantId !== undefined && row.merchant_id !== merchantId)) throw orderNotFound(id);
    return orderFromRow(row, row.merchant_name, this.clock.now());
  }

  /** Cancels an open (or expired) order; cancelling a cancelled one is harmless. */
  async cancel(id: string, merchantId: string): Promise<PaymentOrder> {
    await this.get(id, merchantId);
    await this.db.transaction(async (tx) => {
      const row = await lockOrder(tx, id);
      if (row.status === 'pending' || row.status === 'paid')
        throw new MilletError(
          'PAYMENT_ORDER_ALREADY_PAID',
          `Order ${id} is ${row.status === 'paid' ? 'paid' : 'being paid'}; refund it instead`,
          {
            id,
            status: row.status,
          },
        );
      if (row.status === 'open')
        await tx.query(
          `UPDATE merchants_payment_orders SET status = 'cancelled', updated_at = $2 WHERE id = $1`,
          [id, this.clock.now()],
        );
    });
    return this.get(id, merchantId);
  }

  /** The user pays the order with the method they chose. */
  async pay(command: PayOrderCommand): Promise<Payment> {
    const order = await this.get(command.orderId);
    const payment = {
      id: command.id,
      merchantId: order.merchantId,
      userId: command.userId,
      amount: order.amount,
      method: command.method,
      details: command.details ?? {},
      description: order.description,
      source: 'order' as const,
      orderId: order.id,
    };
    return this.payments.start(
      payment,
      async (tx, paymentId) => {
        const refusal = orderRefusal(await lockOrder(tx, order.id), this.clock.now());
        if (refusal) throw refusal;
        await tx.query(
          `UPDATE merchants_payment_orders SET status = 'pending', payment_id = $2, updated_at = $3 WHERE id = $1`,
          [order.id, paymentId, this.clock.now()],
        );
      },
      { unverifiedPayerBeforeAnyEffect: command.unverifiedPayerBeforeAnyEffect },
    );
  }
}

/** Why a locked order cannot be paid now, or undefined when it can. */
export function orderRefusal(
  row: Pick<OrderRow, 'id' | 'status' | 'expires_at'>,
  now: Date,
): MilletError | undefined {
  if (row.status === 'cancelled')
    return new MilletError('PAYMENT_ORDER_CANCELLED', `Order ${row.id} was cancelled by the merchant`, {
      id: row.id,
    });
  if (row.status !== 'open')
    return new MilletError('PAYMENT_ORDER_ALREADY_PAID', `Order ${row.id} is already paid`, {
      id: row.id,
      status: row.status,
    });
  if (row.expires_at.getTime() <= now.getTime())
    return new MilletError(
      'PAYMENT_ORDER_EXPIRED',
      `Order ${row.id} expired at ${row.expires_at.toISOString()}`,
      {
        id: row.id,
        expiresAt: row.expires_at.toISOString(),
      },
    );
  return undefined;
}

async function lockOrder(tx: Queryable, id: string): Promise<OrderRow> {
  const result = await tx.query<OrderRow>('SELECT * FROM merchants_payment_orders WHERE id = $1 FOR UPDATE', [
    id,
  ]);
  if (!result.rows[0]) throw orderNotFound(id);
  return result.rows[0];
}
