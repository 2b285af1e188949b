import { businessDateOf } from '../core/index.ts';
import type { LineHistory, LineStatement } from '../credit/index.ts';
import type { Queryable } from '../db/index.ts';
import { daysBetween } from '../lending/index.ts';

// Six statements give the bills; a seventh gives the sixth status when the newest is not due yet.
const MONTHS = 7;

interface Row {
  user_id: string;
  line_id: string;
  limit_amount: bigint;
  statement_date: string;
  due_date: string;
  total_due: bigint;
  carried: bigint;
  min_paid_on: string | null;
  paid_on: string | null;
  repaid: bigint;
}

/**
 * Months past due at a statement, as the behaviour model reads it (DESIGN §2.3): −2 no use, −1 paid
 * in full by the due date, 0 minimum paid (revolving) or not due yet, k = k months (30 days each,
 * rounded up) between the due date and the minimum's payment (or `asOf` while unpaid).
 */
export function monthsPastDue(
  s: { totalDue: bigint; carried: bigint; dueDate: string; minPaidOn: string | null; paidOn: string | null },
  asOf: string,
): number {
  if (s.totalDue === 0n) return s.carried === 0n ? -2 : 0;
  if (s.paidOn !== null && s.paidOn <= s.dueDate) return -1;
  if (s.minPaidOn !== null && s.minPaidOn <= s.dueDate) return 0;
  const until = s.minPaidOn ?? asOf;
  const late = daysBetween(s.dueDate, until);
  if (late <= 0) return 0;
  return Math.ceil(late / 30);
}

/**
 * src/credit's `FeatureSource.lineHistories` from the line's statements: LIMIT_BAL = the limit,
 * then per statement (newest first, the last six) PAY_n = months past due, BILL_AMTn = the
 * statement's balance (its own amounts and what older statements carried), PAY_AMTn = what was
 * repaid in the month that ends at it (after the previous statement, up to its date). That is the
 * Taiwan data's layout, where September's payment pays August's bill (PAY_AMTn against
 * BILL_AMTn+1); the repayment of the statement's own bill falls in the next one's month. Counting
 * it on the statement it pays shifted every repayment one month: a full payer scored before the
 * newest due date read as having repaid nothing of August's bill. Users without a statement are
 * absent.
 */
export async function lineHistories(
  db: Queryable,
  userIds: readonly string[],
  asOf: Date,
): Promise<ReadonlyMap<string, LineHistory>> {
  const out = new Map<string, LineHistory>();
  if (userIds.length === 0) return out;
  const today = businessDateOf(asOf);
  const r = await db.query<Row>(
    `WITH st AS (
       SELECT l.user_id, l.id AS line_id, l.limit_amount, s.statement_date, s.due_date,
              s.principal - s.converted_principal + s.fees + s.interest + s.penalty AS total_due, s.carried,
              s.min_paid_on, s.paid_on,
              lag(s.statement_date) OVER (PARTITION BY s.line_id ORDER BY s.statement_date) AS previous_date,
              row_number() OVER (PARTITION BY s.line_id ORDER BY s.statement_date DESC) AS n
         FROM paylater_lines l JOIN paylater_statements s ON s.line_id = l.id
        WHERE l.user_id = ANY($1::uuid[]) AND s.statement_date <= $2::date
     )
     SELECT st.user_id, st.line_id, st.limit_amount, st.statement_date::text AS statement_date,
            st.due_date::text AS due_date, st.total_due, st.carried,
            st.min_paid_on::text AS min_paid_on, st.paid_on::text AS paid_on,
            coalesce((SELECT sum(m.amount - m.to_wallet) FROM paylater_movements m
                       WHERE m.line_id = st.line_id AND m.status = 'succeeded' AND m.kind <> 'refund'
                         AND (st.previous_date IS NULL OR m.business_date > st.previous_date)
                         AND m.business_date <= st.statement_date), 0)::int8 AS repaid
       FROM st WHERE st.n <= ${MONTHS} ORDER BY st.user_id, st.statement_date DESC`,
    [userIds, today],
  );
  for (const row of r.rows) {
    let history = out.get(row.user_id);
    if (!history) {
      history = { creditLimit: row.limit_amount, statements: [] };
      out.set(row.user_id, history);
    }
    const statement: LineStatement = {
      monthsPastDue: monthsPastDue(
        {
          totalDue: row.total_due,
          carried: row.carried,
          dueDate: row.due_date,
          minPaidOn: row.min_paid_on,
          paidOn: row.paid_on,
        },
        today,
      ),
      // Due once its due date is over: until then it can still be paid in full on time.
      due: row.due_date < today,
      statementBalance: row.total_due + row.carried,
      amountRepaid: row.repaid,
    };
    (history.statements as LineStatement[]).push(statement);
  }
  return out;
}
