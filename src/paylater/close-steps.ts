import { derivedId, isMilletError } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import type { CloseStep } from '../jobs/index.ts';
import type { Ledger } from '../ledger/index.ts';
import { daysInMonth } from '../lending/index.ts';
import { openProductAccount, productAccountId, type ProductAccount } from './accounts.ts';
import { DUE_TOTAL, PAID_TOTAL } from './allocation.ts';
import { unpaidPurchasesSql } from './rows.ts';
import type { ChargeKind, Lines } from './lines.ts';

const FIRST_ID = '00000000-0000-0000-0000-000000000000';

/** SQL for x / d rounded half-even, x ≥ 0 and d > 0 (the same rule as divRound(x, d, 'half_even')). */
export function halfEvenSql(x: string, d: string): string {
  return `((${x}) / (${d}) + CASE WHEN 2 * ((${x}) % (${d})) > (${d})
    OR (2 * ((${x}) % (${d})) = (${d}) AND ((${x}) / (${d})) % 2 = 1) THEN 1 ELSE 0 END)`;
}

/** The statement id of a line and date: derived in SQL, so a statement is written once. */
const statementIdSql = (line: string, date: string) =>
  `overlay(overlay(md5(${line}::text || ':' || ${date}::text) placing '8' from 13) placing '8' from 17)::uuid`;

const UNPAID_PRINCIPAL = '(s.principal - s.converted_principal - s.paid_principal)';

/**
 * A line's unbilled principal as of the end of business date `date`: the close of a date runs after
 * midnight, when purchases of the next day may already be on the line; they are its next day's to
 * charge and bill. What a late purchase's own refunds took off the unbilled principal is already
 * gone from it, so only the rest of the purchase is held back (else the refund counts twice and the
 * day's real spending slips to the next statement). Repayments, and refunds of other purchases,
 * come off the earlier purchases first, so a late purchase is never billed early.
 */
const unbilledAsOf = (line: string, date: string) =>
  `greatest(${line}.unbilled_principal - coalesce((SELECT sum(u.amount - u.unbilled_refunded) FROM paylater_purchases u
     WHERE u.line_id = ${line}.id AND u.statement_id IS NULL AND u.plan_id IS NULL
       AND u.business_date > ${date}), 0), 0)`;

/** Daily interest of the day on daily-mode lines' unbilled principal; on daily-mode statements from the
 *  day after their date to the day before their due date, daily interest on their unpaid purchases
 *  (DESIGN 2.4: daily mode charges "from the day of use ... on actual days used" and has no
 *  interest-free period; instalment months are priced by their fee, as before they are billed); and
 *  revolving and penalty interest on statements past their due date. Per line or statement in the
 *  tables, per product and day for the ledger. */
const accrueSql = `
WITH chunk AS (
  SELECT id FROM paylater_lines WHERE id > $1 ORDER BY id LIMIT $2
), daily AS (
  SELECT l.id, l.product_id, ${halfEvenSql(`${unbilledAsOf('l', '$3::date')} * p.daily_rate_ppm`, '1000000')} AS amount
    FROM paylater_lines l JOIN chunk c ON c.id = l.id JOIN paylater_products p ON p.id = l.product_id
   WHERE p.mode = 'daily' AND l.unbilled_principal > 0
     AND (l.last_accrual_date IS NULL OR l.last_accrual_date < $3::date)
), daily_upd AS (
  UPDATE paylater_lines l SET accrued_interest = l.accrued_interest + d.amount, last_accrual_date = $3::date
    FROM daily d WHERE l.id = d.id RETURNING l.id
), st AS (
  SELECT s.id, s.product_id,
         CASE WHEN s.due_date < $3::date
              THEN ${halfEvenSql(`${UNPAID_PRINCIPAL} * p.revolving_rate_ppm`, '1000000')}
              ELSE ${halfEvenSql(`${unpaidPurchasesSql('s.')} * p.daily_rate_ppm`, '1000000')} END AS interest,
         CASE WHEN s.due_date < $3::date AND s.min_paid_on IS NULL THEN
           ${halfEvenSql(
             `greatest(s.min_payment - (s.paid_principal + s.paid_fees + s.paid_interest + s.paid_penalty), 0)
               * p.revolving_rate_ppm * p.penalty_multiplier_bp`,
             '10000000000',
           )} ELSE 0 END AS penalty
    FROM paylater_statements s JOIN chunk c ON c.id = s.line_id JOIN paylater_products p ON p.id = s.product_id
   WHERE s.paid_on IS NULL
     AND (s.due_date < $3::date OR (p.mode = 'daily' AND s.statement_date < $3::date AND s.due_date > $3::date))
     AND (s.last_accrual_date IS NULL OR s.last_accrual_date < $3::date)
), st_upd AS (
  UPDATE paylater_statements s SET interest = s.interest + st.interest, penalty = s.penalty + st.penalty,
         last_accrual_date = $3::date
    FROM st WHERE s.id = st.id RETURNING s.id
), totals AS (
  SELECT product_id, 'interest' AS kind, amount FROM daily
  UNION ALL SELECT product_id, 'interest', interest FROM st
  UNION ALL SELECT product_id, 'penalty', penalty FROM st
), ins AS (
  INSERT INTO paylater_charge_days (product_id, business_date, kind, amount)
  SELECT product_id, $3::date, kind, sum(amount) FROM totals GROUP BY product_id, kind
  ON CONFLICT (product_id, business_date, kind) DO UPDATE SET amount = paylater_charge_days.amount + excluded.amount
  RETURNING 1
)
SELECT (SELECT count(*) FROM chunk)::int8 AS lines, (SELECT max(id::text) FROM chunk) AS last,
       (SELECT count(*) FROM daily_upd)::int8 + (SELECT count(*) FROM st_upd)::int8 AS accrued,
       (SELECT count(*) FROM ins)::int8 AS products`;

