import {
  MilletError,
  businessDate,
  divRound,
  isMilletError,
  isUuid,
  newId,
  type Clock,
} from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import type { Ledger, Leg } from '../ledger/index.ts';
import { derivedId } from '../core/index.ts';
import {
  DUE_TOTAL,
  PAID_TOTAL,
  allocate,
  allocateInTurn,
  applyAllocation,
  type Allocation,
  type Owed,
} from './allocation.ts';
import { openLineAccount, productAccountId } from './accounts.ts';
import { reinstateSql } from './close-steps.ts';
import { instalmentFee, instalmentOffer, type FeePayer, type InstalmentOffer } from './instalments.ts';
import { limitForScore, type Products } from './products.ts';
import {
  dateText,
  movementFromRow,
  statementColumns,
  statementFromRow,
  type LineRow,
  type MovementRow,
  type StatementRow,
  UNPAID_PURCHASES_SQL,
  unpaidPurchases,
} from './rows.ts';
import type {
  InstalmentPlan,
  Movement,
  MovementKind,
  OfferView,
  PaylaterLine,
  PaylaterProduct,
  PaylaterScoreSource,
  PaylaterStatement,
  PaylaterUserDirectory,
} from './types.ts';

/** Class I payment accounts (light verification) may spend 1,000.00 CNY in their life: the line is capped there. */
export const CLASS_I_LIMIT_CAP = 100_000n;

export interface LinesDeps {
  db: Database;
  /** The money moves; the line opens a receivable account per line. */
  ledger: Ledger;
  clock: Clock;
  products: Products;
  users: PaylaterUserDirectory;
  /** The user's current score: the credit service in the app (see src/app.ts). */
  scores: PaylaterScoreSource;
  wallets: { getWallet(userId: string): Promise<{ ledgerAccountId: string; available: bigint }> };
}

const lineNotFound = (userId: string) =>
  new MilletError('PAYLATER_LINE_NOT_FOUND', 'No pay-later line is open for this user', { userId });

export const movementEntryId = (movementId: string): string => derivedId('paylater.movement', movementId);

export function offerView(o: InstalmentOffer): OfferView {
  return {
    terms: o.terms,
    principal: o.principal,
    fee: o.fee,
    feeRateBp: o.feeRateBp,
    feePayer: o.feePayer,
    apr: o.apr,
    firstPayment: o.periods[0]!.principal + o.periods[0]!.fee,
    laterPayment: o.periods.at(-1)!.principal + o.periods.at(-1)!.fee,
  };
}

/** Lines, purchases, repayments, refunds and instalment plans. */
export class Lines {
  constructor(private readonly d: LinesDeps) {}

  async lineRow(userId: string, q: Queryable = this.d.db, forUpdate = false): Promise<LineRow> {
    if (!isUuid(userId)) throw lineNotFound(userId);
    const r = await q.query<LineRow>(
      `SELECT * FROM paylater_lines WHERE user_id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
      [userId],
    );
    if (!r.rows[0]) throw lineNotFound(userId);
    return r.rows[0];
  }

  async walletOf(userId: string): Promise<{ ledgerAccountId: string; available: bigint } | undefined> {
    try {
      return await this.d.wallets.getWallet(userId);
    } catch (error) {
      if (isMilletError(error) && error.code === 'WALLET_NOT_FOUND') return undefined;
      throw error;
    }
  }

  async open(command: { id?: string; userId: string; productId: string }): Promise<PaylaterLine> {
    const { db, ledger, clock } = this.d;
    const product = await this.d.products.get(command.productId);
    const existing = await db.query<LineRow>('SELECT * FROM paylater_lines WHERE user_id = $1', [
      command.userId,
    ]);
    if (existing.rows[0]) {
      if (command.id && existing.rows[0].id === command.id) return this.view(command.userId);
      throw new MilletError('PAYLATER_LINE_EXISTS', 'This user already has a pay-later line', {
        lineId: existing.rows[0].id,
      });
    }
    const user = await this.d.users.getUser(command.userId);
    // Only reads before these two refusals: once the user has verified (or been scored), the same
    // request may run again. A score too low or an age under 18 is not the user's to fix: stored.
    const beforeAnyEffect = { beforeAnyEffect: true };
    if (user.kycStatus !== 'verified')
      throw new MilletError(
        'PAYLATER_NOT_ELIGIBLE',
        'Verify your identity before opening a pay-later line',
        { reason: 'identity_not_verified' },
        beforeAnyEffect,
      );
    if (!user.isAdult)
      throw new MilletError('PAYLATER_NOT_ELIGIBLE', 'Pay-later lines are for adults (18 and over)', {
        reason: 'underage',
      });
    const score = await this.d.scores.currentScore(command.userId);
    if (score === null)
      throw new MilletError(
        'PAYLATER_NOT_ELIGIBLE',
        'A credit score is needed first (consent and score)',
        { reason: 'no_score' },
        beforeAnyEffect,
      );
    const bands = await this.d.products.bands();
    let limit = limitForScore(bands.bands, score);
    if (user.accountClass === 'I' && limit > CLASS_I_LIMIT_CAP) limit = CLASS_I_LIMIT_CAP;
    if (limit <= 0n)
      throw new MilletError('PAYLATER_NOT_ELIGIBLE', 'The credit score is below every limit band', {
        reason: 'score_too_low',
        score,
      });
    const id = command.id ?? newId();
    const accountId = await openLineAccount(ledger, id, command.userId);
    const now = clock.now();
    await db.query(
      `INSERT INTO paylater_lines (id, user_id, product_id, limit_amount, score, status, statement_day,
         ledger_account_id, opened_at, opened_date)
       VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
      [
        id,
        command.userId,
        product.id,
        limit,
        score,
        product.statementDay,
        accountId,
        now,
        businessDate(clock),
      ],
    );
    const line = await this.lineRow(command.userId);
    if (line.id !== id)
      throw new MilletError('PAYLATER_LINE_EXISTS', 'This user already has a pay-later line', {
        lineId: line.id,
      });
    return this.view(command.userId);
  }

