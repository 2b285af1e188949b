import { MilletError, businessDateOf, derivedId, isUuid, newId, type Clock } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import { isBusinessDate } from '../jobs/index.ts';
import type { Ledger } from '../ledger/index.ts';
import type { PartnerDirectory } from './partners.ts';
import {
  PartnerHttpError,
  reportResponseSchema,
  signedPost,
  type PartnerHttp,
  type PartnerReportRow,
} from './protocol.ts';

/**
 * Monthly settlement per partner (DESIGN §2.6): the platform's own records of the month (the
 * callbacks it received, business time Asia/Shanghai) against the partner's report, discrepancies
 * listed; the invoice — the fees the platform's records give — posted to the ledger as a
 * receivable (partner receivable ← marketplace income); payments recorded against it.
 */
export interface SettlementLine {
  applicationId: string;
  approved: boolean;
  disbursedAmount: bigint;
  repaidInterest: bigint;
  feeFen: bigint;
}

export interface Discrepancy {
  applicationId: string;
  field:
    | 'approved'
    | 'disbursed_amount'
    | 'repaid_interest'
    | 'missing_at_partner'
    | 'missing_at_platform'
    | 'duplicate_at_partner'
    | 'invalid_id_at_partner';
  platform: string | null;
  partner: string | null;
}

export interface Settlement {
  id: string;
  partnerId: string;
  month: string;
  platform: { applications: number; approved: number; disbursedFen: bigint; repaidInterestFen: bigint };
  partner: { applications: number; approved: number; disbursedFen: bigint; repaidInterestFen: bigint };
  discrepancies: Discrepancy[];
  invoiceFen: bigint;
  invoiceEntryId: string | null;
  paidFen: bigint;
  status: 'invoiced' | 'paid' | 'nothing_due';
  createdAt: Date;
}

export interface SettlementDeps {
  db: Database;
  clock: Clock;
  ledger: Ledger;
  partners: PartnerDirectory;
  /** Fetches the partner's report: only from addresses the policy allows. */
  http: PartnerHttp;
  /** The platform's bank account mirror that a partner's payment arrives in (the wallet's). */
  bankClearingAccountId: () => string;
}

export const receivableAccountId = (partnerId: string) => derivedId('marketplace', `receivable:${partnerId}`);
export const incomeAccountId = () => derivedId('marketplace', 'income');

export async function ensureMarketplaceAccounts(ledger: Ledger, partnerId?: string): Promise<void> {
  await ledger.openAccount({
    id: incomeAccountId(),
    currency: 'CNY',
    code: 'marketplace_income',
    bound: { kind: 'credit_only' },
    metadata: { module: 'marketplace' },
  });
  if (partnerId)
    await ledger.openAccount({
      id: receivableAccountId(partnerId),
      currency: 'CNY',
      code: 'marketplace_receivable',
      bound: { kind: 'no_overcredit' },
      metadata: { module: 'marketplace', partner_id: partnerId },
    });
}

const MIN_YEAR = 2000;
const MAX_YEAR = 2999;

/**
 * A settlement month: YYYY-MM in a range the date arithmetic below holds for (a year like 9999
 * would make its next month 10000-01, which is no date).
 */
export function checkMonth(month: string): void {
  const m = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(month);
  const year = m ? Number(m[1]) : 0;
  if (year < MIN_YEAR || year > MAX_YEAR)
    throw new MilletError('VALIDATION_FAILED', `month must be YYYY-MM, ${MIN_YEAR}-01 to ${MAX_YEAR}-12`, {
      field: 'month',
    });
}

const monthBounds = (month: string): [Date, Date] => {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const next = m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
  return [new Date(`${month}-01T00:00:00+08:00`), new Date(`${next}-01T00:00:00+08:00`)];
};