/** Statements for the lines billed on D: unbilled principal, the month's instalments (kept apart as
 *  instalment_principal: they are in a plan already, so converting the statement leaves them out) and their fees
 *  (a month partly paid off early, by a refund or a prepayment, is charged its fee pro rata to the
 *  principal it still has, half-even; one paid off wholly, none),
 *  the interest accrued (daily mode); due D + due_days; minimum payment; what older statements carry.
 *  Purchases are linked to the statement by business date, as unbilledAsOf bills them: a purchase in
 *  the last millisecond of D is billed on D, and a refund of it must find that statement. */
const statementSql = `
WITH chunk AS (
  SELECT l.id, l.product_id, ${unbilledAsOf('l', '$3::date')}::int8 AS unbilled, l.accrued_interest AS accrued
    FROM paylater_lines l
   WHERE l.id > $1 AND l.statement_day = ANY($4::int[])
     AND NOT EXISTS (SELECT 1 FROM paylater_statements s WHERE s.line_id = l.id AND s.statement_date = $3::date)
   ORDER BY l.id LIMIT $2 FOR UPDATE
), due_periods AS (
  SELECT DISTINCT ON (pp.plan_id) pp.plan_id, pp.period, pp.line_id, pp.principal - pp.settled_principal AS principal,
         CASE WHEN pp.settled_principal = 0 THEN pp.fee WHEN pp.settled_principal >= pp.principal THEN 0
              ELSE ${halfEvenSql('pp.fee * (pp.principal - pp.settled_principal)', 'pp.principal')} END AS fee
    FROM paylater_plan_periods pp JOIN chunk c ON c.id = pp.line_id JOIN paylater_plans p ON p.id = pp.plan_id
   WHERE pp.statement_id IS NULL AND p.created_at < $5
   ORDER BY pp.plan_id, pp.period
), billed AS (
  UPDATE paylater_plan_periods pp SET statement_id = ${statementIdSql('pp.line_id', '$3')}
    FROM due_periods d WHERE pp.plan_id = d.plan_id AND pp.period = d.period RETURNING pp.plan_id
), per_line AS (
  SELECT line_id, sum(principal)::int8 AS principal, sum(fee)::int8 AS fee FROM due_periods GROUP BY line_id
), carried AS (
  SELECT s.line_id, sum(${DUE_TOTAL} - ${PAID_TOTAL})::int8 AS carried
    FROM paylater_statements s JOIN chunk c ON c.id = s.line_id WHERE s.paid_on IS NULL GROUP BY s.line_id
), lines_upd AS (
  UPDATE paylater_lines l SET unbilled_principal = l.unbilled_principal - c.unbilled,
         accrued_interest = l.accrued_interest - c.accrued,
         instalment_principal = l.instalment_principal - coalesce(pl.principal, 0)
    FROM chunk c LEFT JOIN per_line pl ON pl.line_id = c.id WHERE l.id = c.id RETURNING l.id
), purchases_upd AS (
  UPDATE paylater_purchases u SET statement_id = ${statementIdSql('u.line_id', '$3')}
    FROM chunk c WHERE u.line_id = c.id AND u.statement_id IS NULL AND u.plan_id IS NULL
      AND u.business_date <= $3::date
  RETURNING 1
), new_st AS (
  SELECT ${statementIdSql('c.id', '$3')} AS id, c.id AS line_id, c.product_id, p.due_days,
         c.unbilled + coalesce(pl.principal, 0) AS principal, coalesce(pl.principal, 0)::int8 AS instalment_principal,
         coalesce(pl.fee, 0)::int8 AS fees,
         c.accrued AS interest, coalesce(cr.carried, 0)::int8 AS carried,
         ${halfEvenSql('(c.unbilled + coalesce(pl.principal, 0)) * p.min_payment_bp', '10000')}
           + coalesce(pl.fee, 0) + c.accrued AS min_payment
    FROM chunk c JOIN paylater_products p ON p.id = c.product_id
    LEFT JOIN per_line pl ON pl.line_id = c.id LEFT JOIN carried cr ON cr.line_id = c.id
), ins AS (
  INSERT INTO paylater_statements (id, line_id, product_id, statement_date, due_date, principal, instalment_principal,
         fees, interest, carried, min_payment, min_paid_on, paid_on)
  SELECT id, line_id, product_id, $3::date, $3::date + due_days, principal, instalment_principal, fees, interest,
         carried, min_payment,
         CASE WHEN min_payment = 0 THEN $3::date END, CASE WHEN principal + fees + interest = 0 THEN $3::date END
    FROM new_st RETURNING product_id, fees
), fee_days AS (
  INSERT INTO paylater_charge_days (product_id, business_date, kind, amount)
  SELECT product_id, $3::date, 'fee', sum(fees) FROM ins GROUP BY product_id HAVING sum(fees) > 0
  ON CONFLICT (product_id, business_date, kind) DO UPDATE SET amount = paylater_charge_days.amount + excluded.amount
  RETURNING 1
)
SELECT (SELECT count(*) FROM ins)::int8 AS statements, (SELECT max(id::text) FROM chunk) AS last,
       (SELECT count(*) FROM billed)::int8 + (SELECT count(*) FROM lines_upd)::int8
         + (SELECT count(*) FROM purchases_upd)::int8 + (SELECT count(*) FROM fee_days)::int8 AS touched`;