  async view(userId: string): Promise<PaylaterLine> {
    const line = await this.lineRow(userId);
    const product = await this.d.products.get(line.product_id);
    const today = businessDate(this.d.clock);
    const statements = await this.d.db.query<StatementRow>(
      `SELECT ${statementColumns} FROM paylater_statements WHERE line_id = $1 AND (paid_on IS NULL OR statement_date =
         (SELECT max(statement_date) FROM paylater_statements WHERE line_id = $1)) ORDER BY statement_date`,
      [line.id],
    );
    const views = statements.rows.map((r) => statementFromRow(r, today));
    const owedOnStatements = views.filter((s) => s.paidOn === null).reduce((sum, s) => sum + s.unpaid, 0n);
    const billedPrincipalUnpaid = statements.rows
      .filter((r) => r.paid_on === null)
      .reduce((sum, r) => sum + r.principal - r.converted_principal - r.paid_principal, 0n);
    return {
      id: line.id,
      userId: line.user_id,
      productId: line.product_id,
      mode: product.mode,
      status: line.status,
      score: line.score,
      limit: line.limit_amount,
      used: line.principal_outstanding,
      available:
        line.limit_amount > line.principal_outstanding ? line.limit_amount - line.principal_outstanding : 0n,
      unbilled: line.unbilled_principal,
      instalmentPrincipal: line.instalment_principal,
      accruedInterest: line.accrued_interest,
      // Statements' unpaid (principal and charges) + what is not billed yet.
      totalOwed:
        owedOnStatements + line.accrued_interest + line.principal_outstanding - billedPrincipalUnpaid,
      autoRepay: line.auto_repay,
      statementDay: line.statement_day,
      ledgerAccountId: line.ledger_account_id,
      openedAt: line.opened_at,
      bill: views.at(-1) ?? null,
    };
  }

  async statements(
    userId: string,
    query: { limit?: number; cursor?: string } = {},
  ): Promise<{ items: PaylaterStatement[]; nextCursor: string | null }> {
    const line = await this.lineRow(userId);
    const limit = query.limit ?? 50;
    const before = query.cursor && /^\d{4}-\d{2}-\d{2}$/.test(query.cursor) ? query.cursor : '9999-12-31';
    const r = await this.d.db.query<StatementRow>(
      `SELECT ${statementColumns} FROM paylater_statements WHERE line_id = $1 AND statement_date < $2
        ORDER BY statement_date DESC LIMIT $3`,
      [line.id, before, limit + 1],
    );
    const today = businessDate(this.d.clock);
    const items = r.rows.slice(0, limit).map((s) => statementFromRow(s, today));
    return { items, nextCursor: r.rows.length > limit ? items.at(-1)!.statementDate : null };
  }

  async statement(userId: string, statementId: string): Promise<PaylaterStatement> {
    const line = await this.lineRow(userId);
    const r = isUuid(statementId)
      ? await this.d.db.query<StatementRow>(
          `SELECT ${statementColumns} FROM paylater_statements WHERE id = $1 AND line_id = $2`,
          [statementId, line.id],
        )
      : { rows: [] };
    if (!r.rows[0])
      throw new MilletError('PAYLATER_STATEMENT_NOT_FOUND', `No statement ${statementId}`, {
        id: statementId,
      });
    return statementFromRow(r.rows[0], businessDate(this.d.clock));
  }

  async setAutoRepay(userId: string, enabled: boolean): Promise<PaylaterLine> {
    const line = await this.lineRow(userId);
    await this.d.db.query('UPDATE paylater_lines SET auto_repay = $2 WHERE id = $1', [line.id, enabled]);
    return this.view(userId);
  }

  /** Daily mode: the user picks the day of month the line is billed and due (1–28). */
  async setRepaymentDay(userId: string, day: number): Promise<PaylaterLine> {
    const line = await this.lineRow(userId);
    const product = await this.d.products.get(line.product_id);
    if (product.mode !== 'daily')
      throw new MilletError('PAYLATER_NOT_DAILY_MODE', 'Only daily-mode lines choose their repayment date');
    if (!Number.isInteger(day) || day < 1 || day > 28)
      throw new MilletError('VALIDATION_FAILED', 'day is 1–28', { field: 'day' });
    await this.d.db.query('UPDATE paylater_lines SET statement_day = $2 WHERE id = $1', [line.id, day]);
    return this.view(userId);
  }