/** The platform's records of one partner's month, per application. */
export async function platformLines(
  db: Database,
  partnerId: string,
  month: string,
): Promise<SettlementLine[]> {
  const [from, to] = monthBounds(month);
  const { rows } = await db.query<{
    application_id: string;
    approved: boolean;
    disbursed: bigint | null;
    interest: bigint | null;
    fee: bigint | null;
  }>(
    `SELECT application_id,
            bool_or(type = 'approved') AS approved,
            sum(amount) FILTER (WHERE type = 'disbursed') AS disbursed,
            sum(interest) FILTER (WHERE type = 'repaid') AS interest,
            sum(fee_fen) AS fee
       FROM marketplace_callbacks
      WHERE partner_id = $1 AND received_at >= $2 AND received_at < $3
      GROUP BY application_id ORDER BY application_id`,
    [partnerId, from, to],
  );
  return rows.map((r) => ({
    applicationId: r.application_id,
    approved: r.approved,
    disbursedAmount: BigInt(r.disbursed ?? 0n),
    repaidInterest: BigInt(r.interest ?? 0n),
    feeFen: BigInt(r.fee ?? 0n),
  }));
}

/**
 * Compares per application; a row present on one side only is listed as missing on the other. A
 * report has one row per application: further rows for one are listed as duplicates (the partner's
 * totals count them), and the first is the one compared.
 */
export function reconcile(
  platform: readonly SettlementLine[],
  partner: readonly PartnerReportRow[],
): Discrepancy[] {
  const ours = new Map(platform.map((l) => [l.applicationId, l]));
  const theirs = new Map<string, PartnerReportRow>();
  const copies = new Map<string, number>();
  for (const r of partner) {
    copies.set(r.application_id, (copies.get(r.application_id) ?? 0) + 1);
    if (!theirs.has(r.application_id)) theirs.set(r.application_id, r);
  }
  const ids = [...new Set([...ours.keys(), ...theirs.keys()])].sort();
  const out: Discrepancy[] = [];
  for (const id of ids) {
    const a = ours.get(id);
    const b = theirs.get(id);
    const count = copies.get(id) ?? 0;
    if (count > 1)
      out.push({
        applicationId: id,
        field: 'duplicate_at_partner',
        platform: a ? '1' : '0',
        partner: String(count),
      });
    if (!b) {
      out.push({ applicationId: id, field: 'missing_at_partner', platform: 'present', partner: null });
      continue;
    }
    if (!a) {
      out.push({ applicationId: id, field: 'missing_at_platform', platform: null, partner: 'present' });
      continue;
    }
    if (a.approved !== b.approved)
      out.push({
        applicationId: id,
        field: 'approved',
        platform: String(a.approved),
        partner: String(b.approved),
      });
    if (a.disbursedAmount.toString() !== b.disbursed_amount)
      out.push({
        applicationId: id,
        field: 'disbursed_amount',
        platform: a.disbursedAmount.toString(),
        partner: b.disbursed_amount,
      });
    if (a.repaidInterest.toString() !== b.repaid_interest)
      out.push({
        applicationId: id,
        field: 'repaid_interest',
        platform: a.repaidInterest.toString(),
        partner: b.repaid_interest,
      });
  }
  return out;
}

/**
 * The report's application ids as the platform spells them: a UUID is the same id in capitals, and
 * the platform's (from a `uuid` column) are lower case, so a partner writing them in upper case saw
 * every application missing on both sides. An id that is no UUID names no application of ours: its
 * rows are kept out of the comparison and listed once per id as `invalid_id_at_partner`, not as a
 * row the platform lost (the partner's totals still count them).
 */
export function normaliseReportIds(rows: readonly PartnerReportRow[]): {
  rows: PartnerReportRow[];
  invalid: Discrepancy[];
} {
  const valid: PartnerReportRow[] = [];
  const invalidIds = new Set<string>();
  for (const r of rows) {
    if (isUuid(r.application_id)) valid.push({ ...r, application_id: r.application_id.toLowerCase() });
    else invalidIds.add(r.application_id);
  }
  const invalid = [...invalidIds].sort().map((applicationId): Discrepancy => ({
    applicationId,
    field: 'invalid_id_at_partner',
    platform: null,
    partner: 'present',
  }));
  return { rows: valid, invalid };
}

