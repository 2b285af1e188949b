import type { Queryable } from '../db/index.ts';
import { multiply, type Fraction } from './rates.ts';
import type { InstalmentState } from './schedule.ts';

/** Rows of lending_instalments ↔ InstalmentState, and the loan's denormalised current-period fields. */
export interface InstalmentRow {
  loan_id: string;
  number: number;
  period_start: string;
  due_date: string;
  fraction_n: bigint;
  fraction_d: bigint;
  opening_balance: bigint;
  principal: bigint;
  interest: bigint;
  carried_interest: bigint;
  fee: bigint;
  principal_paid: bigint;
  interest_paid: bigint;
  fee_paid: bigint;
}

export function toInstalmentState(r: InstalmentRow): InstalmentState {
  const principal = BigInt(r.principal);
  const interest = BigInt(r.interest);
  return {
    number: r.number,
    periodStart: r.period_start,
    dueDate: r.due_date,
    fraction: { n: BigInt(r.fraction_n), d: BigInt(r.fraction_d) },
    openingBalance: BigInt(r.opening_balance),
    principal,
    interest,
    total: principal + interest,
    closingBalance: BigInt(r.opening_balance) - principal,
    fee: BigInt(r.fee),
    penalty: 0n,
    principalPaid: BigInt(r.principal_paid),
    interestPaid: BigInt(r.interest_paid),
    feePaid: BigInt(r.fee_paid),
    penaltyPaid: 0n,
    carriedInterest: BigInt(r.carried_interest),
  };
}

export async function loadInstalments(db: Queryable, loanId: string): Promise<InstalmentState[]> {
  const { rows } = await db.query<InstalmentRow>(
    'SELECT * FROM lending_instalments WHERE loan_id = $1 ORDER BY number',
    [loanId],
  );
  return rows.map(toInstalmentState);
}

export async function insertInstalments(
  db: Queryable,
  loanId: string,
  list: readonly InstalmentState[],
): Promise<void> {
  if (list.length === 0) return;
  const col = <T>(f: (i: InstalmentState) => T) => list.map(f);
  await db.query(
    `INSERT INTO lending_instalments (loan_id, number, period_start, due_date, fraction_n, fraction_d, opening_balance,
       principal, interest, carried_interest, fee, principal_paid, interest_paid, fee_paid)
     SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::int8[], $8::int8[],
       $9::int8[], $10::int8[], $11::int8[], $12::int8[], $13::int8[], $14::int8[])`,
    [
      loanId,
      col((i) => i.number),
      col((i) => i.periodStart),
      col((i) => i.dueDate),
      col((i) => i.fraction.n),
      col((i) => i.fraction.d),
      col((i) => i.openingBalance),
      col((i) => i.principal),
      col((i) => i.interest),
      col((i) => i.carriedInterest),
      col((i) => i.fee),
      col((i) => i.principalPaid),
      col((i) => i.interestPaid),
      col((i) => i.feePaid),
    ],
  );
}

/**
 * The loan row's fields that follow from its instalments on business date `date`: principal
 * outstanding, overdue principal, the oldest instalment still unpaid after falling due, and the
 * current period (the first instalment due after `date`) with its rate × year fraction, so the
 * close can accrue every loan with one UPDATE.
 */
export function derivedLoanFields(list: readonly InstalmentState[], annualRate: Fraction, date: string) {
  let principalOutstanding = 0n;
  let overduePrincipal = 0n;
  let oldestUnpaidDue: string | null = null;
  let interestBeforeCurrent = 0n;
  let current: InstalmentState | undefined;
  for (const i of list) {
    const unpaidPrincipal = i.principal - i.principalPaid;
    principalOutstanding += unpaidPrincipal;
    if (i.dueDate <= date) {
      interestBeforeCurrent += i.interest;
      overduePrincipal += unpaidPrincipal;
      const unpaid = unpaidPrincipal + i.interest - i.interestPaid + i.fee - i.feePaid;
      if (unpaid > 0n && (oldestUnpaidDue === null || i.dueDate < oldestUnpaidDue))
        oldestUnpaidDue = i.dueDate;
    } else if (!current) {
      current = i;
    }
  }
  const rate = current ? multiply(annualRate, current.fraction) : { n: 0n, d: 1n };
  return {
    principalOutstanding,
    overduePrincipal,
    oldestUnpaidDue,
    interestBeforeCurrent,
    cur: current
      ? {
          number: current.number,
          periodStart: current.periodStart,
          dueDate: current.dueDate,
          interest: current.interest,
          carried: current.carriedInterest,
          opening: current.openingBalance,
          rateN: rate.n,
          rateD: rate.d,
        }
      : null,
  };
}

export type DerivedLoanFields = ReturnType<typeof derivedLoanFields>;

/** Writes derived fields to the loan row (parameters $2…$13 after the loan id). */
export async function writeDerivedFields(
  db: Queryable,
  loanId: string,
  f: DerivedLoanFields,
  extra = '',
): Promise<void> {
  await db.query(
    `UPDATE lending_loans SET principal_outstanding = $2, overdue_principal = $3, oldest_unpaid_due = $4,
       interest_before_current = $5, cur_number = $6, cur_period_start = $7, cur_due_date = $8, cur_interest = $9,
       cur_carried = $10, cur_opening = $11, cur_rate_n = $12::numeric, cur_rate_d = $13::numeric,
       version = version + 1 ${extra}
     WHERE id = $1`,
    [
      loanId,
      f.principalOutstanding,
      f.overduePrincipal,
      f.oldestUnpaidDue,
      f.interestBeforeCurrent,
      f.cur?.number ?? null,
      f.cur?.periodStart ?? null,
      f.cur?.dueDate ?? null,
      f.cur?.interest ?? 0n,
      f.cur?.carried ?? 0n,
      f.cur?.opening ?? 0n,
      (f.cur?.rateN ?? 0n).toString(),
      (f.cur?.rateD ?? 1n).toString(),
    ],
  );
}