  // ---------------------------------------------------------------------------------------------
  // Purchases

  /**
   * A checkout on the line: reserves the limit and records the purchase (and its instalment plan)
   * in one transaction, then moves the money line receivable → merchant payable with an entry id
   * derived from the payment's. Idempotent by payment id.
   */
  async purchase(p: {
    paymentId: string;
    userId: string;
    merchantId: string;
    merchantAccountId: string;
    amount: bigint;
    instalments?: { terms: number; feePayer: FeePayer };
  }): Promise<void> {
    const { db, ledger, clock } = this.d;
    const today = businessDate(clock);
    const existing = await db.query<{ line_id: string }>(
      'SELECT line_id FROM paylater_purchases WHERE payment_id = $1',
      [p.paymentId],
    );
    let line: LineRow;
    if (existing.rows[0]) line = await this.lineRow(p.userId);
    else {
      line = await this.lineRow(p.userId);
      const product = await this.d.products.get(line.product_id);
      const offer = p.instalments
        ? instalmentOffer(p.amount, p.instalments.terms, product.instalmentFees, p.instalments.feePayer)
        : undefined;
      await db.transaction(async (tx) => {
        const reserved = await tx.query<LineRow>(
          `UPDATE paylater_lines SET principal_outstanding = principal_outstanding + $2,
             unbilled_principal = unbilled_principal + $3, instalment_principal = instalment_principal + $4
           WHERE id = $1 AND status = 'active' AND principal_outstanding + $2 <= limit_amount RETURNING *`,
          [line.id, p.amount, offer ? 0n : p.amount, offer ? p.amount : 0n],
        );
        if (!reserved.rows[0]) {
          const current = await this.lineRow(p.userId, tx);
          if (current.status !== 'active')
            throw new MilletError('PAYLATER_LINE_SUSPENDED', 'The pay-later line is suspended (overdue)', {
              lineId: line.id,
            });
          const available = current.limit_amount - current.principal_outstanding;
          throw new MilletError('PAYLATER_LIMIT_EXCEEDED', `At most ${available} is available on the line`, {
            available: (available > 0n ? available : 0n).toString(),
          });
        }
        const planId = offer ? derivedId('paylater.plan', p.paymentId) : null;
        await tx.query(
          `INSERT INTO paylater_purchases (payment_id, line_id, amount, plan_id, business_date, created_at)
           VALUES ($1, $2, $3, $4, $5, $6)`,
          [p.paymentId, line.id, p.amount, planId, today, clock.now()],
        );
        if (offer && planId) {
          await insertPlan(
            tx,
            { id: planId, lineId: line.id, source: 'checkout', sourceId: p.paymentId },
            offer,
            clock,
          );
          if (offer.merchantFee > 0n)
            await addCharge(tx, product.id, today, 'merchant_fee', offer.merchantFee);
        }
      });
    }
    try {
      await ledger.transfer({
        id: derivedId('paylater.purchase', p.paymentId),
        debitAccountId: line.ledger_account_id,
        creditAccountId: p.merchantAccountId,
        amount: p.amount,
        metadata: { paymentId: p.paymentId, merchantId: p.merchantId, method: 'pay_later', lineId: line.id },
      });
    } catch (error) {
      if (isMilletError(error) && error.code !== 'LEDGER_UNAVAILABLE') await this.#undoPurchase(p.paymentId);
      throw error;
    }
  }

