import { MilletError, derivedId, type Clock } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import { returnDeadline } from './returns.ts';
import { orderFromRow, requireUuid, type OrderRow } from './rows.ts';
import type { AcceptedAttempt, SaleSetup, SaleWinner, StockEngine } from './stock-engine.ts';
import {
  RESERVATION_MS,
  type Order,
  type OrderStatus,
  type PageOf,
  type ReturnStatus,
  type Sale,
} from './types.ts';

/** What the store needs of the merchants module: the store is a merchant, paid through checkout. */
export interface StoreCheckout {
  createOrder(command: {
    id: string;
    merchantId: string;
    merchantReference: string;
    amount: bigint;
    description: string;
    expiresInSeconds?: number;
  }): Promise<{ id: string }>;
  payOrder(command: {
    id: string;
    orderId: string;
    userId: string;
    method: string;
    details?: Record<string, string> | undefined;
  }): Promise<{ id: string; status: 'pending' | 'succeeded' | 'failed'; failureCode: string | null }>;
  getPayment(id: string): Promise<{ id: string; status: 'pending' | 'succeeded' | 'failed' }>;
  getRefund(
    id: string,
    merchantId?: string,
  ): Promise<{ id: string; reason: string | null; status: 'pending' | 'succeeded' | 'failed' }>;
  refund(command: {
    id: string;
    merchantId: string;
    paymentId: string;
    amount: bigint;
    reason?: string;
  }): Promise<{ id: string; status: 'pending' | 'succeeded' | 'failed' }>;
}

/** What pre-sale deposits need: holds on the buyer's wallet through the ledger. */
export interface DepositLedger {
  walletAccountId(userId: string): Promise<string>;
  /** The store's account a deposit hold credits (credit-only: forfeited deposits are revenue). */
  depositAccountId(): string;
  placeHold(command: {
    id: string;
    debitAccountId: string;
    creditAccountId: string;
    amount: bigint;
    metadata?: Record<string, unknown>;
  }): Promise<unknown>;
  postHold(command: { id: string; holdId: string }): Promise<unknown>;
  voidHold(command: { id: string; holdId: string }): Promise<unknown>;
}

class OversellGuard extends Error {}

/** How old a payment claim is before the expiry job asks checkout about it. */
const CLAIM_GRACE_MS = 60_000;

/** The refunds job's first wait, doubled per failed refund up to REFUND_RETRY_MAX_MS. */
const REFUND_RETRY_BASE_MS = 60_000;
const REFUND_RETRY_MAX_MS = 3_600_000;

function refundRetryDelayMs(failedTries: number): number {
  return Math.min(REFUND_RETRY_MAX_MS, REFUND_RETRY_BASE_MS * 2 ** Math.min(failedTries, 20));
}

/** Orders closed for good (their units given back). */
const closedStatuses: readonly OrderStatus[] = ['expired', 'cancelled'];

/** Order states in the fulfilment sequence, each with the column it stamps. */
const fulfilment: Record<'packed' | 'shipped' | 'delivered', { from: OrderStatus; column: string }> = {
  packed: { from: 'paid', column: 'packed_at' },
  shipped: { from: 'packed', column: 'shipped_at' },
  delivered: { from: 'shipped', column: 'delivered_at' },
};