interface SettlementRow {
  id: string;
  partner_id: string;
  month: string;
  platform_totals: Record<string, string | number>;
  partner_totals: Record<string, string | number>;
  discrepancies: Discrepancy[];
  invoice_fen: bigint;
  invoice_entry_id: string | null;
  paid_fen: bigint;
  status: Settlement['status'];
  created_at: Date;
}

const totals = (t: Record<string, string | number>) => ({
  applications: Number(t.applications),
  approved: Number(t.approved),
  disbursedFen: BigInt(t.disbursed_fen!),
  repaidInterestFen: BigInt(t.repaid_interest_fen!),
});

const fromRow = (r: SettlementRow): Settlement => ({
  id: r.id,
  partnerId: r.partner_id,
  month: r.month,
  platform: totals(r.platform_totals),
  partner: totals(r.partner_totals),
  discrepancies: r.discrepancies,
  invoiceFen: r.invoice_fen,
  invoiceEntryId: r.invoice_entry_id,
  paidFen: r.paid_fen,
  status: r.status,
  createdAt: r.created_at,
});

function sumUp(rows: Array<{ approved: boolean; disbursed: bigint; interest: bigint }>) {
  return {
    applications: rows.length,
    approved: rows.filter((r) => r.approved).length,
    disbursed_fen: rows.reduce((s, r) => s + r.disbursed, 0n).toString(),
    repaid_interest_fen: rows.reduce((s, r) => s + r.interest, 0n).toString(),
  };
}

/**
 * Settles one partner's month: asks the partner for its report (signed), reconciles, writes the
 * settlement and posts the invoice. Settling a month again returns the settlement already made
 * (the invoice entry id is derived from it, so a crash between the row and the entry is repaired).
 */
export async function settleMonth(
  deps: SettlementDeps,
  requestedPartnerId: string,
  month: string,
): Promise<Settlement> {
  const { db, clock, ledger, partners } = deps;
  checkMonth(month);
  const partner = await partners.get(requestedPartnerId);
  // The stored id, not the one asked with (a UUID in capitals names the same row): the receivable
  // account id is derived from this text, so another spelling would invoice another account.
  const partnerId = partner.id;
  // Fees are counted from callbacks received in the month (Asia/Shanghai): a month still running
  // would be invoiced without the rest of its callbacks, and settling it again returns that invoice.
  const [, monthEnd] = monthBounds(month);
  if (clock.now() < monthEnd)
    throw new MilletError('MARKETPLACE_MONTH_OPEN', `${month} has not ended: it can be settled once it has`, {
      month,
      settlesFrom: businessDateOf(monthEnd),
    });
  const existing = await db.query<SettlementRow>(
    'SELECT * FROM marketplace_settlements WHERE partner_id = $1 AND month = $2',
    [partnerId, month],
  );
  let row = existing.rows[0];
  if (!row) {
    const lines = await platformLines(db, partnerId, month);
    let report;
    try {
      report = await signedPost(
        deps.http,
        `${partner.endpointUrl}/report`,
        await partners.secret(partnerId),
        { month },
        reportResponseSchema,
        AbortSignal.timeout(10_000),
      );
    } catch (error) {
      throw new MilletError('MARKETPLACE_PARTNER_UNAVAILABLE', 'The partner report could not be fetched', {
        partner_id: partnerId,
        ...(error instanceof PartnerHttpError && error.reason === 'refused'
          ? { reason: 'address_refused' }
          : {}),
      });
    }
    // Rows of another month would be reconciled and invoiced as this one's, and a month settles once.
    if (report.month !== month)
      throw new MilletError(
        'MARKETPLACE_PARTNER_UNAVAILABLE',
        `The partner reported ${report.month}, not ${month}`,
        {
          partner_id: partnerId,
          reason: 'report_month_mismatch',
          month,
          report_month: report.month,
        },
      );
    const reported = normaliseReportIds(report.rows);
    const discrepancies = [...reconcile(lines, reported.rows), ...reported.invalid];
    const invoice = lines.reduce((s, l) => s + l.feeFen, 0n);
    const id = newId();
    const inserted = await db.query<SettlementRow>(
      `INSERT INTO marketplace_settlements (id, partner_id, month, platform_totals, partner_totals,
         discrepancies, invoice_fen, invoice_entry_id, status, created_at)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)
       ON CONFLICT (partner_id, month) DO NOTHING RETURNING *`,
      [
        id,
        partnerId,
        month,
        JSON.stringify(
          sumUp(
            lines.map((l) => ({
              approved: l.approved,
              disbursed: l.disbursedAmount,
              interest: l.repaidInterest,
            })),
          ),
        ),
        JSON.stringify(
          sumUp(
            report.rows.map((r) => ({
              approved: r.approved,
              disbursed: BigInt(r.disbursed_amount),
              interest: BigInt(r.repaid_interest),
            })),
          ),
        ),
        JSON.stringify(discrepancies),
        invoice,
        invoice > 0n ? derivedId('marketplace', `invoice:${id}`) : null,
        invoice > 0n ? 'invoiced' : 'nothing_due',
        clock.now(),
      ],
    );
    row =
      inserted.rows[0] ??
      (
        await db.query<SettlementRow>(
          'SELECT * FROM marketplace_settlements WHERE partner_id = $1 AND month = $2',
          [partnerId, month],
        )
      ).rows[0]!;
  }
  await postInvoice(ledger, row);
  return fromRow(row);
}

