import { MilletError, derivedId, isMilletError, isUuid, type Clock } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import { addDays, isBusinessDate } from '../jobs/index.ts';
import type { Ledger } from '../ledger/index.ts';
import { platformFeeAccountId } from './merchant-directory.ts';
import type { PayoutRow, Payouts } from './payouts.ts';
import { paymentFee, settlementAmounts } from './settlement-amounts.ts';
import type { Merchant, PayoutStatus, Settlement } from './types.ts';

export interface SettlementRow {
  id: string;
  merchant_id: string;
  business_date: string;
  currency: string;
  payments_count: bigint;
  gross: bigint;
  refunds_count: bigint;
  refunds: bigint;
  fees: bigint;
  net: bigint;
  fees_owed_in: bigint;
  fees_collected: bigint;
  fees_owed_out: bigint;
  shortfall_in: bigint;
  shortfall_out: bigint;
  payout_amount: bigint;
  booked: boolean;
  fee_attempt: number;
  created_at: Date;
}

/**
 * The fee entry of a settlement's `attempt` (the first keeps the original id): an attempt the
 * ledger refused for insufficient funds keeps its id refused, so a retry takes the next one.
 */
export const feeEntryId = (merchantId: string, businessDate: string, attempt: number): string =>
  attempt === 1
    ? settlementIds(merchantId, businessDate).feeEntry
    : derivedId('merchants.settlement.fee', `${merchantId}:${businessDate}:${attempt}`);

/** Ids derived from (merchant, date): a settlement run again names the same rows and ledger entries. */
export const settlementIds = (merchantId: string, businessDate: string) => ({
  settlement: derivedId('merchants.settlement', `${merchantId}:${businessDate}`),
  payout: derivedId('merchants.payout', `${merchantId}:${businessDate}`),
  feeEntry: derivedId('merchants.settlement.fee', `${merchantId}:${businessDate}`),
});

const MAX_REPORT_DAYS = 366;

/**
 * Settles one merchant's business date in the end-of-day close. One transaction takes the day's
 * succeeded payments and refunds that no settlement has taken yet (succeeded by the end of the
 * day), nets them (per-payment fees rounded half-even, see settlement-amounts.ts) and writes the
 * settlement row with its payout (due the next date). Then the ledger: the fees collected
 * merchant_payable → fee_income, and a hold on the payout amount in merchant_payable, both with ids
 * derived from the settlement, and the row is marked booked. Run again, it finds the row and only
 * finishes the booking if a crash interrupted it.
 */
export class Settlements {
  constructor(
    private readonly db: Database,
    private readonly ledger: Ledger,
    private readonly clock: Clock,
    private readonly payouts: Payouts,
  ) {}

