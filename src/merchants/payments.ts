import { MilletError, canonicalJson, isMilletError, isUuid, type Clock } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import { BatchDeferred, batchEffect, type BatchEffect, type Ledger } from '../ledger/index.ts';
import {
  chargePaymentAllowance,
  paymentAllowanceEffect,
  releasePaymentAllowance,
  usagePeriod,
  type Wallet,
  type WalletUser,
  type WalletUserDirectory,
} from '../wallet/index.ts';
import { activeMerchant, loadMerchant, MERCHANT_CURRENCY } from './merchant-directory.ts';
import { enqueueMerchantEvent, notifyUrlOf, paymentEventPayload } from './merchant-events.ts';
import { paymentBatchHook, type BatchedPayment } from './payment-batch.ts';
import type { PaymentMethodRegistry } from './payment-methods.ts';
import { paymentFromRow, requireIds, type PaymentRow } from './rows.ts';
import type { ListQuery, MerchantWebhooks, PageOf, Payment, PaymentStatus } from './types.ts';

export interface StartPaymentCommand {
  id: string;
  merchantId: string;
  userId: string;
  amount: bigint;
  method: string;
  details: Record<string, string>;
  description: string | null;
  source: 'order' | 'code';
  orderId: string | null;
}

/** What a payment's source does inside the payment's transaction (lock the order, spend the code). */
export type PaymentClaim = (tx: Queryable, paymentId: string) => Promise<void>;

/** Errors that say "we don't know yet", not "the payment failed": the payment stays pending. */
const UNDECIDED = new Set(['LEDGER_UNAVAILABLE', 'DATABASE_UNAVAILABLE']);

/**
 * The listing's cursor is the last payment's (created_at, id). A cursor of the id-only kind handed
 * out before is refused like any other it cannot read (VALIDATION_FAILED, 400), not passed on to SQL.
 */
const encodeListCursor = (at: Date, id: string): string =>
  Buffer.from(`${at.toISOString()}|${id}`).toString('base64url');