/** The settlement's invoice entry (receivable ← income), under its derived id: posted once. */
async function postInvoice(ledger: Ledger, row: SettlementRow): Promise<void> {
  if (!row.invoice_entry_id) return;
  await ensureMarketplaceAccounts(ledger, row.partner_id);
  await ledger.transfer({
    id: row.invoice_entry_id,
    debitAccountId: receivableAccountId(row.partner_id),
    creditAccountId: incomeAccountId(),
    amount: row.invoice_fen,
    metadata: { module: 'marketplace', settlement_id: row.id, month: row.month, partner_id: row.partner_id },
  });
}

export async function getSettlement(db: Database, id: string): Promise<Settlement> {
  const { rows } = isUuid(id)
    ? await db.query<SettlementRow>('SELECT * FROM marketplace_settlements WHERE id = $1', [id])
    : { rows: [] };
  if (!rows[0])
    throw new MilletError('MARKETPLACE_SETTLEMENT_NOT_FOUND', 'No such settlement', { settlement_id: id });
  return fromRow(rows[0]);
}

export async function listSettlements(db: Database, partnerId: string): Promise<Settlement[]> {
  const { rows } = await db.query<SettlementRow>(
    'SELECT * FROM marketplace_settlements WHERE partner_id = $1 ORDER BY month DESC',
    [partnerId],
  );
  return rows.map(fromRow);
}

/**
 * A partner paid (part of) an invoice: bank clearing → the partner's receivable, entry id derived
 * from the payment id, so a retry posts once. More than is owed is MARKETPLACE_OVERPAYMENT.
 */