  async settleDay(merchant: Merchant, businessDate: string, asOf: Date): Promise<void> {
    // Earlier settlements whose booking the payable could not cover yet, oldest first: refunds
    // made after their day's end but before its close had used the money, which later days bring
    // back (their settlements count those refunds).
    const unbooked = await this.db.query<SettlementRow>(
      `SELECT * FROM merchants_settlements WHERE merchant_id = $1 AND business_date < $2 AND NOT booked
        ORDER BY business_date`,
      [merchant.id, businessDate],
    );
    for (const earlier of unbooked.rows) if (!(await this.#book(merchant, earlier))) break;
    const ids = settlementIds(merchant.id, businessDate);
    const existing = await this.db.query<SettlementRow>('SELECT * FROM merchants_settlements WHERE id = $1', [
      ids.settlement,
    ]);
    const row = existing.rows[0] ?? (await this.#record(merchant, businessDate, asOf));
    if (row && !row.booked) await this.#book(merchant, row);
  }

  async #record(merchant: Merchant, businessDate: string, asOf: Date): Promise<SettlementRow | undefined> {
    const ids = settlementIds(merchant.id, businessDate);
    return this.db.transaction(async (tx) => {
      const params = [merchant.id, businessDate, asOf];
      await tx.query(
        `UPDATE merchants_payments SET settlement_date = $2
          WHERE merchant_id = $1 AND status = 'succeeded' AND settlement_date IS NULL AND succeeded_at <= $3`,
        params,
      );
      await tx.query(
        `UPDATE merchants_refunds SET settlement_date = $2
          WHERE merchant_id = $1 AND status = 'succeeded' AND settlement_date IS NULL AND succeeded_at <= $3`,
        params,
      );
      // Grouped by (amount, rate): every payment in a group has the same fee, so per-payment
      // rounding stays exact without reading each payment.
      const groups = await tx.query<{ amount: bigint; fee_bps: number; n: bigint }>(
        `SELECT amount, fee_bps, count(*)::int8 AS n FROM merchants_payments
          WHERE merchant_id = $1 AND settlement_date = $2 GROUP BY amount, fee_bps`,
        [merchant.id, businessDate],
      );
      const refunds = await tx.query<{ n: bigint; total: bigint }>(
        `SELECT count(*)::int8 AS n, coalesce(sum(amount), 0)::int8 AS total FROM merchants_refunds
          WHERE merchant_id = $1 AND settlement_date = $2`,
        [merchant.id, businessDate],
      );
      let paymentsCount = 0n;
      let gross = 0n;
      let fees = 0n;
      for (const g of groups.rows) {
        paymentsCount += g.n;
        gross += g.amount * g.n;
        fees += paymentFee(g.amount, g.fee_bps) * g.n;
      }
      const refundsCount = refunds.rows[0]!.n;
      if (paymentsCount === 0n && refundsCount === 0n) return undefined;
      const previous = await tx.query<{ fees_owed_out: bigint; shortfall_out: bigint }>(
        `SELECT fees_owed_out, shortfall_out FROM merchants_settlements
          WHERE merchant_id = $1 AND business_date < $2 ORDER BY business_date DESC LIMIT 1`,
        [merchant.id, businessDate],
      );
      const feesOwedIn = previous.rows[0]?.fees_owed_out ?? 0n;
      const shortfallIn = previous.rows[0]?.shortfall_out ?? 0n;
      const amounts = settlementAmounts({
        gross,
        refunds: refunds.rows[0]!.total,
        fees,
        feesOwedIn,
        shortfallIn,
      });
      const now = this.clock.now();
      const inserted = await tx.query<SettlementRow>(
        `INSERT INTO merchants_settlements (id, merchant_id, business_date, currency, payments_count, gross,
           refunds_count, refunds, fees, net, fees_owed_in, fees_collected, fees_owed_out, shortfall_in,
           shortfall_out, payout_amount, booked, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, false, $17) RETURNING *`,
        [
          ids.settlement,
          merchant.id,
          businessDate,
          merchant.currency,
          paymentsCount,
          gross,
          refundsCount,
          refunds.rows[0]!.total,
          fees,
          amounts.net,
          feesOwedIn,
          amounts.feesCollected,
          amounts.feesOwedOut,
          shortfallIn,
          amounts.shortfallOut,
          amounts.payout,
          now,
        ],
      );
      if (amounts.payout > 0n)
        await tx.query(
          `INSERT INTO merchants_payouts (id, settlement_id, merchant_id, business_date, due_date, amount, currency,
             status, attempt, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'scheduled', 1, $8, $8)`,
          [
            ids.payout,
            ids.settlement,
            merchant.id,
            businessDate,
            addDays(businessDate, 1),
            amounts.payout,
            merchant.currency,
            now,
          ],
        );
      return inserted.rows[0]!;
    });
  }

  /**
   * Books a recorded settlement: its fees, then the hold on its payout. False, and the row stays
   * unbooked for a later close, when merchant_payable cannot cover the fees now — refunds made after
   * the day's end (they belong to the next day's settlement) already took money the day left there.
   * The day's figures stay as recorded, to the cent; only the booking waits.
   */
  async #book(merchant: Merchant, row: SettlementRow): Promise<boolean> {
    if (row.fees_collected > 0n && !(await this.#collectFees(merchant, row))) return false;
    if (row.payout_amount > 0n) {
      const payout = await this.db.query<PayoutRow>(
        'SELECT * FROM merchants_payouts WHERE settlement_id = $1',
        [row.id],
      );
      // A payable that cannot cover the payout fails this attempt; the next close retries it.
      if (payout.rows[0]?.status === 'scheduled') await this.payouts.reserve(merchant, payout.rows[0]);
    }
    await this.db.query('UPDATE merchants_settlements SET booked = true WHERE id = $1', [row.id]);
    return true;
  }

  async #collectFees(merchant: Merchant, row: SettlementRow): Promise<boolean> {
    const id = feeEntryId(row.merchant_id, row.business_date, row.fee_attempt);
    const done = await this.ledger.getEntry(id).then(
      () => true,
      (error: unknown) => {
        if (isMilletError(error) && error.code === 'ENTRY_NOT_FOUND') return false;
        throw error;
      },
    );
    if (done) return true;
    // Asked first so that a payable short of the fees does not burn the attempt's id.
    const payable = await this.ledger.getAccount(merchant.ledgerAccountId);
    if (payable.balances.available < row.fees_collected) return false;
    try {
      await this.ledger.transfer({
        id,
        debitAccountId: merchant.ledgerAccountId,
        creditAccountId: platformFeeAccountId(row.currency),
        amount: row.fees_collected,
        metadata: { settlementId: row.id, merchantId: row.merchant_id, businessDate: row.business_date },
      });
      return true;
    } catch (error) {
      if (!isMilletError(error) || error.code !== 'INSUFFICIENT_FUNDS') throw error;
      // A refund took the money meanwhile (or this id was refused before a crash): next attempt.
      await this.db.query(
        'UPDATE merchants_settlements SET fee_attempt = fee_attempt + 1 WHERE id = $1 AND fee_attempt = $2',
        [row.id, row.fee_attempt],
      );
      return false;
    }
  }

  /** The report: a merchant's settlements from `from` to `to` (inclusive), oldest first. */
  async list(merchantId: string, range: { from: string; to: string }): Promise<Settlement[]> {
    for (const [field, value] of Object.entries(range))
      if (!isBusinessDate(value))
        throw new MilletError('VALIDATION_FAILED', `${field} must be a date (YYYY-MM-DD)`, { field });
    // Days between the two, not a date counted on or back: that passes 9999-12-31 or 0001-01-01
    // (a RangeError) for a short range at either end of the calendar.
    const days = (Date.parse(range.to) - Date.parse(range.from)) / 86_400_000 + 1;
    if (range.to < range.from || days > MAX_REPORT_DAYS)
      throw new MilletError(
        'VALIDATION_FAILED',
        `from must not be after to, and the range is at most ${MAX_REPORT_DAYS} days`,
        { field: 'to' },
      );
    if (!isUuid(merchantId)) return [];
    const result = await this.db.query<SettlementRow & PayoutColumns>(
      `SELECT s.*, p.id AS payout_id, p.due_date AS payout_due_date, p.status AS payout_status,
              p.attempt AS payout_attempt, p.failure_code AS payout_failure_code,
              p.failure_message AS payout_failure_message, p.paid_at AS payout_paid_at
         FROM merchants_settlements s LEFT JOIN merchants_payouts p ON p.settlement_id = s.id
        WHERE s.merchant_id = $1 AND s.business_date BETWEEN $2 AND $3 ORDER BY s.business_date`,
      [merchantId, range.from, range.to],
    );
    return result.rows.map(settlementFromRow);
  }
}

interface PayoutColumns {
  payout_id: string | null;
  payout_due_date: string | null;
  payout_status: PayoutStatus | null;
  payout_attempt: number | null;
  payout_failure_code: string | null;
  payout_failure_message: string | null;
  payout_paid_at: Date | null;
}

function settlementFromRow(r: SettlementRow & PayoutColumns): Settlement {
  return {
    id: r.id,
    merchantId: r.merchant_id,
    businessDate: r.business_date,
    currency: r.currency,
    paymentsCount: Number(r.payments_count),
    gross: r.gross,
    refundsCount: Number(r.refunds_count),
    refunds: r.refunds,
    fees: r.fees,
    net: r.net,
    feesOwedIn: r.fees_owed_in,
    feesCollected: r.fees_collected,
    feesOwedOut: r.fees_owed_out,
    shortfallIn: r.shortfall_in,
    shortfallOut: r.shortfall_out,
    payoutAmount: r.payout_amount,
    payout: r.payout_id
      ? {
          id: r.payout_id,
          dueDate: r.payout_due_date!,
          amount: r.payout_amount,
          status: r.payout_status!,
          attempt: Number(r.payout_attempt),
          failureCode: r.payout_failure_code,
          failureMessage: r.payout_failure_message,
          paidAt: r.payout_paid_at,
        }
      : null,
    createdAt: r.created_at,
  };
}