/**
 * Reinstates suspended lines ($2: one line, or null for all) with no statement left whose minimum
 * is unpaid `suspend_after_days` after its due date, as of business date $1: the close's test, and
 * a repayment's or refund's as soon as it pays the minimum (the user need not wait for the close).
 */
export const reinstateSql = `UPDATE paylater_lines l SET status = 'active'
  WHERE l.status = 'suspended' AND ($2::uuid IS NULL OR l.id = $2) AND NOT EXISTS (
    SELECT 1 FROM paylater_statements s JOIN paylater_products p ON p.id = s.product_id
     WHERE s.line_id = l.id AND s.paid_on IS NULL AND s.min_paid_on IS NULL
       AND s.due_date <= $1::date - p.suspend_after_days)`;

/** The days of month whose lines are billed on `date`: its day, and 29–31 on a shorter month's last day. */
export function statementDaysFor(date: string): number[] {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const last = daysInMonth(y, m);
  if (d < last) return [d];
  return Array.from({ length: 32 - d }, (_, i) => d + i);
}

export interface PaylaterCloseDeps {
  db: Database;
  ledger: Ledger;
  lines: Lines;
  chunkSize?: number;
}

/**
 * The close steps, in order: accrual, statements, booking the day's charges to the ledger (before
 * anyone can repay them), auto-repayment on due dates, suspension.
 */