export async function recordPayment(
  deps: SettlementDeps,
  settlementId: string,
  paymentId: string,
  amount: bigint,
): Promise<Settlement> {
  const { db, clock, ledger } = deps;
  if (amount <= 0n)
    throw new MilletError('VALIDATION_FAILED', 'amount must be positive', { field: 'amount' });
  if (!isUuid(paymentId))
    throw new MilletError('VALIDATION_FAILED', 'payment_id must be a UUID', { field: 'payment_id' });
  // One payment however its UUID is spelt: the entry id is derived from this text, and a retry in
  // capitals found the recorded payment but posted it to the ledger a second time.
  const paymentKey = paymentId.toLowerCase();
  const entryId = derivedId('marketplace', `payment:${paymentKey}`);
  const settlement = await db.transaction(async (tx) => {
    const { rows } = isUuid(settlementId)
      ? await tx.query<SettlementRow>('SELECT * FROM marketplace_settlements WHERE id = $1 FOR UPDATE', [
          settlementId,
        ])
      : { rows: [] };
    const row = rows[0];
    if (!row)
      throw new MilletError('MARKETPLACE_SETTLEMENT_NOT_FOUND', 'No such settlement', {
        settlement_id: settlementId,
      });
    const seen = await tx.query<{ settlement_id: string; amount: bigint }>(
      'SELECT settlement_id, amount FROM marketplace_settlement_payments WHERE id = $1',
      [paymentKey],
    );
    const earlier = seen.rows[0];
    if (earlier) {
      // A retry returns the settlement; the same id for another payment would be lost silently.
      if (earlier.settlement_id !== row.id || earlier.amount !== amount)
        throw new MilletError('ENTRY_ID_CONFLICT', `payment ${paymentId} was recorded with other fields`, {
          payment_id: paymentId,
          settlement_id: earlier.settlement_id,
          amount: earlier.amount.toString(),
        });
      return row;
    }
    if (row.paid_fen + amount > row.invoice_fen)
      throw new MilletError('MARKETPLACE_OVERPAYMENT', 'The payment is more than the invoice still owes', {
        outstanding: (row.invoice_fen - row.paid_fen).toString(),
      });
    await tx.query(
      `INSERT INTO marketplace_settlement_payments (id, settlement_id, amount, entry_id, paid_at)
       VALUES ($1,$2,$3,$4,$5)`,
      [paymentKey, row.id, amount, entryId, clock.now()],
    );
    const updated = await tx.query<SettlementRow>(
      `UPDATE marketplace_settlements SET paid_fen = paid_fen + $2,
              status = CASE WHEN paid_fen + $2 = invoice_fen THEN 'paid' ELSE status END
        WHERE id = $1 RETURNING *`,
      [row.id, amount],
    );
    return updated.rows[0]!;
  });
  // The invoice entry first: a settlement whose entry failed after its row was written (the ledger
  // down) would refuse the payment's credit to the receivable after the payment was recorded.
  await postInvoice(ledger, settlement);
  const paid = await db.query<{ amount: bigint; entry_id: string }>(
    'SELECT amount, entry_id FROM marketplace_settlement_payments WHERE id = $1',
    [paymentKey],
  );
  await ledger.transfer({
    id: paid.rows[0]!.entry_id,
    debitAccountId: deps.bankClearingAccountId(),
    creditAccountId: receivableAccountId(settlement.partner_id),
    amount: paid.rows[0]!.amount,
    metadata: { module: 'marketplace', settlement_id: settlement.id, payment_id: paymentKey },
  });
  return fromRow(settlement);
}

/** The most days one funnel request may span (a year, leap years included). */
export const MAX_FUNNEL_DAYS = 366;

export interface FunnelDay {
  date: string;
  pinged: number;
  offered: number;
  chosen: number;
  posted: number;
  approved: number;
  declined: number;
  disbursed: number;
  /** approved / (approved + declined) of that day's posts; null before any decision. */
  passRate: number | null;
}

/** A calendar date YYYY-MM-DD (2025-13-45 is none: it matched no day and answered an empty funnel). */
function checkDate(field: 'from' | 'to', date: string): void {
  if (!isBusinessDate(date))
    throw new MilletError('VALIDATION_FAILED', `${field} must be a calendar date YYYY-MM-DD`, { field });
}

/**
 * A partner's funnel per business date, cohorts by the application's date: a post's own
 * business_date is the day it was chosen (the daily cap counts those), and an application chosen
 * after midnight would show as offered one day and chosen the next. Chosen and posted come from
 * the choices (one row each, by the partner index), not the post row: that is one per application
 * and a choice after a failed post takes it over, so the failed partner's choice would be lost.
 * Chosen and posted count applications: choosing the same partner again after a failed post is
 * one application chosen, posted once it reached the partner.
 */