export class Orders {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly engine: StockEngine,
    private readonly checkout: StoreCheckout,
    private readonly merchantId: () => string,
    private readonly deposits: DepositLedger,
    private readonly saleOf: (id: string) => Promise<Sale>,
  ) {}

  /**
   * Writes accepted attempts as orders: one transaction for the batch — the orders inserted with
   * ON CONFLICT DO NOTHING (unique attempt id: a redelivered entry is a no-op; unique user × sale),
   * then one conditional update `units_taken + n <= allotment`. If that update would oversell, the
   * batch is rolled back and written one attempt at a time; an attempt that does not fit is refused
   * (kept in store_refused_attempts) and its unit stays out of stock: undersell, never oversell.
   */
  async writeAccepted(sale: Sale, entries: readonly AcceptedAttempt[]): Promise<void> {
    if (entries.length === 0) return;
    try {
      await this.db.transaction((tx) => this.#writeBatch(tx, sale, entries));
    } catch (error) {
      if (!(error instanceof OversellGuard)) throw error;
      for (const entry of entries)
        await this.db.transaction(async (tx) => {
          try {
            await this.#writeBatch(tx, sale, [entry]);
          } catch (single) {
            if (!(single instanceof OversellGuard)) throw single;
            await this.#refuse(tx, sale, entry, 'allotment_exhausted');
          }
        });
    }
  }

  async #writeBatch(tx: Queryable, sale: Sale, entries: readonly AcceptedAttempt[]): Promise<void> {
    const now = this.clock.now();
    const inserted = await tx.query<{ attempt_id: string; quantity: number }>(
      `INSERT INTO store_orders (id, sale_id, user_id, attempt_id, quantity, unit_price, amount, deposit, status,
         accepted_at, pay_by, created_at, updated_at)
       SELECT i, $1, u, a, q, $2::int8, $2::int8 * q, $9::int8 * q, 'reserved', t,
         t + interval '${RESERVATION_MS / 1000} seconds', $3, $3
       FROM unnest($4::uuid[], $5::uuid[], $6::uuid[], $7::int[], $8::timestamptz[]) AS x(i, u, a, q, t)
       ON CONFLICT DO NOTHING RETURNING attempt_id, quantity`,
      [
        sale.id,
        sale.price,
        now,
        entries.map((e) => derivedId('store.order', e.attemptId)),
        entries.map((e) => e.userId),
        entries.map((e) => e.attemptId),
        entries.map((e) => e.quantity),
        entries.map((e) => new Date(e.acceptedAt).toISOString()),
        sale.presale?.deposit ?? null,
      ],
    );
    const units = inserted.rows.reduce((n, r) => n + r.quantity, 0);
    if (units > 0) {
      const taken = await tx.query(
        'UPDATE store_sales SET units_taken = units_taken + $2 WHERE id = $1 AND units_taken + $2 <= allotment',
        [sale.id, units],
      );
      if (taken.rowCount === 0) throw new OversellGuard();
    }
    if (inserted.rows.length === entries.length) return;
    // Not inserted: either written before (a redelivery) or the user already has an order.
    const written = new Set(inserted.rows.map((r) => r.attempt_id));
    const known = await tx.query<{ attempt_id: string }>(
      'SELECT attempt_id FROM store_orders WHERE attempt_id = ANY($1::uuid[])',
      [entries.filter((e) => !written.has(e.attemptId)).map((e) => e.attemptId)],
    );
    const existing = new Set(known.rows.map((r) => r.attempt_id));
    for (const e of entries)
      if (!written.has(e.attemptId) && !existing.has(e.attemptId))
        await this.#refuse(tx, sale, e, 'buyer_has_order');
  }

  async #refuse(tx: Queryable, sale: Sale, entry: AcceptedAttempt, reason: string): Promise<void> {
    await tx.query(
      `INSERT INTO store_refused_attempts (attempt_id, sale_id, user_id, quantity, reason, created_at)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
      [entry.attemptId, sale.id, entry.userId, entry.quantity, reason, this.clock.now()],
    );
  }

  /** Reservations past their 15 minutes expire and their units return to the engine's stock. */
  async expireReservations(limit = 1_000): Promise<number> {
    // First the orders whose payment checkout has decided since: a failed one is a reservation
    // again (and may expire below), a succeeded one is paid. Its failure does not hold up expiry.
    const swept: unknown = await this.settleClaimedPayments().then(
      () => undefined,
      (error: unknown) => error ?? new Error('settling claimed payments failed'),
    );
    const now = this.clock.now();
    const expired = await this.db.transaction(async (tx) => {
      const r = await tx.query<{ sale_id: string; user_id: string; attempt_id: string; quantity: number }>(
        `UPDATE store_orders SET status = 'expired', closed_at = $1, updated_at = $1
         WHERE id IN (SELECT id FROM store_orders WHERE status = 'reserved' AND pay_by <= $1
                      ORDER BY pay_by LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING sale_id, user_id, attempt_id, quantity`,
        [now, limit],
      );
      await this.#giveBackUnits(tx, r.rows);
      return r.rows;
    });
    // After the commit: a crash here leaves units out of stock (undersell), which reconciliation
    // repairs (release is idempotent per attempt).
    for (const o of expired) await this.engine.release(o.sale_id, o.user_id, o.attempt_id);
    if (swept) throw swept;
    return expired.length;
  }

  async #giveBackUnits(
    tx: Queryable,
    rows: ReadonlyArray<{ sale_id: string; quantity: number }>,
  ): Promise<void> {
    const perSale = new Map<string, number>();
    for (const r of rows) perSale.set(r.sale_id, (perSale.get(r.sale_id) ?? 0) + r.quantity);
    for (const [saleId, units] of perSale)
      await tx.query('UPDATE store_sales SET units_taken = units_taken - $2 WHERE id = $1', [saleId, units]);
  }

  async #row(id: string, userId?: string): Promise<OrderRow> {
    requireUuid(id, 'id');
    const r = await this.db.query<OrderRow>(
      'SELECT * FROM store_orders WHERE id = $1 AND ($2::uuid IS NULL OR user_id = $2)',
      [id, userId ?? null],
    );
    if (!r.rows[0]) throw new MilletError('STORE_ORDER_NOT_FOUND', `No order ${id}`, { id });
    return r.rows[0];
  }

  async get(id: string, userId?: string): Promise<Order> {
    return orderFromRow(await this.#row(id, userId));
  }

  /**
   * An order as it stands: one still `paying` whose payment checkout has decided since (a bank card
   * settles after the request) is settled first, instead of showing `paying` until the expiry job
   * asks. Only what is safe beside a payment request still running is applied here — succeeded
   * (paid), and failed for an order without a deposit (a reservation again, conditional on the
   * claim); a pre-sale balance that failed holds its deposit again, which its request or the
   * expiry job does.
   */
  async current(id: string, userId?: string): Promise<Order> {
    const row = await this.#row(id, userId);
    if (row.status !== 'paying' || !row.payment_id) return orderFromRow(row);
    let payment: { status: 'pending' | 'succeeded' | 'failed' };
    try {
      payment = await this.checkout.getPayment(row.payment_id);
    } catch (error) {
      // Claimed, and checkout has not heard of the payment yet: its request is still on its way.
      if (error instanceof MilletError && error.code === 'PAYMENT_NOT_FOUND') return orderFromRow(row);
      throw error;
    }
    if (payment.status === 'pending' || (payment.status === 'failed' && row.deposit_status === 'applied'))
      return orderFromRow(row);
    return this.#settlePayment(row.id, row.payment_id, payment.status);
  }

  /** The order an attempt became, once the order writer has written it. */
  async byAttempt(attemptId: string): Promise<Order | undefined> {
    const r = await this.db.query<OrderRow>('SELECT * FROM store_orders WHERE attempt_id = $1', [attemptId]);
    return r.rows[0] ? orderFromRow(r.rows[0]) : undefined;
  }

  async list(query: {
    userId?: string | undefined;
    saleId?: string | undefined;
    status?: OrderStatus | undefined;
    returnStatus?: ReturnStatus | undefined;
    after?: string | undefined;
    limit: number;
  }): Promise<PageOf<Order>> {
    const r = await this.db.query<OrderRow>(
      `SELECT * FROM store_orders WHERE ($1::uuid IS NULL OR user_id = $1) AND ($2::uuid IS NULL OR sale_id = $2)
         AND ($3::text IS NULL OR status = $3) AND ($4::uuid IS NULL OR id > $4)
         AND ($6::text IS NULL OR return_status = $6)
       ORDER BY id LIMIT $5`,
      [
        query.userId ?? null,
        query.saleId ?? null,
        query.status ?? null,
        query.after ?? null,
        query.limit + 1,
        query.returnStatus ?? null,
      ],
    );
    const items = r.rows.slice(0, query.limit).map(orderFromRow);
    return { items, nextCursor: r.rows.length > query.limit ? items.at(-1)!.id : null };
  }

  /**
   * Pays a reservation through the merchants' checkout (the store is a merchant; any registered
   * method: balance, bank_card, later pay-later and instalments). The order is claimed (`paying`)
   * first so the expiry job leaves it alone while the money moves.
   */
  async pay(command: {
    orderId: string;
    userId: string;
    paymentId: string;
    method: string;
    details?: Record<string, string> | undefined;
  }): Promise<Order> {
    const row = await this.#row(command.orderId, command.userId);
    if (
      row.payment_id === command.paymentId ||
      ['paid', 'packed', 'shipped', 'delivered'].includes(row.status)
    ) {
      return row.status === 'paying' ? this.refreshPayment(row.id) : orderFromRow(row);
    }
    const now = this.clock.now();
    // A closed order keeps its claim (closing_at): it is cancelled or expired, no longer closing.
    if (row.closing_at && !closedStatuses.includes(row.status))
      throw new MilletError('STORE_ORDER_NOT_PAYABLE', `Order ${row.id} is being cancelled`, {
        id: row.id,
        status: row.status,
      });
    if (row.status === 'deposit_held') return this.#payBalance(row, command);
    if (row.status !== 'reserved')
      throw new MilletError('STORE_ORDER_NOT_PAYABLE', `Order ${row.id} is ${row.status}`, {
        id: row.id,
        status: row.status,
      });
    if ((await this.saleOf(row.sale_id)).presale)
      throw new MilletError(
        'STORE_ORDER_NOT_PAYABLE',
        'A pre-sale reservation is secured with its deposit first',
        {
          id: row.id,
          status: row.status,
        },
      );
    if (row.pay_by <= now)
      throw new MilletError(
        'STORE_RESERVATION_EXPIRED',
        `The reservation ended at ${row.pay_by.toISOString()}`,
        {
          id: row.id,
          payBy: row.pay_by.toISOString(),
        },
      );
    const claimed = await this.db.query(
      `UPDATE store_orders SET status = 'paying', payment_id = $2, updated_at = $3
       WHERE id = $1 AND status = 'reserved' AND pay_by > $3`,
      [row.id, command.paymentId, now],
    );
    if (claimed.rowCount === 0) return this.pay(command);
    return this.#checkout(row, command, now);
  }

  async #checkout(
    row: OrderRow,
    command: {
      userId: string;
      paymentId: string;
      method: string;
      details?: Record<string, string> | undefined;
    },
    now: Date,
  ): Promise<Order> {
    const presale = row.status === 'deposit_held' ? (await this.saleOf(row.sale_id)).presale! : null;
    // The checkout order's details must be the same on every payment of this order: checkout's
    // createOrder is idempotent on all of them, so an expiry computed from `now` made every payment
    // after a failed one (a wallet short of funds, topped up, paid again a second later) a 422
    // IDEMPOTENCY_KEY_REUSED for good. Its lifetime is therefore fixed by the order (the 15-minute
    // reservation, or the pre-sale's balance window up to checkout's one-day limit), and a balance
    // window longer than that gets one checkout order per period, so a later payment is not refused
    // as expired. One order per period, not per payment: a payment still pending keeps it from
    // being paid twice.
    const [from, due] = presale ? [presale.balanceFrom, presale.balanceDueBy] : [row.accepted_at, row.pay_by];
    const ttlSeconds = Math.min(86_400, Math.max(1, Math.ceil((due.getTime() - from.getTime()) / 1000)));
    const period = Math.max(0, Math.floor((now.getTime() - from.getTime()) / (ttlSeconds * 1000)));
    try {
      const merchantOrder = await this.checkout.createOrder({
        id: derivedId('store.checkout', period === 0 ? row.id : `${row.id}:${period}`),
        merchantId: this.merchantId(),
        merchantReference: period === 0 ? `store-${row.id}` : `store-${row.id}-${period}`,
        amount: row.amount,
        description: `Flash sale order ${row.id}`,
        expiresInSeconds: ttlSeconds,
      });
      const payment = await this.checkout.payOrder({
        id: command.paymentId,
        orderId: merchantOrder.id,
        userId: command.userId,
        method: command.method,
        details: command.details,
      });
      return await this.#settlePayment(row.id, command.paymentId, payment.status);
    } catch (error) {
      await this.#unclaim(row.id, command.paymentId);
      throw error;
    }
  }

  /**
   * Pre-sale step 1: the deposit, a ledger hold on the buyer's wallet (held, not moved), within
   * the reservation's 15 minutes. The hold id is derived from the order, so a retry holds once.
   */
  async payDeposit(orderId: string, userId: string): Promise<Order> {
    const row = await this.#row(orderId, userId);
    if (row.status === 'deposit_held' || row.deposit_status) return orderFromRow(row);
    const sale = await this.saleOf(row.sale_id);
    if (!sale.presale || row.deposit === null)
      throw new MilletError('STORE_ORDER_NOT_PAYABLE', 'This sale takes no deposit; pay the order', {
        id: row.id,
      });
    if (row.status !== 'reserved')
      throw new MilletError('STORE_ORDER_NOT_PAYABLE', `Order ${row.id} is ${row.status}`, {
        id: row.id,
        status: row.status,
      });
    const now = this.clock.now();
    if (row.pay_by <= now)
      throw new MilletError(
        'STORE_RESERVATION_EXPIRED',
        `The reservation ended at ${row.pay_by.toISOString()}`,
        {
          id: row.id,
          payBy: row.pay_by.toISOString(),
        },
      );
    // A deposit taken once the balance can no longer be paid would only be forfeited (or held
    // until the deadline job) with nothing bought: the reservation is left to expire instead.
    if (now >= sale.presale.balanceDueBy)
      throw new MilletError(
        'STORE_RESERVATION_EXPIRED',
        `The balance was due by ${sale.presale.balanceDueBy.toISOString()}`,
        {
          id: row.id,
          payBy: sale.presale.balanceDueBy.toISOString(),
        },
      );
    const holdId = derivedId('store.deposit', row.id);
    await this.deposits.placeHold({
      id: holdId,
      debitAccountId: await this.deposits.walletAccountId(userId),
      creditAccountId: this.deposits.depositAccountId(),
      amount: row.deposit,
      metadata: { storeOrderId: row.id, saleId: row.sale_id },
    });
    const held = await this.db.query(
      `UPDATE store_orders SET status = 'deposit_held', deposit_hold_id = $2, deposit_status = 'held', updated_at = $3
       WHERE id = $1 AND status = 'reserved'`,
      [row.id, holdId, now],
    );
    // Expired or cancelled meanwhile: the hold must not outlive the reservation. But a twin of this
    // request (a second tap) may have held the same derived hold first, and it stays.
    if (held.rowCount === 0 && (await this.#row(row.id)).deposit_hold_id !== holdId)
      await this.deposits.voidHold({ id: derivedId('store.deposit-void', row.id), holdId });
    return this.get(row.id);
  }

  /**
   * Pre-sale step 2, from the release until the deadline: the deposit hold is released and the
   * full price is paid through checkout (the deposit counts towards it). If checkout refuses, the
   * deposit is held again under a new hold (best effort: a wallet that no longer covers it leaves
   * the order without a deposit, and the deadline expires it).
   */
  async #payBalance(
    row: OrderRow,
    command: {
      userId: string;
      paymentId: string;
      method: string;
      details?: Record<string, string> | undefined;
    },
  ): Promise<Order> {
    const sale = await this.saleOf(row.sale_id);
    const presale = sale.presale!;
    const now = this.clock.now();
    if (now < presale.balanceFrom)
      throw new MilletError(
        'STORE_BALANCE_NOT_DUE',
        `The balance is due from ${presale.balanceFrom.toISOString()}`,
        {
          id: row.id,
          balanceFrom: presale.balanceFrom.toISOString(),
        },
      );
    if (now >= presale.balanceDueBy)
      throw new MilletError(
        'STORE_RESERVATION_EXPIRED',
        `The balance was due by ${presale.balanceDueBy.toISOString()}`,
        {
          id: row.id,
          payBy: presale.balanceDueBy.toISOString(),
        },
      );
    const claimed = await this.db.query(
      `UPDATE store_orders SET status = 'paying', payment_id = $2, deposit_status = 'applied', updated_at = $3
       WHERE id = $1 AND status = 'deposit_held' AND closing_at IS NULL`,
      [row.id, command.paymentId, now],
    );
    if (claimed.rowCount === 0) return this.pay({ ...command, orderId: row.id });
    // No hold when the deposit could not be held again after a refused payment: nothing to release.
    const holdId = row.deposit_hold_id;
    if (holdId) await this.deposits.voidHold({ id: derivedId('store.deposit-void', holdId), holdId });
    let order: Order;
    try {
      order = await this.#checkout({ ...row, status: 'deposit_held' }, command, now);
    } catch (error) {
      await this.#holdAgain(row, command.paymentId);
      throw error;
    }
    if (order.status === 'reserved') {
      await this.#holdAgain(row, command.paymentId);
      return this.get(row.id);
    }
    return order;
  }

  /** After a failed balance payment: the deposit held again, the order back to deposit_held. */
  async #holdAgain(row: OrderRow, paymentId: string): Promise<void> {
    const again = derivedId('store.deposit', `${row.id}:${paymentId}`);
    let rehold: string | null = again;
    try {
      await this.deposits.placeHold({
        id: again,
        debitAccountId: await this.deposits.walletAccountId(row.user_id),
        creditAccountId: this.deposits.depositAccountId(),
        amount: row.deposit!,
        metadata: { storeOrderId: row.id, saleId: row.sale_id },
      });
    } catch {
      rehold = null;
    }
    const back = await this.db.query(
      `UPDATE store_orders SET status = 'deposit_held', payment_id = NULL, deposit_hold_id = $2,
         deposit_status = CASE WHEN $2::uuid IS NULL THEN NULL ELSE 'held' END, updated_at = $3
       WHERE id = $1 AND status IN ('reserved', 'paying')`,
      [row.id, rehold, this.clock.now()],
    );
    // Expired in between: the new hold must not outlive the order.
    if (back.rowCount === 0 && rehold)
      await this.deposits.voidHold({ id: derivedId('store.deposit-void', rehold), holdId: rehold });
  }

  /**
   * Past a pre-sale's deadline, deposits whose balance was not paid are forfeited (the hold is
   * posted to the store) or refunded (the hold is voided), per the sale's rule; the units return.
   */
  async settleUnpaidDeposits(limit = 1_000): Promise<number> {
    const now = this.clock.now();
    const due = await this.db.query<OrderRow & { unpaid_deposit: 'forfeit' | 'refund' }>(
      `SELECT o.*, s.unpaid_deposit FROM store_orders o JOIN store_sales s ON s.id = o.sale_id
       WHERE o.status = 'deposit_held' AND s.balance_due_by <= $1 ORDER BY o.id LIMIT $2`,
      [now, limit],
    );
    for (const row of due.rows) await this.#closeDeposit(row, row.unpaid_deposit, 'expired');
    return due.rows.length;
  }

  /**
   * Forfeits or releases a pre-sale deposit and closes the order. The order is claimed first
   * (`closing_at`), so a balance payment at the same moment either got there before (and this
   * answers false) or is refused: the hold is never voided for the payment and posted (or
   * released) for the close at once. The hold ids are derived, so a close repeated after a crash
   * moves the money once.
   *
   * The first claim records its outcome (`deposit_status`), and every later close of the order
   * follows it: closes may ask for different rules (the store's cancel refunds, the buyer's and
   * the deadline's follow the sale), and one that voided the hold while another posted it failed —
   * after a crash, for good, the deadline job stuck on that order.
   */
  async #closeDeposit(
    row: OrderRow,
    asked: 'forfeit' | 'refund',
    to: 'expired' | 'cancelled',
  ): Promise<boolean> {
    const claimed = await this.db.query<{ deposit_status: string | null }>(
      `UPDATE store_orders SET closing_at = COALESCE(closing_at, $2), updated_at = $2,
         deposit_status = CASE WHEN closing_at IS NULL AND deposit_status IS NOT NULL THEN $3
                               ELSE deposit_status END
       WHERE id = $1 AND status = 'deposit_held' RETURNING deposit_status`,
      [row.id, this.clock.now(), asked === 'forfeit' ? 'forfeited' : 'refunded'],
    );
    if (claimed.rowCount === 0) return false;
    const decided = claimed.rows[0]!.deposit_status;
    const rule = decided === 'forfeited' ? 'forfeit' : decided === 'refunded' ? 'refund' : asked;
    if (row.deposit_hold_id) {
      const id = derivedId(`store.deposit-${rule}`, row.deposit_hold_id);
      if (rule === 'forfeit') await this.deposits.postHold({ id, holdId: row.deposit_hold_id });
      else await this.deposits.voidHold({ id, holdId: row.deposit_hold_id });
    }
    const now = this.clock.now();
    const closed = await this.db.transaction(async (tx) => {
      const r = await tx.query<{ sale_id: string; quantity: number }>(
        `UPDATE store_orders SET status = $2, deposit_status = $3, closed_at = $4, updated_at = $4
         WHERE id = $1 AND status = 'deposit_held' RETURNING sale_id, quantity`,
        [row.id, to, row.deposit_hold_id ? (rule === 'forfeit' ? 'forfeited' : 'refunded') : null, now],
      );
      await this.#giveBackUnits(tx, r.rows);
      return r.rowCount > 0;
    });
    if (closed) await this.engine.release(row.sale_id, row.user_id, row.attempt_id);
    return true;
  }

  async #unclaim(orderId: string, paymentId: string): Promise<void> {
    await this.db.query(
      `UPDATE store_orders SET status = 'reserved', payment_id = NULL, updated_at = $3
       WHERE id = $1 AND payment_id = $2 AND status = 'paying'`,
      [orderId, paymentId, this.clock.now()],
    );
  }

  async #settlePayment(
    orderId: string,
    paymentId: string,
    status: 'pending' | 'succeeded' | 'failed',
  ): Promise<Order> {
    if (status === 'succeeded')
      await this.db.query(
        `UPDATE store_orders SET status = 'paid', paid_at = $3, updated_at = $3
         WHERE id = $1 AND payment_id = $2 AND status = 'paying'`,
        [orderId, paymentId, this.clock.now()],
      );
    else if (status === 'failed') await this.#unclaim(orderId, paymentId);
    return this.get(orderId);
  }

  /** Asks checkout about a payment still pending (bank card) and settles the order with the answer. */
  async refreshPayment(orderId: string): Promise<Order> {
    const row = await this.#row(orderId);
    if (row.status !== 'paying' || !row.payment_id) return orderFromRow(row);
    const payment = await this.checkout.getPayment(row.payment_id);
    // A pre-sale's failed balance payment puts its deposit back on hold, as a refused one does.
    if (payment.status === 'failed' && row.deposit_status === 'applied') {
      await this.#holdAgain(row, row.payment_id);
      return this.get(row.id);
    }
    return this.#settlePayment(row.id, row.payment_id, payment.status);
  }

  /**
   * Orders left `paying` after their request: a bank-card payment is pending until the bank
   * settles, and only the buyer paying again used to look at it, so a settled card payment was
   * never `paid` (the warehouse could not pack it) and a failed one held its units for good — the
   * expiry job leaves `paying` alone. Asked here, from the expiry job, once a claim is a minute
   * old (a younger one may still be in its request). A payment checkout never heard of (the
   * process died between the claim and checkout) is failed once no payment can reach the
   * checkout order any more: past its longest lifetime, a day.
   */
  async settleClaimedPayments(limit = 200): Promise<number> {
    const now = this.clock.now().getTime();
    const claimed = await this.db.query<OrderRow>(
      `SELECT * FROM store_orders WHERE status = 'paying' AND updated_at <= $1 ORDER BY updated_at LIMIT $2`,
      [new Date(now - CLAIM_GRACE_MS), limit],
    );
    let settled = 0;
    // One order that fails (the ledger away) does not keep the others waiting: the first error is
    // thrown once all were tried.
    let failure: unknown;
    for (const row of claimed.rows) {
      try {
        if (await this.#settleClaim(row, now)) settled += 1;
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
    return settled;
  }

  async #settleClaim(row: OrderRow, now: number): Promise<boolean> {
    try {
      return (await this.refreshPayment(row.id)).status !== 'paying';
    } catch (error) {
      if (!(error instanceof MilletError && error.code === 'PAYMENT_NOT_FOUND')) throw error;
      if (now - row.updated_at.getTime() <= 86_400_000 + CLAIM_GRACE_MS) return false;
      if (row.deposit_status === 'applied') {
        // The process may have died before the balance payment released the deposit's hold.
        const holdId = row.deposit_hold_id;
        if (holdId) await this.deposits.voidHold({ id: derivedId('store.deposit-void', holdId), holdId });
        await this.#holdAgain(row, row.payment_id!);
      } else await this.#unclaim(row.id, row.payment_id!);
      return true;
    }
  }

  /**
   * Cancels an order before it ships: a reservation is released; a paid (or packed) order is
   * refunded in full to the payer's wallet through the merchants' refunds. The units return to the
   * sale's stock either way.
   */
  async cancel(orderId: string, by: { userId?: string; reason?: string }): Promise<Order> {
    const row = await this.#row(orderId, by.userId);
    if (row.status === 'cancelled' || row.status === 'expired') return orderFromRow(row);
    if (row.status === 'deposit_held') {
      // The buyer cancelling before paying the balance is treated as not paying it (the sale's
      // rule). The store cancelling (an operator) is not the buyer's doing: the deposit goes back —
      // it used to be forfeited to the store on a "forfeit" sale. When the balance payment claimed
      // the order first, the cancel looks at it again (paying or paid).
      const sale = await this.saleOf(row.sale_id);
      const rule = by.userId ? sale.presale!.unpaidDeposit : 'refund';
      if (!(await this.#closeDeposit(row, rule, 'cancelled'))) return this.cancel(orderId, by);
      return this.get(row.id);
    }
    if (!['reserved', 'paid', 'packed'].includes(row.status))
      throw new MilletError('STORE_ORDER_NOT_CANCELLABLE', `Order ${row.id} is ${row.status}`, {
        id: row.id,
        status: row.status,
      });
    let refund: { id: string; status: 'pending' | 'succeeded' | 'failed' } | null = null;
    if (row.status !== 'reserved') {
      // Claimed before the refund: fulfilment does not move a closing order on, so an order is
      // never both refunded and shipped. A cancel that fails after this leaves the order closing;
      // cancelling again finishes it (the refund id is derived from the order).
      // The first claim's reason is kept for the refund: checkout's refund is idempotent on every
      // detail, so a cancel finishing another's (a buyer's and an operator's at once, or after a
      // crash) with a reason of its own was refused as IDEMPOTENCY_KEY_REUSED, the order left
      // closing for good. Claims made before the reason was kept (NULL) take it from the refund.
      const claimed = await this.db.query<{ cancel_reason: string | null }>(
        `UPDATE store_orders SET closing_at = COALESCE(closing_at, $3), updated_at = $3,
           cancel_reason = CASE WHEN closing_at IS NULL THEN $4 ELSE cancel_reason END
         WHERE id = $1 AND status = $2 RETURNING cancel_reason`,
        [row.id, row.status, this.clock.now(), by.reason ?? 'order cancelled'],
      );
      if (claimed.rowCount === 0) return this.cancel(orderId, by);
      const reason =
        claimed.rows[0]!.cancel_reason ?? (await this.#adoptClaimReason(row, by.reason ?? 'order cancelled'));
      refund = await this.#refund(row, 'store.refund', reason);
    }
    const now = this.clock.now();
    const closed = await this.db.transaction(async (tx) => {
      const r = await tx.query<{ sale_id: string; quantity: number }>(
        `UPDATE store_orders SET status = 'cancelled', refund_id = $3, closed_at = $4, updated_at = $4,
           refund_confirmed_at = $5
         WHERE id = $1 AND status = $2 RETURNING sale_id, quantity`,
        [row.id, row.status, refund?.id ?? null, now, refund?.status === 'succeeded' ? now : null],
      );
      await this.#giveBackUnits(tx, r.rows);
      return r.rowCount > 0;
    });
    if (!closed) return this.cancel(orderId, by);
    await this.engine.release(row.sale_id, row.user_id, row.attempt_id);
    return this.get(row.id);
  }

  /**
   * The reason for a claim made before migration 0006 kept one (cancel_reason NULL). Its refund
   * may have been asked for already, with the reason its cancel gave: checkout's refunds are
   * idempotent on every detail, so any other reason was IDEMPOTENCY_KEY_REUSED — the refunds job
   * (which gives none) retried it hourly for ever, and only an operator who guessed the buyer's
   * words could finish it. The refund checkout holds under the id the next try replays gives the
   * reason; with none there, this cancel's. Recorded on the order only while still NULL, so two
   * cancels finishing the claim at once ask with one reason.
   */
  async #adoptClaimReason(row: OrderRow, fallback: string): Promise<string> {
    const refundId = derivedId(
      'store.refund',
      row.refund_tries === 0 ? row.id : `${row.id}:${row.refund_tries}`,
    );
    let reason = fallback;
    try {
      reason = (await this.checkout.getRefund(refundId, this.merchantId())).reason ?? '';
    } catch (error) {
      if (!(error instanceof MilletError && error.code === 'REFUND_NOT_FOUND')) throw error;
    }
    const kept = await this.db.query<{ cancel_reason: string }>(
      `UPDATE store_orders SET cancel_reason = COALESCE(cancel_reason, $2) WHERE id = $1 RETURNING cancel_reason`,
      [row.id, reason],
    );
    return kept.rows[0]?.cancel_reason ?? reason;
  }

  /**
   * Pays the order back in full through checkout's refunds, to the method it was paid with: the
   * wallet for balance and bank card; pay-later and instalments lower what the buyer owes (the rest
   * to the wallet), as checkout's refund does for any merchant. The refund id is derived from the
   * order, so every try of one refund moves the money once. A refund checkout failed for good (the
   * store's payable balance too small after a payout) answers every later try under its id with
   * that failed refund — and the order used to be closed on it as if refunded, the buyer's money
   * never paid back. A failed refund is therefore followed by the next id (`refund_tries`).
   */
  async #refund(
    row: OrderRow,
    purpose: 'store.refund' | 'store.return-refund',
    reason: string,
  ): Promise<{ id: string; status: 'pending' | 'succeeded' | 'failed' }> {
    for (let tries = row.refund_tries; ; tries++) {
      let refund: { id: string; status: 'pending' | 'succeeded' | 'failed' };
      try {
        refund = await this.checkout.refund({
          id: derivedId(purpose, tries === 0 ? row.id : `${row.id}:${tries}`),
          merchantId: this.merchantId(),
          paymentId: row.payment_id!,
          amount: row.amount,
          reason,
        });
      } catch (error) {
        // The refunds job waits before trying again. refund_tries is not moved on here: only a
        // refund checkout has recorded as failed is replaced by the next id (the replay below).
        // Not recording the wait (the database away too) only brings the next try forward; the
        // refund's own error is the one to answer with.
        const now = this.clock.now();
        await this.db
          .query('UPDATE store_orders SET refund_retry_at = $2, updated_at = $3 WHERE id = $1', [
            row.id,
            new Date(now.getTime() + refundRetryDelayMs(tries)),
            now,
          ])
          .catch(() => undefined);
        throw error;
      }
      if (refund.status !== 'failed') return refund;
      // Recorded before the next try, so a try after a crash does not replay this failure again.
      await this.db.query(
        'UPDATE store_orders SET refund_tries = GREATEST(refund_tries, $2), updated_at = $3 WHERE id = $1',
        [row.id, tries + 1, this.clock.now()],
      );
    }
  }

  /**
   * Finishes the refunds nobody asked for again: cancels left closing and returns left received
   * because their refund failed (the store's balance short after a payout, checkout away) or their
   * process died. Each is finished as its endpoint would (the same refund ids and reason, the
   * order closed the same way), once its wait is over: a minute after the claim or the receipt,
   * then after each failed try a minute doubled per failed refund, at most an hour. Progress is in
   * the orders, so a run stopped part-way is resumed by the next. Answers how many were finished.
   */
  async finishOwedRefunds(limit = 100): Promise<number> {
    const now = this.clock.now();
    const due = await this.db.query<{ id: string; return_status: ReturnStatus | null }>(
      `SELECT id, return_status FROM store_orders
       WHERE ((closing_at IS NOT NULL AND status IN ('paid', 'packed')) OR return_status = 'received')
         AND COALESCE(refund_retry_at,
               CASE WHEN return_status = 'received' THEN return_received_at ELSE closing_at END
                 + interval '${REFUND_RETRY_BASE_MS / 1000} seconds') <= $1
       ORDER BY id LIMIT $2`,
      [now, limit],
    );
    let finished = 0;
    let failure: unknown;
    for (const row of due.rows) {
      try {
        if (row.return_status === 'received') await this.receiveReturn(row.id);
        else await this.cancel(row.id, {});
        finished += 1;
      } catch (error) {
        // A refused refund (the balance still short) has its next try recorded; the others go on.
        if (!(error instanceof MilletError)) failure ??= error;
      }
    }
    try {
      finished += await this.#repayClosedOnFailedRefunds(now, limit);
    } catch (error) {
      failure ??= error;
    }
    if (failure !== undefined) throw failure;
    return finished;
  }

  /**
   * Orders closed on a refund checkout never paid: before a failed refund was followed by the next
   * id (migration 0008), the cancel (or return) after a failed one replayed it and closed the order
   * as if refunded. Every closed order's refund not yet seen to succeed (`refund_confirmed_at`) is
   * asked about through checkout: succeeded is recorded; pending is left to checkout's own sweep and
   * asked about again after a wait (a new refund beside a pending one could pay twice); failed is
   * paid back as a cancel now would — the refund ids from `refund_tries` on, the failed one's
   * reason — and the order records the refund that paid. Progress is in the orders, so a run
   * stopped part-way is resumed by the next, a page at a time. Answers how many were repaid.
   */
  async #repayClosedOnFailedRefunds(now: Date, limit: number): Promise<number> {
    const due = await this.db.query<OrderRow>(
      `SELECT * FROM store_orders
       WHERE refund_confirmed_at IS NULL
         AND ((status = 'cancelled' AND refund_id IS NOT NULL)
              OR (return_status = 'refunded' AND return_refund_id IS NOT NULL))
         AND (refund_retry_at IS NULL OR refund_retry_at <= $1)
       ORDER BY id LIMIT $2`,
      [now, limit],
    );
    let repaid = 0;
    let failure: unknown;
    for (const row of due.rows) {
      try {
        if (await this.#repayClosed(row)) repaid += 1;
      } catch (error) {
        // A refund refused again (the balance still short) has its next try recorded by #refund.
        if (!(error instanceof MilletError)) failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
    return repaid;
  }

  async #repayClosed(row: OrderRow): Promise<boolean> {
    const returned = row.return_status === 'refunded';
    const recordedId = (returned ? row.return_refund_id : row.refund_id)!;
    const idColumn = returned ? 'return_refund_id' : 'refund_id';
    const recorded = await this.checkout.getRefund(recordedId, this.merchantId());
    const now = this.clock.now();
    if (recorded.status === 'succeeded') {
      await this.db.query(
        `UPDATE store_orders SET refund_confirmed_at = $3 WHERE id = $1 AND ${idColumn} = $2`,
        [row.id, recordedId, now],
      );
      return false;
    }
    if (recorded.status === 'pending') {
      await this.db.query('UPDATE store_orders SET refund_retry_at = $2 WHERE id = $1', [
        row.id,
        new Date(now.getTime() + REFUND_RETRY_BASE_MS),
      ]);
      return false;
    }
    const refund = await this.#refund(
      row,
      returned ? 'store.return-refund' : 'store.refund',
      recorded.reason ?? '',
    );
    const at = this.clock.now();
    await this.db.query(
      `UPDATE store_orders SET ${idColumn} = $2, updated_at = $3,
         refund_confirmed_at = CASE WHEN $4::boolean THEN $3::timestamptz END
       WHERE id = $1 AND refund_confirmed_at IS NULL`,
      [row.id, refund.id, at, refund.status === 'succeeded'],
    );
    return refund.status === 'succeeded';
  }

  /**
   * The buyer asks to return a delivered order within seven days of receipt, without a reason
   * (Consumer Rights Protection Law, Art. 25; the window in returns.ts). The whole order is
   * returned. Asked again, the return as it stands.
   */
  async requestReturn(orderId: string, userId: string, reason?: string): Promise<Order> {
    const row = await this.#row(orderId, userId);
    if (row.return_status) return orderFromRow(row);
    const given = reason?.trim() || null;
    if (given && given.length > 256)
      throw new MilletError('VALIDATION_FAILED', 'reason must be at most 256 characters', {
        field: 'reason',
      });
    if (row.status !== 'delivered')
      throw new MilletError(
        'STORE_RETURN_NOT_DELIVERED',
        `Order ${row.id} is ${row.status}; a return can be asked for once it is delivered`,
        { id: row.id, status: row.status },
      );
    const now = this.clock.now();
    const returnBy = returnDeadline(row.delivered_at!);
    if (now > returnBy)
      throw new MilletError(
        'STORE_RETURN_WINDOW_CLOSED',
        `Returns of this order could be asked for until ${returnBy.toISOString()}`,
        { id: row.id, deliveredAt: row.delivered_at!.toISOString(), returnBy: returnBy.toISOString() },
      );
    await this.db.query(
      `UPDATE store_orders SET return_status = 'requested', return_reason = $2, return_requested_at = $3,
         updated_at = $3
       WHERE id = $1 AND status = 'delivered' AND return_status IS NULL`,
      [row.id, given, now],
    );
    return this.get(row.id);
  }

  /**
   * The store has the returned goods back: the order is refunded in full to its original method,
   * once (the refund id is derived from the order). A try that failed after the receipt (checkout
   * away, the store's balance short) is finished by the next. The units stay taken: a returned
   * item is not new stock, so it goes back neither to the flash sale's allotment nor to the SKU.
   */
  async receiveReturn(orderId: string): Promise<Order> {
    requireUuid(orderId, 'id');
    await this.db.query(
      `UPDATE store_orders SET return_status = 'received', return_received_at = $2, updated_at = $2
       WHERE id = $1 AND return_status = 'requested'`,
      [orderId, this.clock.now()],
    );
    const row = await this.#row(orderId);
    if (!row.return_status)
      throw new MilletError('STORE_RETURN_NOT_REQUESTED', `No return was asked for order ${orderId}`, {
        id: orderId,
        status: row.status,
      });
    if (row.return_status === 'refunded') return orderFromRow(row);
    const refund = await this.#refund(
      row,
      'store.return-refund',
      row.return_reason ?? 'seven-day no-reason return',
    );
    const now = this.clock.now();
    await this.db.query(
      `UPDATE store_orders SET return_status = 'refunded', return_refund_id = $2, return_refunded_at = $3,
         updated_at = $3, refund_confirmed_at = $4
       WHERE id = $1 AND return_status = 'received'`,
      [orderId, refund.id, now, refund.status === 'succeeded' ? now : null],
    );
    return this.get(orderId);
  }

  /** Fulfilment, one step at a time: paid → packed → shipped → delivered. */
  async advance(orderId: string, to: 'packed' | 'shipped' | 'delivered'): Promise<Order> {
    // Checked before the UPDATE: a malformed id reached PostgreSQL's uuid cast and was a 500.
    requireUuid(orderId, 'id');
    const step = fulfilment[to];
    const now = this.clock.now();
    const r = await this.db.query<OrderRow>(
      `UPDATE store_orders SET status = $2, ${step.column} = $4, updated_at = $4
       WHERE id = $1 AND status = $3 AND closing_at IS NULL RETURNING *`,
      [orderId, to, step.from, now],
    );
    if (r.rows[0]) return orderFromRow(r.rows[0]);
    const row = await this.#row(orderId);
    if (row.status === to) return orderFromRow(row);
    if (row.closing_at && !closedStatuses.includes(row.status))
      throw new MilletError('STORE_FULFILMENT_OUT_OF_ORDER', `Order ${orderId} is being cancelled`, {
        id: orderId,
        status: row.status,
      });
    throw new MilletError(
      'STORE_FULFILMENT_OUT_OF_ORDER',
      `Order ${orderId} is ${row.status}, not ${step.from}`,
      {
        id: orderId,
        status: row.status,
      },
    );
  }

  /**
   * Delivery against the 3-day target (from payment), per sale. `paid` and `delivered` count the
   * orders kept: a returned order (goods back: received or refunded) is counted in `returned`
   * instead, and one being cancelled (closing, its refund under way) in neither — it is money
   * going back, not a sale (until 2026-12-05 it counted as paid until its refund finished, for up
   * to an hour a try while a refund backed off). On time and late judge every delivery, returned
   * ones included (the return does not undo it), so deliveredOnTime + deliveredLate = delivered +
   * returned. Overdue counts only orders still to be delivered: one being cancelled never will be,
   * and fulfilment refuses to move it, so it is left out (until 2026-12-04 it counted as overdue).
   */
  async fulfilmentReport(saleId: string): Promise<{
    paid: number;
    delivered: number;
    deliveredOnTime: number;
    deliveredLate: number;
    overdue: number;
    returned: number;
  }> {
    const now = this.clock.now();
    const r = await this.db.query<Record<string, bigint>>(
      `SELECT count(*) FILTER (WHERE paid_at IS NOT NULL AND status <> 'cancelled' AND NOT returned
                                 AND NOT closing) AS paid,
              count(*) FILTER (WHERE status = 'delivered' AND NOT returned) AS delivered,
              count(*) FILTER (WHERE returned) AS returned,
              count(*) FILTER (WHERE status = 'delivered' AND delivered_at <= paid_at + interval '3 days') AS on_time,
              count(*) FILTER (WHERE status = 'delivered' AND delivered_at > paid_at + interval '3 days') AS late,
              count(*) FILTER (WHERE status IN ('paid', 'packed', 'shipped') AND NOT closing
                                 AND paid_at + interval '3 days' < $2) AS overdue
       FROM (SELECT *, COALESCE(return_status IN ('received', 'refunded'), false) AS returned,
               closing_at IS NOT NULL AND status NOT IN ('expired', 'cancelled') AS closing
             FROM store_orders WHERE sale_id = $1) o`,
      [saleId, now],
    );
    const x = r.rows[0]!;
    return {
      paid: Number(x.paid),
      delivered: Number(x.delivered),
      deliveredOnTime: Number(x.on_time),
      deliveredLate: Number(x.late),
      overdue: Number(x.overdue),
      returned: Number(x.returned),
    };
  }

  /** Which of these attempts the database already holds (as an order or a refusal). */
  async known(attemptIds: readonly string[]): Promise<Set<string>> {
    if (attemptIds.length === 0) return new Set();
    const r = await this.db.query<{ attempt_id: string }>(
      `SELECT attempt_id FROM store_orders WHERE attempt_id = ANY($1::uuid[])
       UNION SELECT attempt_id FROM store_refused_attempts WHERE attempt_id = ANY($1::uuid[])`,
      [attemptIds],
    );
    return new Set(r.rows.map((x) => x.attempt_id));
  }

  /** Closed orders (expired, cancelled) of a sale, for reconciliation to release again. */
  async closedAttempts(saleId: string): Promise<Array<{ userId: string; attemptId: string }>> {
    const r = await this.db.query<{ user_id: string; attempt_id: string }>(
      `SELECT user_id, attempt_id FROM store_orders WHERE sale_id = $1 AND status IN ('expired', 'cancelled')`,
      [saleId],
    );
    return r.rows.map((x) => ({ userId: x.user_id, attemptId: x.attempt_id }));
  }

  /**
   * What a stock engine that does not hold the sale is rebuilt with: the units no longer in stock
   * (the sale's units taken and the refused attempts' units) and every order's winner, read in one
   * statement so the stock and the winners are of one moment.
   */
  async engineSetup(saleId: string): Promise<Required<Omit<SaleSetup, 'rulesOnly'>>> {
    const r = await this.db.query<{
      kind: 'order' | 'refused' | 'taken';
      user_id: string | null;
      attempt_id: string | null;
      quantity: number | string | bigint;
      accepted_at: Date | string | null;
      closed: boolean;
    }>(
      `SELECT 'order' AS kind, user_id, attempt_id, quantity, accepted_at,
         status IN ('expired', 'cancelled') AS closed
       FROM store_orders WHERE sale_id = $1
       UNION ALL SELECT 'refused', NULL, NULL, quantity, NULL, false FROM store_refused_attempts WHERE sale_id = $1
       UNION ALL SELECT 'taken', NULL, NULL, units_taken, NULL, false FROM store_sales WHERE id = $1`,
      [saleId],
    );
    let alreadyTaken = 0;
    const winners: SaleWinner[] = [];
    for (const x of r.rows) {
      if (x.kind !== 'order') alreadyTaken += Number(x.quantity);
      else
        winners.push({
          userId: x.user_id!,
          attemptId: x.attempt_id!,
          quantity: Number(x.quantity),
          acceptedAt: new Date(x.accepted_at!).getTime(),
          released: x.closed,
        });
    }
    return { alreadyTaken, winners };
  }

  async saleTotals(saleId: string): Promise<{
    unitsTaken: number;
    liveUnits: number;
    refusedUnits: number;
    soldUnits: number;
    returnedUnits: number;
  }> {
    const r = await this.db.query<{
      units_taken: bigint;
      live: bigint | null;
      sold: bigint | null;
      returned: bigint | null;
      refused: bigint | null;
    }>(
      // A returned order stays `delivered` (and its units taken: returned goods are not new stock),
      // so it is told apart by its return: once the goods are back it is no longer a sale. One only
      // asked for is still sold (the buyer may never send it). An order being cancelled (claimed,
      // closing_at, its refund under way) is not sold either, as in the fulfilment report; its
      // units stay live until the cancel closes it.
      `SELECT s.units_taken,
         (SELECT sum(quantity) FROM store_orders WHERE sale_id = s.id AND status NOT IN ('expired', 'cancelled')) AS live,
         (SELECT sum(quantity) FROM store_orders WHERE sale_id = s.id AND status IN ('paid', 'packed', 'shipped', 'delivered')
            AND closing_at IS NULL
            AND return_status IS DISTINCT FROM 'received' AND return_status IS DISTINCT FROM 'refunded') AS sold,
         (SELECT sum(quantity) FROM store_orders WHERE sale_id = s.id AND return_status IN ('received', 'refunded')) AS returned,
         (SELECT sum(quantity) FROM store_refused_attempts WHERE sale_id = s.id) AS refused
       FROM store_sales s WHERE s.id = $1`,
      [saleId],
    );
    const x = r.rows[0];
    if (!x) throw new MilletError('STORE_SALE_NOT_FOUND', `No sale ${saleId}`, { id: saleId });
    return {
      unitsTaken: Number(x.units_taken),
      liveUnits: Number(x.live ?? 0),
      soldUnits: Number(x.sold ?? 0),
      returnedUnits: Number(x.returned ?? 0),
      refusedUnits: Number(x.refused ?? 0),
    };
  }
}