export function paylaterCloseSteps(deps: PaylaterCloseDeps): CloseStep[] {
  const { db } = deps;
  const chunk = deps.chunkSize ?? 5_000;
  return [
    {
      name: 'paylater.accrual',
      async run(ctx) {
        let after = ctx.cursor ?? FIRST_ID;
        let done = 0n;
        for (;;) {
          const r = await db.query<{ lines: bigint; last: string | null; accrued: bigint }>(accrueSql, [
            after,
            chunk,
            ctx.businessDate,
          ]);
          const row = r.rows[0]!;
          if (row.lines === 0n || row.last === null) break;
          after = row.last;
          done += row.lines;
          await ctx.checkpoint(after, { done });
        }
      },
    },
    {
      name: 'paylater.statements',
      async run(ctx) {
        const days = statementDaysFor(ctx.businessDate);
        const startOfDay = new Date(ctx.asOf.getTime() + 1 - 86_400_000);
        let after = ctx.cursor ?? FIRST_ID;
        let done = 0n;
        for (;;) {
          const r = await db.query<{ statements: bigint; last: string | null }>(statementSql, [
            after,
            chunk,
            ctx.businessDate,
            days,
            startOfDay,
          ]);
          const row = r.rows[0]!;
          if (row.last === null) break;
          after = row.last;
          done += row.statements;
          await ctx.checkpoint(after, { done });
        }
      },
    },
    {
      name: 'paylater.book-charges',
      async run(ctx) {
        const rows = await db.query<{
          product_id: string;
          business_date: string;
          kind: ChargeKind;
          amount: bigint;
          booked_amount: bigint;
        }>(
          `SELECT product_id, business_date::text AS business_date, kind, amount, booked_amount
             FROM paylater_charge_days WHERE business_date <= $1::date AND amount > booked_amount
            ORDER BY business_date, product_id, kind`,
          [ctx.businessDate],
        );
        for (const row of rows.rows) {
          const [debit, credit]: [ProductAccount, ProductAccount] =
            row.kind === 'interest'
              ? ['charges', 'interest']
              : row.kind === 'penalty'
                ? ['charges', 'penalty']
                : row.kind === 'fee'
                  ? ['charges', 'fee']
                  : row.kind === 'merchant_fee'
                    ? ['merchantFee', 'fee']
                    : // Returned to merchants: off what they owe, against fee income (credit_only).
                      // Same-day fees sort first ('merchant_fee' < 'merchant_fee_refund'), so the
                      // receivable always holds the fee before any of it goes back.
                      ['merchantFeeRefund', 'merchantFee'];
          if (row.kind === 'merchant_fee_refund')
            await openProductAccount(deps.ledger, row.product_id, 'merchantFeeRefund');
          await deps.ledger.transfer({
            id: derivedId(
              'paylater.charges',
              `${row.product_id}:${row.business_date}:${row.kind}:${row.booked_amount}`,
            ),
            debitAccountId: productAccountId(row.product_id, debit),
            creditAccountId: productAccountId(row.product_id, credit),
            amount: row.amount - row.booked_amount,
            metadata: { productId: row.product_id, businessDate: row.business_date, kind: row.kind },
          });
          await db.query(
            `UPDATE paylater_charge_days SET booked_amount = $4
              WHERE product_id = $1 AND business_date = $2 AND kind = $3 AND booked_amount < $4`,
            [row.product_id, row.business_date, row.kind, row.amount],
          );
        }
        await ctx.checkpoint(null, { done: rows.rows.length });
      },
    },
    {
      name: 'paylater.auto-repayment',
      async run(ctx) {
        let after = ctx.cursor ?? FIRST_ID;
        let done = 0n;
        for (;;) {
          // What every statement due by today still asks, older (revolved) ones too: repayments go
          // oldest first, so asking only for today's bill would spend it on the older one and leave
          // today's unpaid (overdue, penalty, suspension) though the wallet could pay both.
          const due = await db.query<{ id: string; user_id: string; owed: bigint }>(
            `SELECT l.id, l.user_id, sum(${DUE_TOTAL} - ${PAID_TOTAL})::int8 AS owed
               FROM paylater_statements s JOIN paylater_lines l ON l.id = s.line_id
              WHERE s.due_date <= $1::date AND s.paid_on IS NULL AND l.auto_repay AND l.id > $2
                AND EXISTS (SELECT 1 FROM paylater_statements t WHERE t.line_id = l.id
                             AND t.due_date = $1::date AND t.paid_on IS NULL)
              GROUP BY l.id, l.user_id ORDER BY l.id LIMIT $3`,
            [ctx.businessDate, after, 500],
          );
          if (due.rows.length === 0) break;
          for (const line of due.rows) {
            const wallet = await deps.lines.walletOf(line.user_id);
            const amount = wallet && wallet.available < line.owed ? wallet.available : line.owed;
            if (!wallet || amount <= 0n) continue;
            try {
              await deps.lines.repay({
                id: derivedId('paylater.auto-repayment', `${line.id}:${ctx.businessDate}`),
                userId: line.user_id,
                amount,
                businessDate: ctx.businessDate,
                kind: 'auto_repayment',
                billedOnly: true,
              });
              done += 1n;
            } catch (error) {
              // A wallet spent meanwhile: the statement stays unpaid and ages; nothing else to do.
              if (!isMilletError(error) || error.code === 'LEDGER_UNAVAILABLE') throw error;
            }
          }
          after = due.rows.at(-1)!.id;
          await ctx.checkpoint(after, { done });
        }
      },
    },
    {
      name: 'paylater.suspension',
      async run(ctx) {
        const suspended = await db.query(
          `UPDATE paylater_lines l SET status = 'suspended'
             FROM (SELECT DISTINCT s.line_id FROM paylater_statements s JOIN paylater_products p ON p.id = s.product_id
                    WHERE s.paid_on IS NULL AND s.min_paid_on IS NULL
                      AND s.due_date <= $1::date - p.suspend_after_days) x
            WHERE l.id = x.line_id AND l.status = 'active'`,
          [ctx.businessDate],
        );
        const reinstated = await db.query(reinstateSql, [ctx.businessDate, null]);
        await ctx.checkpoint(null, { done: suspended.rowCount + reinstated.rowCount });
      },
    },
  ];
}
