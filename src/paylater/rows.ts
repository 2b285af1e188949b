import type { AllocationItem } from './allocation.ts';
import type { LimitBand, Movement, PaylaterProduct, PaylaterStatement } from './types.ts';

export interface ProductRow {
  id: string;
  code: string;
  version: number;
  name: string;
  mode: PaylaterProduct['mode'];
  statement_day: number;
  due_days: number;
  daily_rate_ppm: bigint;
  revolving_rate_ppm: bigint;
  penalty_multiplier_bp: number;
  min_payment_bp: number;
  suspend_after_days: number;
  instalment_fees: Record<string, number>;
  created_at: Date;
}

export const productFromRow = (r: ProductRow): PaylaterProduct => ({
  id: r.id,
  code: r.code,
  version: r.version,
  name: r.name,
  mode: r.mode,
  statementDay: r.statement_day,
  dueDays: r.due_days,
  dailyRatePpm: r.daily_rate_ppm,
  revolvingRatePpm: r.revolving_rate_ppm,
  penaltyMultiplierBp: r.penalty_multiplier_bp,
  minPaymentBp: r.min_payment_bp,
  suspendAfterDays: r.suspend_after_days,
  instalmentFees: r.instalment_fees,
  createdAt: r.created_at,
});

export interface LineRow {
  id: string;
  user_id: string;
  product_id: string;
  limit_amount: bigint;
  score: number;
  status: 'active' | 'suspended';
  auto_repay: boolean;
  statement_day: number;
  ledger_account_id: string;
  principal_outstanding: bigint;
  unbilled_principal: bigint;
  instalment_principal: bigint;
  accrued_interest: bigint;
  opened_at: Date;
}

export interface StatementRow {
  id: string;
  line_id: string;
  product_id: string;
  statement_date: string;
  due_date: string;
  principal: bigint;
  converted_principal: bigint;
  instalment_principal: bigint;
  refunded_purchases: bigint;
  fees: bigint;
  interest: bigint;
  penalty: bigint;
  paid_principal: bigint;
  paid_fees: bigint;
  paid_interest: bigint;
  paid_penalty: bigint;
  carried: bigint;
  min_payment: bigint;
  min_paid_on: string | null;
  paid_on: string | null;
}

/** Dates as text so both drivers give YYYY-MM-DD. */
export const statementColumns = `id, line_id, product_id, statement_date::text AS statement_date, due_date::text AS due_date,
  principal, converted_principal, instalment_principal, refunded_purchases, fees, interest, penalty, paid_principal, paid_fees, paid_interest, paid_penalty,
  carried, min_payment, min_paid_on::text AS min_paid_on, paid_on::text AS paid_on`;

/**
 * What of a statement's purchases is still unpaid (and not converted): the part a conversion into
 * instalments splits. Its paid principal is counted against its instalment months first (billed in
 * a plan already, never convertible), then against its purchases; what refunds of its own purchases
 * paid (`refunded_purchases`) is those purchases'. The statement's charges are paid before any
 * principal (the repayment order), so they never come into it.
 */
export function unpaidPurchases(r: StatementRow): bigint {
  const otherPaid = r.paid_principal - r.refunded_purchases;
  const onPurchases = otherPaid > r.instalment_principal ? otherPaid - r.instalment_principal : 0n;
  const left =
    r.principal - r.instalment_principal - r.converted_principal - r.refunded_purchases - onPurchases;
  return left > 0n ? left : 0n;
}

/** unpaidPurchases in SQL, over a paylater_statements row (`s` names it in a query that joins others). */
export const unpaidPurchasesSql = (s = '') =>
  `greatest(${s}principal - ${s}instalment_principal - ${s}converted_principal - ${s}refunded_purchases
  - greatest(${s}paid_principal - ${s}refunded_purchases - ${s}instalment_principal, 0), 0)`;

export const UNPAID_PURCHASES_SQL = unpaidPurchasesSql();

export function statementFromRow(r: StatementRow, today: string): PaylaterStatement {
  const totalDue = r.principal - r.converted_principal + r.fees + r.interest + r.penalty;
  const paid = r.paid_principal + r.paid_fees + r.paid_interest + r.paid_penalty;
  return {
    id: r.id,
    lineId: r.line_id,
    statementDate: r.statement_date,
    dueDate: r.due_date,
    principal: r.principal,
    convertedPrincipal: r.converted_principal,
    instalmentPrincipal: r.instalment_principal,
    convertiblePrincipal: r.paid_on === null ? unpaidPurchases(r) : 0n,
    fees: r.fees,
    interest: r.interest,
    penalty: r.penalty,
    totalDue,
    paid,
    unpaid: totalDue - paid,
    minPayment: r.min_payment,
    carried: r.carried,
    minPaidOn: r.min_paid_on,
    paidOn: r.paid_on,
    status: r.paid_on !== null ? 'paid' : r.due_date < today && r.min_paid_on === null ? 'overdue' : 'open',
  };
}

export interface MovementRow {
  id: string;
  line_id: string;
  kind: Movement['kind'];
  amount: bigint;
  to_wallet: bigint;
  allocation: { items: AllocationItem[]; principal: string; charges: string };
  status: Movement['status'];
  business_date: string | Date;
}

/** A `date` column as YYYY-MM-DD, whichever the driver returned. */
export const dateText = (d: string | Date): string =>
  typeof d === 'string' ? d : d.toISOString().slice(0, 10);

export const movementFromRow = (r: MovementRow): Movement => ({
  id: r.id,
  lineId: r.line_id,
  kind: r.kind,
  amount: r.amount,
  principal: BigInt(r.allocation.principal),
  charges: BigInt(r.allocation.charges),
  toWallet: r.to_wallet,
  status: r.status,
  businessDate: dateText(r.business_date),
});

export const bandsFromJson = (rows: Array<{ min_score: number; limit_amount: bigint }>): LimitBand[] =>
  rows.map((r) => ({ minScore: r.min_score, limit: r.limit_amount }));