  async #undoPurchase(paymentId: string): Promise<void> {
    await this.d.db.transaction(async (tx) => {
      const gone = await tx.query<{ line_id: string; amount: bigint; plan_id: string | null }>(
        'DELETE FROM paylater_purchases WHERE payment_id = $1 RETURNING line_id, amount, plan_id',
        [paymentId],
      );
      const row = gone.rows[0];
      if (!row) return;
      if (row.plan_id) {
        await tx.query('DELETE FROM paylater_plan_periods WHERE plan_id = $1', [row.plan_id]);
        await tx.query('DELETE FROM paylater_plans WHERE id = $1', [row.plan_id]);
      }
      await tx.query(
        `UPDATE paylater_lines SET principal_outstanding = principal_outstanding - $2,
           unbilled_principal = unbilled_principal - $3, instalment_principal = instalment_principal - $4 WHERE id = $1`,
        [row.line_id, row.amount, row.plan_id ? 0n : row.amount, row.plan_id ? row.amount : 0n],
      );
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Money back: repayments, auto-repayments, early settlements, refunds

  async #owed(tx: Queryable, line: LineRow, planId?: string): Promise<Owed> {
    const statements = await tx.query<StatementRow>(
      `SELECT ${statementColumns} FROM paylater_statements WHERE line_id = $1 AND paid_on IS NULL
        ORDER BY statement_date FOR UPDATE`,
      [line.id],
    );
    const periods = await tx.query<{
      plan_id: string;
      period: number;
      principal: bigint;
      settled_principal: bigint;
    }>(
      `SELECT pp.plan_id, pp.period, pp.principal, pp.settled_principal FROM paylater_plan_periods pp
         JOIN paylater_plans p ON p.id = pp.plan_id
        WHERE pp.line_id = $1 AND pp.statement_id IS NULL AND ($2::uuid IS NULL OR pp.plan_id = $2)
        ORDER BY p.created_at, p.id, pp.period DESC`,
      [line.id, planId ?? null],
    );
    const billed = await tx.query<{ plan_id: string; statement_id: string; principal: bigint }>(
      `SELECT pp.plan_id, pp.statement_id, pp.principal - pp.settled_principal AS principal
         FROM paylater_plan_periods pp JOIN paylater_statements s ON s.id = pp.statement_id
        WHERE pp.line_id = $1 AND s.paid_on IS NULL AND pp.principal > pp.settled_principal
        ORDER BY s.statement_date, pp.plan_id`,
      [line.id],
    );
    return {
      billed: billed.rows.map((b) => ({
        plan: b.plan_id,
        statement: b.statement_id,
        principal: b.principal,
      })),
      statements: statements.rows.map((s) => ({
        id: s.id,
        penalty: s.penalty - s.paid_penalty,
        fees: s.fees - s.paid_fees,
        interest: s.interest - s.paid_interest,
        principal: s.principal - s.converted_principal - s.paid_principal,
        purchases: unpaidPurchases(s),
      })),
      accrued: line.accrued_interest,
      unbilled: line.unbilled_principal,
      periods: periods.rows.map((x) => ({
        plan: x.plan_id,
        period: x.period,
        principal: x.principal - x.settled_principal,
      })),
    };
  }

  /**
   * Records where `amount` goes (in the allocation order) and applies it to the line's tables in one
   * transaction, then posts the ledger entry; a refused entry takes the allocation back. A retry of
   * the same id posts the recorded allocation again (same ledger payload), so it moves money once.
   */
  async move(m: {
    id: string;
    userId: string;
    kind: MovementKind;
    amount: bigint;
    businessDate: string;
    /** The account the money comes from (the wallet; the merchant's payable for refunds). */
    sourceAccountId: string;
    /** Refunds: where what no debt takes goes. */
    restAccountId?: string;
    allocateWith: (owed: Owed, line: LineRow) => Allocation;
    /**
     * Runs once, in the transaction that marks the movement succeeded (after its ledger entry): what
     * must follow only a movement that happened — not a refused one, and not again on a retry.
     */
    onSucceeded?: (tx: Queryable, movement: MovementRow, line: LineRow) => Promise<void>;
  }): Promise<Movement> {
    const { db } = this.d;
    if (m.amount <= 0n) throw new MilletError('AMOUNT_INVALID', 'amount must be positive');
    const found = await db.query<MovementRow>('SELECT * FROM paylater_movements WHERE id = $1', [m.id]);
    let row = found.rows[0];
    const line = await this.lineRow(m.userId);
    const reused = () =>
      new MilletError('IDEMPOTENCY_KEY_REUSED', `Movement ${m.id} was already made with other details`);
    const isRetry = (r: MovementRow) => {
      if (r.line_id !== line.id || r.kind !== m.kind || r.amount !== m.amount) throw reused();
      return true;
    };
    if (row) {
      if (isRetry(row) && row.status !== 'pending') return movementFromRow(row);
    } else {
      let raced = false;
      row = await db.transaction(async (tx) => {
        const locked = await this.lineRow(m.userId, tx, true);
        // The same id sent twice at once: the second waited for the line's lock, and the first's
        // movement is committed by now. It is a retry (answered below), not a second allocation —
        // which its insert would refuse with a raw unique violation, a 500.
        const first = await tx.query<MovementRow>('SELECT * FROM paylater_movements WHERE id = $1', [m.id]);
        if (first.rows[0]) {
          raced = true;
          return first.rows[0];
        }
        const allocation = m.allocateWith(await this.#owed(tx, locked), locked);
        if (allocation.rest > 0n && !m.restAccountId)
          throw new MilletError(
            'PAYLATER_REPAYMENT_EXCEEDS_BALANCE',
            `At most ${m.amount - allocation.rest} is owed`,
            { owed: (m.amount - allocation.rest).toString() },
          );
        await applyAllocation(tx, locked.id, allocation.items, 1n, m.businessDate);
        const inserted = await tx.query<MovementRow>(
          `INSERT INTO paylater_movements (id, line_id, kind, amount, to_wallet, allocation, status, business_date, created_at)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, 'pending', $7, $8) ON CONFLICT (id) DO NOTHING RETURNING *`,
          [
            m.id,
            locked.id,
            m.kind,
            m.amount,
            allocation.rest,
            JSON.stringify({
              items: allocation.items,
              principal: allocation.principal.toString(),
              charges: allocation.charges.toString(),
            }),
            m.businessDate,
            this.d.clock.now(),
          ],
        );
        // Taken meanwhile by a movement of another line (whose lock this one does not wait for).
        if (!inserted.rows[0]) throw reused();
        return inserted.rows[0];
      });
      if (raced && isRetry(row) && row.status !== 'pending') return movementFromRow(row);
    }
    const principal = BigInt(row.allocation.principal);
    const charges = BigInt(row.allocation.charges);
    const legs: Leg[] = [{ accountId: m.sourceAccountId, side: 'debit', amount: row.amount }];
    if (principal > 0n) legs.push({ accountId: line.ledger_account_id, side: 'credit', amount: principal });
    if (charges > 0n)
      legs.push({ accountId: productAccountId(line.product_id, 'charges'), side: 'credit', amount: charges });
    if (row.to_wallet > 0n && m.restAccountId)
      legs.push({ accountId: m.restAccountId, side: 'credit', amount: row.to_wallet });
    try {
      await this.d.ledger.postEntry({
        id: movementEntryId(row.id),
        legs,
        metadata: { paylaterMovementId: row.id, kind: row.kind, lineId: line.id },
      });
    } catch (error) {
      if (isMilletError(error) && error.code !== 'LEDGER_UNAVAILABLE') {
        const pending = row;
        await db.transaction(async (tx) => {
          const failed = await tx.query(
            `UPDATE paylater_movements SET status = 'failed', failure_code = $2 WHERE id = $1 AND status = 'pending'`,
            [pending.id, error.code],
          );
          if (failed.rowCount > 0)
            await applyAllocation(
              tx,
              pending.line_id,
              pending.allocation.items,
              -1n,
              dateText(pending.business_date),
            );
        });
      }
      throw error;
    }
    const pending = row;
    const done = await db.transaction(async (tx) => {
      const r = await tx.query<MovementRow>(
        `UPDATE paylater_movements SET status = 'succeeded' WHERE id = $1 AND status = 'pending' RETURNING *`,
        [pending.id],
      );
      if (r.rows[0] && m.onSucceeded) await m.onSucceeded(tx, r.rows[0], line);
      // Paying the minimum that suspended the line reinstates it now, not at the next close.
      if (r.rows[0] && line.status === 'suspended')
        await tx.query(reinstateSql, [dateText(r.rows[0].business_date), line.id]);
      return r;
    });
    return movementFromRow(done.rows[0] ?? { ...row, status: 'succeeded' });
  }

  /**
   * Repays any amount at any time from the wallet: penalties, fees and interest, then principal.
   * `billedOnly` (auto-repayment) takes only what statements ask: the user never agreed to have the
   * close repay unbilled spending, so an amount above that is refused rather than spilled onto it.
   */
  async repay(c: {
    id: string;
    userId: string;
    amount: bigint;
    businessDate?: string;
    kind?: MovementKind;
    billedOnly?: boolean;
  }) {
    const wallet = await this.d.wallets.getWallet(c.userId);
    return this.move({
      id: c.id,
      userId: c.userId,
      kind: c.kind ?? 'repayment',
      amount: c.amount,
      businessDate: c.businessDate ?? businessDate(this.d.clock),
      sourceAccountId: wallet.ledgerAccountId,
      // Beyond everything billed and unbilled, a repayment pays future instalment principal off
      // early (last month first; the fees of months it clears are never billed), as lending takes
      // any prepayment up to the payoff: the line's total owed is then exactly what pays it off.
      allocateWith: (owed) =>
        c.billedOnly
          ? allocate({ ...owed, accrued: 0n, unbilled: 0n, periods: [] }, c.amount)
          : allocate(owed, c.amount, { includeFuture: true }),
    });
  }

  /**
   * A refund of a pay-later purchase lowers what the user owes for that purchase first, then other
   * principal, and only what no debt takes goes to the wallet:
   * 1. the purchase's own debt — an instalment purchase's months not billed yet (last month first,
   *    so their fees are never billed) and then its months billed on unpaid statements; a purchase
   *    not billed yet, the unbilled principal; a billed one, the principal still unpaid on the
   *    statement that billed it or, if that statement was turned into instalments, that plan's
   *    months as for an instalment purchase;
   * 2. the rest, other principal: statements oldest first, unbilled, future instalments;
   * 3. the wallet.
   * Interest, fees and penalties already charged stay owed (the credit was used until the refund).
   * Of merchant-paid (interest-free) instalments, the merchant gets back the fee for the part
   * refunded (`returnMerchantFee`).
   */
  async refund(c: {
    refundId: string;
    paymentId: string;
    userId: string;
    amount: bigint;
    merchantAccountId: string;
  }) {
    const purchase = await this.d.db.query<{
      plan_id: string | null;
      statement_id: string | null;
      converted: boolean | null;
    }>(
      `SELECT u.plan_id, u.statement_id, s.converted_principal > 0 AS converted FROM paylater_purchases u
         LEFT JOIN paylater_statements s ON s.id = u.statement_id WHERE u.payment_id = $1`,
      [c.paymentId],
    );
    const p = purchase.rows[0];
    const wallet = await this.d.wallets.getWallet(c.userId);
    // A statement's instalment plan has an id derived from the statement's (convertStatement).
    const plan = p?.plan_id ?? (p?.statement_id ? derivedId('paylater.plan', p.statement_id) : null);
    const nothing: Owed = { statements: [], accrued: 0n, unbilled: 0n, periods: [] };
    const principalOnly = { principalOnly: true, includeFuture: true };
    return this.move({
      id: derivedId('paylater.refund', c.refundId),
      userId: c.userId,
      kind: 'refund',
      amount: c.amount,
      businessDate: businessDate(this.d.clock),
      sourceAccountId: c.merchantAccountId,
      restAccountId: wallet.ledgerAccountId,
      onSucceeded: (tx, movement, line) =>
        p?.plan_id
          ? returnMerchantFee(tx, {
              planId: p.plan_id,
              productId: line.product_id,
              refunded: c.amount,
              businessDate: dateText(movement.business_date),
            })
          : Promise.resolve(),
      allocateWith: (owed) => {
        const allocation = allocateInTurn(owed, c.amount, [
          // Not billed yet: the unbilled principal.
          (left) => ({
            owed: { ...nothing, unbilled: p && !p.statement_id && !p.plan_id ? left.unbilled : 0n },
            options: principalOnly,
          }),
          // Billed: the statement that billed it, up to its purchases still unpaid (recorded as theirs,
          // so its instalment months never look paid and split again) — unless that statement's
          // purchases went into a plan (what principal it has left is other plans' months).
          (left) => ({
            owed: {
              ...nothing,
              statements: p?.converted
                ? []
                : left.statements
                    .filter((s) => s.id === p?.statement_id)
                    .map((s) => ({ ...s, principal: minOf(s.principal, s.purchases ?? s.principal) })),
            },
            options: principalOnly,
            mark: (item) => (item.t === 'statement' ? { ...item, own: true } : item),
          }),
          // Its plan's months not billed yet, last first.
          (left) => ({
            owed: { ...nothing, periods: left.periods.filter((x) => x.plan === plan) },
            options: principalOnly,
          }),
          // Its plan's months billed on statements still unpaid, up to what each billed.
          (left) => {
            const cap = new Map<string, bigint>();
            for (const b of owed.billed ?? [])
              if (b.plan === plan) cap.set(b.statement, (cap.get(b.statement) ?? 0n) + b.principal);
            return {
              owed: {
                ...nothing,
                statements: left.statements
                  .filter((s) => cap.has(s.id))
                  .map((s) => ({
                    ...s,
                    principal: s.principal < cap.get(s.id)! ? s.principal : cap.get(s.id)!,
                  })),
              },
              options: principalOnly,
            };
          },
          // Then any other principal.
          (left) => ({ owed: left, options: principalOnly }),
        ]);
        // Recorded on the purchase: a purchase made after midnight and refunded before the close of
        // the day before is held back from that day's statement only for what the refund left of it.
        if (!p || p.statement_id || p.plan_id) return allocation;
        let own = true;
        return {
          ...allocation,
          items: allocation.items.map((i) => {
            // Only the first unbilled item is this purchase's own; a later one (the excess) is not.
            if (i.t !== 'line' || i.c !== 'unbilled' || !own) return i;
            own = false;
            return { ...i, p: c.paymentId };
          }),
        };
      },
    });
  }

  /** Pays off an instalment plan's future principal now; the fees of the months not yet billed are waived. */
  async settlePlan(c: { id: string; userId: string; planId: string }): Promise<Movement> {
    const line = await this.lineRow(c.userId);
    const r = await this.d.db.query<{ rest: bigint }>(
      `SELECT coalesce(sum(pp.principal - pp.settled_principal), 0)::int8 AS rest FROM paylater_plan_periods pp
        JOIN paylater_plans p ON p.id = pp.plan_id
       WHERE pp.plan_id = $1 AND p.line_id = $2 AND pp.statement_id IS NULL`,
      [isUuid(c.planId) ? c.planId : null, line.id],
    );
    const rest = r.rows[0]!.rest;
    if (rest <= 0n)
      throw new MilletError('PAYLATER_PLAN_NOT_FOUND', `No instalment plan ${c.planId} with months left`, {
        id: c.planId,
      });
    const wallet = await this.d.wallets.getWallet(c.userId);
    return this.move({
      id: c.id,
      userId: c.userId,
      kind: 'settlement',
      amount: rest,
      businessDate: businessDate(this.d.clock),
      sourceAccountId: wallet.ledgerAccountId,
      allocateWith: (owed) =>
        allocate(
          { ...owed, statements: [], unbilled: 0n, periods: owed.periods.filter((x) => x.plan === c.planId) },
          rest,
          { principalOnly: true, includeFuture: true },
        ),
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Instalments on a statement

  /**
   * A statement and the part of it that may be turned into instalments: its new purchases — not the
   * instalment months it bills (already in a plan with a fee: splitting them again would charge a
   * second fee on them, which Huabei does not), nor fees, interest or penalties.
   */
  async #convertible(
    userId: string,
    statementId: string,
  ): Promise<{ s: PaylaterStatement; product: PaylaterProduct; principal: bigint }> {
    const s = await this.statement(userId, statementId);
    const line = await this.lineRow(userId);
    const rows = await this.d.db.query<StatementRow>(
      `SELECT ${statementColumns} FROM paylater_statements WHERE id = $1`,
      [s.id],
    );
    const row = rows.rows[0]!;
    const product = await this.d.products.get(line.product_id);
    const today = businessDate(this.d.clock);
    const principal = unpaidPurchases(row);
    if (s.paidOn !== null || today > s.dueDate)
      throw new MilletError(
        'PAYLATER_STATEMENT_NOT_CONVERTIBLE',
        'Only a statement not paid off, up to its due date, can be turned into instalments',
        { id: s.id },
      );
    if (principal <= 0n)
      throw new MilletError(
        'PAYLATER_STATEMENT_NOT_CONVERTIBLE',
        'This statement has no unpaid purchases to turn into instalments (instalment months, fees and interest are not)',
        { id: s.id, reason: 'nothing_convertible' },
      );
    return { s, product, principal };
  }

  async statementOffers(userId: string, statementId: string): Promise<OfferView[]> {
    const { product, principal } = await this.#convertible(userId, statementId);
    return Object.keys(product.instalmentFees)
      .map(Number)
      .sort((a, b) => a - b)
      .map((terms) => offerView(instalmentOffer(principal, terms, product.instalmentFees)));
  }

  /**
   * Turns a statement's new purchases into `terms` monthly instalments (billed from the next
   * statement); the instalment months, fees, interest and penalties it bills stay due on it.
   */
  async convertStatement(c: {
    id?: string;
    userId: string;
    statementId: string;
    terms: number;
  }): Promise<InstalmentPlan> {
    const planId = derivedId('paylater.plan', c.statementId);
    const earlier = await this.#statementPlan(c, planId);
    if (earlier) return earlier;
    try {
      const { s, product, principal } = await this.#convertible(c.userId, c.statementId);
      const offer = instalmentOffer(principal, c.terms, product.instalmentFees);
      const today = businessDate(this.d.clock);
      // What principal stays (the instalment months) asks the statement's usual share as its minimum.
      const minPrincipal = halfEven(
        (s.principal - s.convertedPrincipal - principal) * BigInt(product.minPaymentBp),
        10_000n,
      );
      await this.d.db.transaction(async (tx) => {
        // The line first, as repayments and refunds lock it (then its statements): the other order deadlocks.
        await tx.query('SELECT 1 FROM paylater_lines WHERE id = $1 FOR UPDATE', [s.lineId]);
        // The row lock orders this after any repayment or refund already applying to the statement;
        // one that changed what is convertible makes the condition fail (look again).
        const updated = await tx.query(
          `UPDATE paylater_statements SET converted_principal = converted_principal + $2,
             min_payment = $3 + fees + interest + penalty
           WHERE id = $1 AND paid_on IS NULL AND ${UNPAID_PURCHASES_SQL} = $2`,
          [s.id, principal, minPrincipal],
        );
        if (updated.rowCount === 0)
          throw new MilletError('PAYLATER_STATEMENT_NOT_CONVERTIBLE', 'The statement changed; look again', {
            id: s.id,
          });
        // What was repaid before counts toward the new minimum and due amount, as any repayment does.
        await tx.query(
          `UPDATE paylater_statements SET
             min_paid_on = CASE WHEN ${PAID_TOTAL} >= min_payment THEN coalesce(min_paid_on, $2::date) END,
             paid_on = CASE WHEN ${PAID_TOTAL} >= ${DUE_TOTAL} THEN $2::date END
           WHERE id = $1`,
          [s.id, today],
        );
        await tx.query(
          'UPDATE paylater_lines SET instalment_principal = instalment_principal + $2 WHERE id = $1',
          [s.lineId, principal],
        );
        await insertPlan(
          tx,
          { id: planId, lineId: s.lineId, source: 'statement', sourceId: s.id },
          offer,
          this.d.clock,
        );
      });
    } catch (error) {
      // The same request sent twice at once: the second found the statement converted by the first
      // (nothing left to convert, or its update matched nothing) and is answered with that plan, as
      // a later retry would be.
      const raced = isMilletError(error) ? await this.#statementPlan(c, planId) : undefined;
      if (!raced) throw error;
      return raced;
    }
    return this.plan(c.userId, planId);
  }

  /**
   * The plan a statement was already turned into, for a retry: asking for other terms is not a
   * retry, and answering it with the plan of the first terms would show the user a schedule they
   * did not ask for.
   */
  async #statementPlan(
    c: { userId: string; statementId: string; terms: number },
    planId: string,
  ): Promise<InstalmentPlan | undefined> {
    // Only the caller's own plan is a retry: another user's converted statement must go on to be
    // "statement not found" like any statement that is not theirs, not reveal that it has a plan.
    const line = await this.lineRow(c.userId);
    const done = await this.d.db.query<{ terms: number }>(
      'SELECT terms FROM paylater_plans WHERE id = $1 AND line_id = $2',
      [planId, line.id],
    );
    if (!done.rows[0]) return undefined;
    const plan = await this.plan(c.userId, planId);
    if (done.rows[0].terms !== c.terms)
      throw new MilletError(
        'PAYLATER_STATEMENT_NOT_CONVERTIBLE',
        `This statement is already in ${done.rows[0].terms} monthly instalments`,
        { id: c.statementId, planId, terms: done.rows[0].terms },
      );
    return plan;
  }

  async plan(userId: string, planId: string): Promise<InstalmentPlan> {
    const line = await this.lineRow(userId);
    const plans = await this.plans(line.id, planId);
    if (!plans[0])
      throw new MilletError('PAYLATER_PLAN_NOT_FOUND', `No instalment plan ${planId}`, { id: planId });
    return plans[0];
  }

  async listPlans(userId: string): Promise<InstalmentPlan[]> {
    const line = await this.lineRow(userId);
    return this.plans(line.id);
  }

  async plans(lineId: string, planId?: string): Promise<InstalmentPlan[]> {
    if (planId !== undefined && !isUuid(planId)) return [];
    const plans = await this.d.db.query<{
      id: string;
      line_id: string;
      source: 'checkout' | 'statement';
      source_id: string;
      principal: bigint;
      fee_total: bigint;
      fee_rate_bp: number;
      fee_payer: FeePayer;
      terms: number;
      apr_percent: string;
    }>(
      'SELECT * FROM paylater_plans WHERE line_id = $1 AND ($2::uuid IS NULL OR id = $2) ORDER BY created_at, id',
      [lineId, planId ?? null],
    );
    const periods = await this.d.db.query<{
      plan_id: string;
      period: number;
      principal: bigint;
      fee: bigint;
      settled_principal: bigint;
      statement_id: string | null;
    }>('SELECT * FROM paylater_plan_periods WHERE line_id = $1 ORDER BY plan_id, period', [lineId]);
    return plans.rows.map((p) => ({
      id: p.id,
      lineId: p.line_id,
      source: p.source,
      sourceId: p.source_id,
      principal: p.principal,
      fee: p.fee_total,
      feeRateBp: p.fee_rate_bp,
      feePayer: p.fee_payer,
      terms: p.terms,
      aprPercent: p.apr_percent,
      periods: periods.rows
        .filter((x) => x.plan_id === p.id)
        .map((x) => ({
          period: x.period,
          principal: x.principal,
          fee: x.fee,
          settledPrincipal: x.settled_principal,
          statementId: x.statement_id,
        })),
    }));
  }
}

async function insertPlan(
  tx: Queryable,
  plan: { id: string; lineId: string; source: 'checkout' | 'statement'; sourceId: string },
  offer: InstalmentOffer,
  clock: Clock,
): Promise<void> {
  await tx.query(
    `INSERT INTO paylater_plans (id, line_id, source, source_id, principal, fee_total, fee_rate_bp, terms, fee_payer,
       apr_percent, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [
      plan.id,
      plan.lineId,
      plan.source,
      plan.sourceId,
      offer.principal,
      offer.fee,
      offer.feeRateBp,
      offer.terms,
      offer.feePayer,
      offer.apr.percent,
      clock.now(),
    ],
  );
  for (const p of offer.periods)
    await tx.query(
      `INSERT INTO paylater_plan_periods (plan_id, period, line_id, principal, fee) VALUES ($1, $2, $3, $4, $5)`,
      [plan.id, p.period, plan.lineId, p.principal, p.fee],
    );
}

/**
 * Gives the merchant back the fee of a merchant-paid plan for the part of the purchase refunded:
 * the fee × everything refunded so far / the principal, half-even, less what went back before —
 * cumulative, so rounding never drifts and a full refund returns exactly the fee charged. The plan
 * row is locked, so concurrent refunds add up and together never pass the fee. The close books it
 * (merchant fee receivable → fees returned). A plan the user pays fees on is left alone: those fees
 * are the user's, and a refund already waives the ones of months it clears.
 */
async function returnMerchantFee(
  tx: Queryable,
  r: { planId: string; productId: string; refunded: bigint; businessDate: string },
): Promise<void> {
  const plan = await tx.query<{
    principal: bigint;
    fee_rate_bp: number;
    merchant_refunded: bigint;
    merchant_fee_refunded: bigint;
  }>(
    `SELECT principal, fee_rate_bp, merchant_refunded, merchant_fee_refunded FROM paylater_plans
      WHERE id = $1 AND fee_payer = 'merchant' FOR UPDATE`,
    [r.planId],
  );
  const row = plan.rows[0];
  if (!row) return;
  // The plan stores the user's fee (0 here); the merchant's is the same split of the same rate.
  const fee = instalmentFee(row.principal, row.fee_rate_bp);
  const sum = row.merchant_refunded + r.refunded;
  const refunded = sum < row.principal ? sum : row.principal;
  const feeBack = refunded === row.principal ? fee : halfEven(fee * refunded, row.principal);
  const more = feeBack - row.merchant_fee_refunded;
  await tx.query(
    'UPDATE paylater_plans SET merchant_refunded = $2, merchant_fee_refunded = $3 WHERE id = $1',
    [r.planId, refunded, more > 0n ? feeBack : row.merchant_fee_refunded],
  );
  if (more > 0n) await addCharge(tx, r.productId, r.businessDate, 'merchant_fee_refund', more);
}

/** What the close books per product and day; `merchant_fee_refund` is merchant fees given back. */
export type ChargeKind = 'interest' | 'penalty' | 'fee' | 'merchant_fee' | 'merchant_fee_refund';

/** Adds to a product's day of charges (booked to the ledger in the close, one entry per kind). */
export async function addCharge(
  tx: Queryable,
  productId: string,
  date: string,
  kind: ChargeKind,
  amount: bigint,
): Promise<void> {
  await tx.query(
    `INSERT INTO paylater_charge_days (product_id, business_date, kind, amount) VALUES ($1, $2, $3, $4)
     ON CONFLICT (product_id, business_date, kind) DO UPDATE SET amount = paylater_charge_days.amount + excluded.amount`,
    [productId, date, kind, amount],
  );
}

export const halfEven = (n: bigint, d: bigint) => divRound(n, d, 'half_even');

const minOf = (a: bigint, b: bigint) => (a < b ? a : b);