export async function funnel(
  db: Database,
  partnerKey: string,
  from: string,
  to: string,
): Promise<FunnelDay[]> {
  checkDate('from', from);
  checkDate('to', to);
  if (from > to)
    throw new MilletError('VALIDATION_FAILED', 'from must not be after to', { field: 'from', from, to });
  // Every day in the range is read (for the own loan, every loan application of it): an unbounded
  // range (1900-01-01 … 9999-12-31) made one request read the whole history.
  if ((Date.parse(to) - Date.parse(from)) / 86_400_000 + 1 > MAX_FUNNEL_DAYS)
    throw new MilletError('VALIDATION_FAILED', `from … to may span at most ${MAX_FUNNEL_DAYS} days`, {
      field: 'to',
      from,
      to,
      max_days: MAX_FUNNEL_DAYS,
    });
  // The own loan is not pinged over HTTP: it is asked for a quote on every loan application, so
  // those are its "pinged", and the own offers shown are its "offered".
  const own = partnerKey === 'own';
  const pings = own
    ? `SELECT a.business_date AS date, count(*) AS pinged, count(o.id) AS offered
         FROM marketplace_applications a
         LEFT JOIN marketplace_offers o ON o.application_id = a.id AND o.source = 'own'
        WHERE a.product = 'loan' AND a.business_date BETWEEN $2 AND $3 GROUP BY a.business_date`
    : `SELECT business_date AS date, count(*) AS pinged, count(*) FILTER (WHERE outcome = 'offered') AS offered
         FROM marketplace_pings WHERE partner_id = $1::uuid AND business_date BETWEEN $2 AND $3
        GROUP BY business_date`;
  const { rows } = await db.query<{
    date: string;
    pinged: bigint;
    offered: bigint;
    chosen: bigint;
    posted: bigint;
    approved: bigint;
    declined: bigint;
    disbursed: bigint;
  }>(
    `WITH pings AS (${pings}),
     chosen AS (
       SELECT application_id, application_date, bool_or(failed_at IS NULL) AS reached
         FROM marketplace_choices WHERE partner_key = $4 AND application_date BETWEEN $2 AND $3
        GROUP BY application_id, application_date),
     posts AS (
       SELECT ch.application_date AS date, count(*) AS chosen,
              count(*) FILTER (WHERE ch.reached) AS posted,
              count(po.application_id) FILTER (WHERE po.status IN ('approved', 'disbursed', 'repaid')) AS approved,
              count(po.application_id) FILTER (WHERE po.status = 'declined') AS declined,
              count(po.application_id) FILTER (WHERE po.status IN ('disbursed', 'repaid')) AS disbursed
         FROM chosen ch
         -- The post row is this partner's only while its choice is the application's latest.
         LEFT JOIN marketplace_posts po
           ON po.application_id = ch.application_id AND po.partner_id IS NOT DISTINCT FROM $1::uuid
        GROUP BY ch.application_date)
     SELECT coalesce(pings.date, posts.date) AS date,
            coalesce(pinged, 0) AS pinged, coalesce(offered, 0) AS offered, coalesce(chosen, 0) AS chosen,
            coalesce(posted, 0) AS posted, coalesce(approved, 0) AS approved, coalesce(declined, 0) AS declined,
            coalesce(disbursed, 0) AS disbursed
       FROM pings FULL JOIN posts ON posts.date = pings.date ORDER BY 1`,
    // The key as stored: a partner named by its id in capitals is the same partner.
    [own ? null : partnerKey, from, to, own ? 'own' : partnerKey.toLowerCase()],
  );
  return rows.map((r) => {
    const approved = Number(r.approved);
    const declined = Number(r.declined);
    return {
      date: r.date,
      pinged: Number(r.pinged),
      offered: Number(r.offered),
      chosen: Number(r.chosen),
      posted: Number(r.posted),
      approved,
      declined,
      disbursed: Number(r.disbursed),
      passRate: approved + declined > 0 ? approved / (approved + declined) : null,
    };
  });
}