function decodeListCursor(cursor: string): { at: Date; id: string } {
  const [at = '', id = '', ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const date = new Date(at);
  if (
    rest.length > 0 ||
    !isUuid(id) ||
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(at) ||
    Number.isNaN(date.getTime())
  )
    throw new MilletError('VALIDATION_FAILED', 'cursor is not one this API handed out', { field: 'cursor' });
  return { at: date, id };
}

/**
 * Payments to merchants, whatever their source (an order, a scanned code) and method. As with the
 * wallet's transfers: the payment row, the source's claim and the charge against the payer's class
 * limit are one transaction, before any money moves; then the method collects the money (ledger
 * entry ids derived from the payment's id, so a retry posts once); then the row is marked
 * succeeded — or failed, giving back the allowance and reopening the order.
 */
export class PaymentService {
  readonly #batchHook: ReturnType<typeof paymentBatchHook>;

  constructor(
    readonly db: Database,
    private readonly clock: Clock,
    private readonly wallet: Wallet,
    private readonly users: WalletUserDirectory,
    private readonly methods: PaymentMethodRegistry,
    private readonly webhooks: MerchantWebhooks,
    private readonly ledger: Ledger,
  ) {
    this.#batchHook = paymentBatchHook(webhooks);
  }

  /**
   * The payer as `startInBatch` judges it, read now: a caller that has other reads to make first
   * (the order) starts this one beside them, saving a round trip of latency. Never rejects unseen:
   * `startInBatch` awaits it.
   */
  readPayer(userId: string): Promise<WalletUser> {
    const read = this.users.getUser(userId);
    read.catch(() => {});
    return read;
  }

  /**
   * The fast path of an order's payment: when its method describes one ledger transfer
   * (`PaymentMethodHandler.transfer`), the payment, the order's claim, the class-limit charge and
   * the caller's `effects` (the request's idempotent response) all commit with the money in the
   * ledger's group-commit batch — one transaction for many payments, with the same rules as
   * `start`. Resolves to undefined when the payment must take the ordinary path (`start`): a
   * method without `transfer`, a payer or order that `start` would refuse (so `start` gives the
   * refusal), or a batch effect that deferred it (the payment or key already exists). Refusals
   * decided in the batch (limit, order paid, expired, cancelled, merchant suspended, insufficient
   * funds) reject with their error, already recorded with the effects.
   */
  async startInBatch(
    command: StartPaymentCommand & { orderId: string; merchantAccountId: string },
    effects: (recorded: () => Payment) => BatchEffect[],
    payerRead: Promise<WalletUser> = this.readPayer(command.userId),
  ): Promise<Payment | undefined> {
    const handler = this.methods.names().includes(command.method)
      ? this.methods.get(command.method)
      : undefined;
    if (!handler?.transfer || command.amount <= 0n) return undefined;
    let transfer;
    let accountClass;
    try {
      handler.validate?.(command.details);
      const payer = await payerRead;
      if (payer.kycStatus !== 'verified' || payer.accountClass === null) return undefined;
      accountClass = payer.accountClass;
      transfer = await handler.transfer({
        paymentId: command.id,
        merchantId: command.merchantId,
        userId: command.userId,
        amount: command.amount,
        currency: MERCHANT_CURRENCY,
        merchantAccountId: command.merchantAccountId,
        details: command.details,
      });
    } catch (error) {
      if (isMilletError(error)) return undefined;
      throw error;
    }
    const at = this.clock.now();
    const allowance = paymentAllowanceEffect({
      userId: command.userId,
      accountClass,
      amount: command.amount,
      at,
    });
    let recorded: PaymentRow | undefined;
    const item: BatchedPayment = {
      id: command.id,
      orderId: command.orderId,
      merchantId: command.merchantId,
      userId: command.userId,
      amount: command.amount,
      currency: MERCHANT_CURRENCY,
      method: command.method,
      details: command.details,
      description: command.description,
      usagePeriod: allowance.period,
      at,
      onRecorded: (row) => (recorded = row),
    };
    try {
      await this.ledger.transfer(transfer, {
        effects: [
          ...effects(() => paymentFromRow(recorded!)),
          batchEffect(this.#batchHook, item),
          allowance.effect,
        ],
      });
    } catch (error) {
      if (error instanceof BatchDeferred) return undefined;
      throw error;
    }
    return paymentFromRow(recorded!);
  }

  async find(id: string): Promise<PaymentRow | undefined> {
    if (!isUuid(id)) return undefined;
    const result = await this.db.query<PaymentRow>('SELECT * FROM merchants_payments WHERE id = $1', [id]);
    return result.rows[0];
  }

  /**
   * A retry of a payment already recorded: its record (a pending one is driven on), after checking
   * the retry asks for the same payment. Undefined when there is none.
   */
  async replay(
    command: Partial<StartPaymentCommand> & { id: string; merchantId: string },
  ): Promise<Payment | undefined> {
    const row = await this.find(command.id);
    if (!row) return undefined;
    const same =
      row.merchant_id === command.merchantId &&
      (command.userId === undefined || row.user_id === command.userId) &&
      (command.amount === undefined || row.amount === command.amount) &&
      (command.method === undefined || row.method === command.method) &&
      (command.orderId === undefined || row.order_id === command.orderId) &&
      (command.source === undefined || row.source === command.source) &&
      // Another card (or other terms) is another payment, not a retry: answering it with the first
      // payment would tell the payer the new card was charged when it was not. Compared here, on the
      // row the replay reads anyway, so the first attempt's path pays nothing for it.
      (command.details === undefined ||
        canonicalJson(row.method_details) === canonicalJson(command.details)) &&
      (command.description === undefined || row.description === command.description);
    if (!same)
      throw new MilletError(
        'IDEMPOTENCY_KEY_REUSED',
        `Payment ${command.id} was already made with other details`,
      );
    return row.status === 'pending' ? this.#collect(row) : paymentFromRow(row);
  }

  /**
   * With `unverifiedPayerBeforeAnyEffect`, the caller vouches it has written nothing for this
   * payment, so an unverified payer's refusal (judged here before any write) is marked
   * `beforeAnyEffect`. Not by default: store checkout has claimed its order by the time it pays.
   */
  async start(
    command: StartPaymentCommand,
    claim: PaymentClaim,
    options: { unverifiedPayerBeforeAnyEffect?: boolean | undefined } = {},
  ): Promise<Payment> {
    requireIds({ id: command.id, merchantId: command.merchantId, userId: command.userId });
    if (command.amount <= 0n) throw new MilletError('AMOUNT_INVALID', 'amount must be positive');
    const handler = this.methods.get(command.method);
    handler.validate?.(command.details);
    const replayed = await this.replay(command);
    if (replayed) return replayed;
    const payer = await this.users.getUser(command.userId);
    if (payer.kycStatus !== 'verified' || payer.accountClass === null)
      throw new MilletError(
        'IDENTITY_NOT_VERIFIED',
        'Verify your identity before making payments',
        undefined,
        {
          beforeAnyEffect: options.unverifiedPayerBeforeAnyEffect === true,
        },
      );
    // Refunds return money to the wallet, whatever the method: the payer needs one.
    await this.wallet.getWallet(command.userId);
    const accountClass = payer.accountClass;
    const now = this.clock.now();
    const row = await this.db.transaction(async (tx) => {
      const merchant = await activeMerchant(tx, command.merchantId);
      const inserted = await tx.query<PaymentRow>(
        `INSERT INTO merchants_payments (id, merchant_id, user_id, order_id, source, method, method_details, amount,
           currency, fee_bps, description, usage_period, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, 'pending', $13, $13)
         ON CONFLICT DO NOTHING RETURNING *`,
        [
          command.id,
          command.merchantId,
          command.userId,
          command.orderId,
          command.source,
          command.method,
          JSON.stringify(command.details),
          command.amount,
          MERCHANT_CURRENCY,
          merchant.feeBps,
          command.description,
          usagePeriod(accountClass, now),
          now,
        ],
      );
      if (!inserted.rows[0]) {
        // The same payment, recorded by a concurrent retry: nothing else to do here.
        const same = await tx.query('SELECT 1 FROM merchants_payments WHERE id = $1', [command.id]);
        if (same.rows.length > 0) return undefined;
        // Otherwise the order already has a payment: its claim says why.
        await claim(tx, command.id);
        throw new MilletError('PAYMENT_ORDER_ALREADY_PAID', 'This order is already paid or being paid');
      }
      await claim(tx, command.id);
      await chargePaymentAllowance(tx, command.userId, accountClass, command.amount, now);
      return inserted.rows[0];
    });
    if (!row) return (await this.replay(command))!;
    return this.#collect(row);
  }

  async #collect(row: PaymentRow): Promise<Payment> {
    const handler = this.methods.get(row.method);
    // A merchant suspended since the payment began still receives it.
    const { ledgerAccountId: merchantAccountId } = await loadMerchant(this.db, row.merchant_id);
    let result;
    try {
      result = await handler.collect({
        paymentId: row.id,
        merchantId: row.merchant_id,
        userId: row.user_id,
        amount: row.amount,
        currency: row.currency,
        merchantAccountId,
        details: row.method_details,
      });
    } catch (error) {
      if (isMilletError(error) && !UNDECIDED.has(error.code))
        await this.fail(row.id, error.code, error.message);
      throw error;
    }
    if (result.status === 'succeeded') return this.complete(row.id);
    if (result.reference)
      await this.db.query('UPDATE merchants_payments SET method_reference = $2 WHERE id = $1', [
        row.id,
        result.reference,
      ]);
    return this.get(row.id);
  }

  /** Marks a pending payment succeeded (its money is in the merchant's account) and its order paid. */
  async complete(id: string): Promise<Payment> {
    const now = this.clock.now();
    await this.db.transaction(async (tx) => {
      const done = await tx.query<PaymentRow>(
        `UPDATE merchants_payments SET status = 'succeeded', succeeded_at = $2, updated_at = $2
          WHERE id = $1 AND status = 'pending' RETURNING *`,
        [id, now],
      );
      const row = done.rows[0];
      if (!row) return;
      if (row.order_id)
        await tx.query(
          `UPDATE merchants_payment_orders SET status = 'paid', updated_at = $3 WHERE id = $1 AND payment_id = $2`,
          [row.order_id, id, now],
        );
      await enqueueMerchantEvent(this.webhooks, tx, {
        merchantId: row.merchant_id,
        type: 'payment.succeeded',
        payload: paymentEventPayload(row),
        notifyUrl: await notifyUrlOf(tx, row.order_id),
      });
    });
    return this.get(id);
  }

  /** Marks a pending payment failed: the allowance goes back and its order can be paid again. */
  async fail(id: string, code: string, message: string): Promise<Payment> {
    const now = this.clock.now();
    await this.db.transaction(async (tx) => {
      const failed = await tx.query<PaymentRow>(
        `UPDATE merchants_payments SET status = 'failed', failure_code = $2, failure_message = $3, updated_at = $4
          WHERE id = $1 AND status = 'pending' RETURNING *`,
        [id, code, message, now],
      );
      const row = failed.rows[0];
      if (!row) return;
      await releasePaymentAllowance(tx, row.user_id, row.usage_period, row.amount);
      if (row.order_id)
        await tx.query(
          `UPDATE merchants_payment_orders SET status = 'open', payment_id = NULL, updated_at = $3
            WHERE id = $1 AND payment_id = $2 AND status = 'pending'`,
          [row.order_id, id, now],
        );
      await enqueueMerchantEvent(this.webhooks, tx, {
        merchantId: row.merchant_id,
        type: 'payment.failed',
        payload: paymentEventPayload(row),
        notifyUrl: await notifyUrlOf(tx, row.order_id),
      });
    });
    return this.get(id);
  }

  /** With a scope, a payment of another merchant or user is not found. */
  async get(id: string, scope: { merchantId?: string; userId?: string } = {}): Promise<Payment> {
    const row = await this.find(id);
    if (
      !row ||
      (scope.merchantId !== undefined && row.merchant_id !== scope.merchantId) ||
      (scope.userId !== undefined && row.user_id !== scope.userId)
    )
      throw new MilletError('PAYMENT_NOT_FOUND', `No payment ${id}`, { id });
    return paymentFromRow(row);
  }

  /**
   * A merchant's payments, newest first: by when they were made, then id, because an id derived
   * from an Idempotency-Key carries no time (index merchants_payments_merchant_created).
   */
  async list(
    merchantId: string,
    query: ListQuery & { status?: PaymentStatus } = {},
  ): Promise<PageOf<Payment>> {
    requireIds({ merchantId });
    const limit = query.limit ?? 50;
    const after = query.cursor ? decodeListCursor(query.cursor) : undefined;
    // Without a cursor the position is left out rather than made optional in SQL, so the planner
    // sees one row comparison it can start the index scan from.
    const result = await this.db.query<PaymentRow>(
      `SELECT * FROM merchants_payments WHERE merchant_id = $1 AND ($2::text IS NULL OR status = $2)
        ${after ? 'AND (created_at, id) < ($4, $5)' : ''}
        ORDER BY created_at DESC, id DESC LIMIT $3`,
      [merchantId, query.status ?? null, limit + 1, ...(after ? [after.at, after.id] : [])],
    );
    const items = result.rows.slice(0, limit).map(paymentFromRow);
    const last = items.at(-1);
    return {
      items,
      nextCursor: result.rows.length > limit && last ? encodeListCursor(last.createdAt, last.id) : null,
    };
  }

  /**
   * A page of the method's payments pending since `before` or earlier, for reconciliation, in
   * (created_at, id) order after the one `after` names (its `at` is created_at as text, which keeps
   * the microseconds a Date would drop).
   */
  async pendingPage(
    method: string,
    before: Date,
    page: { after?: { at: string; id: string }; limit: number },
  ): Promise<Array<PaymentRow & { at: string }>> {
    const result = await this.db.query<PaymentRow & { at: string }>(
      `SELECT *, created_at::text AS at FROM merchants_payments
        WHERE status = 'pending' AND method = $1 AND created_at <= $2
          AND ($3::text IS NULL OR (created_at, id) > ($3::text::timestamptz, $4::uuid))
        ORDER BY created_at, id LIMIT $5`,
      [method, before, page.after?.at ?? null, page.after?.id ?? null, page.limit],
    );
    return result.rows;
  }

  /**
   * Claims, oldest first, up to `limit` payments pending since `before` or earlier that no sweep
   * holds (`next_attempt_at` passed), leasing each until `leaseUntil`: two processes sweeping at
   * once take different rows (SKIP LOCKED), and one left undecided waits out its lease. Methods in
   * `skip` are reconciled their own way.
   */
  async claimPending(
    before: Date,
    leaseUntil: Date,
    options: { skip: readonly string[]; limit: number },
  ): Promise<PaymentRow[]> {
    const now = this.clock.now();
    const result = await this.db.query<PaymentRow>(
      `UPDATE merchants_payments SET next_attempt_at = $3
        WHERE status = 'pending' AND id IN (
          SELECT id FROM merchants_payments
           WHERE status = 'pending' AND created_at <= $1 AND (next_attempt_at IS NULL OR next_attempt_at <= $2)
             AND method <> ALL($4::text[])
           ORDER BY created_at LIMIT $5 FOR UPDATE SKIP LOCKED)
        RETURNING *`,
      [before, now, leaseUntil, options.skip, options.limit],
    );
    return result.rows.sort((a, b) => a.created_at.getTime() - b.created_at.getTime());
  }

  /**
   * Drives a pending payment on as a retry of its request would: the method collects again under
   * the same payment id — for a ledger transfer the same entry id, which the ledger posts once or
   * answers with its first outcome — and the payment is completed, or failed (allowance given back,
   * order reopened) when the refusal is definite. Undecided again, it stays pending and this throws.
   */
  redrive(row: PaymentRow): Promise<Payment> {
    return this.#collect(row);
  }
}
