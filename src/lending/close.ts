import { derivedId, divRound, isMilletError } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import type { CloseStep, CloseStepContext } from '../jobs/index.ts';
import type { Ledger, Leg } from '../ledger/index.ts';
import { delinquencyBucketSql, delinquencyBuckets, type DelinquencyBucket } from './delinquency.ts';
import { finishRepayment, repay, type LendingContext } from './loans.ts';
import { productAccounts } from './products.ts';

/**
 * The lending steps of the end-of-day close, in order: due processing, accrual, auto-debits,
 * penalties, aging (with the loss provision and month-end vintage snapshots), charge-offs.
 *
 * Per-loan work is set-based: each step walks the loans in id order in chunks, one statement per
 * chunk updating the loans and adding the chunk's totals per product to `lending_daily_postings`
 * in the same transaction, guarded by a per-loan "through" date, then `ctx.checkpoint`s the last
 * id. Once every chunk is done, each product's total for the day is posted to the ledger as one
 * entry with an id derived from (product, date, kind). Only money that moves (auto-debits) gets
 * an entry per loan.
 */
export function lendingCloseSteps(ctx: LendingContext, options: { chunkSize?: number } = {}): CloseStep[] {
  const chunk = options.chunkSize ?? 20_000;
  const { db, ledger } = ctx;
  return [
    { name: 'lending.due', run: (c) => chunked(db, c, chunk, dueSql) },
    {
      name: 'lending.accrual',
      run: async (c) => {
        await chunked(db, c, chunk, accrualSql);
        await postDaily(db, ledger, c.businessDate, 'interest');
      },
    },
    { name: 'lending.auto-debit', run: (c) => autoDebits(ctx, c) },
    {
      name: 'lending.penalties',
      run: async (c) => {
        await chunked(db, c, chunk, penaltySql);
        await postDaily(db, ledger, c.businessDate, 'penalty');
      },
    },
    {
      name: 'lending.aging',
      run: async (c) => {
        await chunked(db, c, chunk, agingSql);
        await provision(db, ledger, c.businessDate);
        await monthEndSnapshot(db, c.businessDate);
      },
    },
    {
      name: 'lending.charge-off',
      run: async (c) => {
        await chunked(db, c, chunk, chargeOffSql);
        await postDaily(db, ledger, c.businessDate, 'charge_off');
      },
    },
  ];
}

/**
 * Each statement takes $1 = business date, $2 = the last id done (or the nil uuid), $3 = chunk
 * size, works on the next chunk of loans that need it, and returns the chunk's last id and size.
 */
type ChunkSql = string;

async function chunked(db: Database, c: CloseStepContext, size: number, sql: ChunkSql): Promise<void> {
  let cursor = c.cursor ?? '00000000-0000-0000-0000-000000000000';
  let done = 0;
  for (;;) {
    const { rows } = await db.transaction((tx) =>
      tx.query<{ last: string | null; n: number }>(sql, [c.businessDate, cursor, size]),
    );
    const n = Number(rows[0]?.n ?? 0);
    if (n === 0 || !rows[0]?.last) break;
    cursor = rows[0].last;
    done += n;
    await c.checkpoint(cursor, { done });
    if (n < size) break;
  }
  await c.checkpoint(null, { done });
}

const chunkOf = (where: string) =>
  `chunk AS (SELECT id FROM lending_loans WHERE ${where} AND id > $2::uuid ORDER BY id LIMIT $3)`;
const chunkResult = `SELECT max(id::text) AS last, count(*)::int AS n FROM chunk`;

/** The CTE adding a chunk's totals per product (from `upd`) to the day's postings of `kind`. */
const addToDaily = (kind: string, sums: string[]) => {
  const columns = ['amount', 'amount2', 'amount3'].slice(0, sums.length);
  return `agg AS (
  INSERT INTO lending_daily_postings (product_code, business_date, kind, ${columns.join(', ')})
  SELECT product_code, $1::text, '${kind}', ${sums.map((x) => `sum(${x})`).join(', ')} FROM upd GROUP BY product_code
  ON CONFLICT (product_code, business_date, kind) DO UPDATE SET
    ${columns.map((c) => `${c} = lending_daily_postings.${c} + excluded.${c}`).join(', ')}
)`;
};

/** Instalments falling due on the date: move each loan's current period on (overdue principal, oldest unpaid). */
const dueSql = `WITH ${chunkOf(`status = 'active' AND cur_due_date <= $1::text`)},
upd AS (
  UPDATE lending_loans l SET
    interest_before_current = l.interest_before_current + l.cur_interest,
    overdue_principal = l.overdue_principal + (i.principal - i.principal_paid),
    oldest_unpaid_due = CASE WHEN l.oldest_unpaid_due IS NULL
        AND i.principal - i.principal_paid + i.interest - i.interest_paid + i.fee - i.fee_paid > 0
      THEN i.due_date ELSE l.oldest_unpaid_due END,
    cur_number = n.number, cur_period_start = n.period_start, cur_due_date = n.due_date,
    cur_interest = coalesce(n.interest, 0), cur_carried = coalesce(n.carried_interest, 0),
    cur_opening = coalesce(n.opening_balance, 0),
    cur_rate_n = coalesce(p.annual_rate * n.fraction_n, 0), cur_rate_d = coalesce(100 * n.fraction_d, 1),
    due_through = $1::text
  FROM chunk c, lending_products p, lending_instalments i
    LEFT JOIN lending_instalments n ON n.loan_id = i.loan_id AND n.number = i.number + 1
  WHERE l.id = c.id AND p.id = l.product_id AND i.loan_id = l.id AND i.number = l.cur_number
  RETURNING l.id
)
${chunkResult}`;

/**
 * Interest recognised through the date: everything of periods already due, the interest a
 * prepayment fixed for the current period, and the current period's interest for the days
 * elapsed (opening balance × rate × period fraction × elapsed / days, rounded half-even: the
 * payoff quote's formula, so what is recognised never exceeds what a payoff would charge).
 */
const accrualSql = `WITH ${chunkOf(`status = 'active'`)},
xy AS (
  SELECT l.id, l.product_code, l.interest_accrued, l.interest_before_current + CASE WHEN l.cur_number IS NULL THEN 0 ELSE l.cur_carried END AS fixed,
    CASE WHEN l.cur_number IS NULL THEN 0 ELSE l.cur_opening::numeric * l.cur_rate_n
      * least(greatest($1::text::date - l.cur_period_start::date, 0), l.cur_due_date::date - l.cur_period_start::date) END AS x,
    CASE WHEN l.cur_number IS NULL THEN 1 ELSE l.cur_rate_d * greatest(l.cur_due_date::date - l.cur_period_start::date, 1) END AS y
  FROM lending_loans l JOIN chunk USING (id)
  WHERE l.accrued_through < $1::text
),
calc AS (
  SELECT id, product_code,
    greatest(0, fixed + q + CASE WHEN 2 * (x - q * y) > y OR (2 * (x - q * y) = y AND mod(q, 2) = 1) THEN 1 ELSE 0 END
      - interest_accrued)::int8 AS delta
  FROM (SELECT *, div(x, y) AS q FROM xy) t
),
upd AS (
  UPDATE lending_loans l SET interest_accrued = l.interest_accrued + c.delta, accrued_through = $1::text
  FROM calc c WHERE l.id = c.id
  RETURNING c.product_code, c.delta
),
${addToDaily('interest', ['delta'])}
${chunkResult}`;

/**
 * Penalty interest on overdue principal after the grace days: annual penalty rate / 365 a day, rounded
 * down. The rate is held to the 24% ceiling here too, for products made before checkProduct refused more.
 */
const penaltySql = `WITH ${chunkOf(`status = 'active' AND oldest_unpaid_due IS NOT NULL`)},
calc AS (
  SELECT l.id, l.product_code, div(l.overdue_principal * least(p.penalty_rate, 24), 36500)::int8 AS penalty
  FROM lending_loans l JOIN chunk USING (id) JOIN lending_products p ON p.id = l.product_id
  WHERE l.penalty_through < $1::text AND l.oldest_unpaid_due::date < $1::text::date - p.grace_days
),
upd AS (
  UPDATE lending_loans l SET penalty_accrued = l.penalty_accrued + c.penalty, penalty_through = $1::text
  FROM calc c WHERE l.id = c.id
  RETURNING c.product_code, c.penalty
),
${addToDaily('penalty', ['penalty'])}
${chunkResult}`;

/** Days past due on the date, for loans past due or no longer. */
const agingSql = `WITH ${chunkOf(`status = 'active' AND (oldest_unpaid_due IS NOT NULL OR dpd <> 0)`)},
upd AS (
  UPDATE lending_loans l
  SET dpd = CASE WHEN l.oldest_unpaid_due IS NULL THEN 0 ELSE greatest($1::text::date - l.oldest_unpaid_due::date, 0) END
  FROM chunk c WHERE l.id = c.id
  RETURNING l.id
)
${chunkResult}`;

/** Loans past the product's charge-off days: written off, principal, interest and penalties owed. */
const chargeOffSql = `WITH ${chunkOf(`status = 'active' AND oldest_unpaid_due IS NOT NULL`)},
upd AS (
  UPDATE lending_loans l SET status = 'charged_off', charged_off_on = $1::text,
    charged_off_amount = l.principal_outstanding + l.interest_accrued - l.interest_paid + l.penalty_accrued - l.penalty_paid
  FROM chunk c, lending_products p
  WHERE l.id = c.id AND p.id = l.product_id AND l.oldest_unpaid_due::date <= $1::text::date - p.charge_off_days
  RETURNING l.product_code, l.principal_outstanding AS principal, l.interest_accrued - l.interest_paid AS interest,
    l.penalty_accrued - l.penalty_paid AS penalty
),
${addToDaily('charge_off', ['principal', 'interest', 'penalty'])}
${chunkResult}`;

/** Posts the day's totals of `kind` per product (one entry each, id derived from product, date, kind). */
async function postDaily(
  db: Database,
  ledger: Ledger,
  date: string,
  kind: 'interest' | 'penalty' | 'charge_off',
): Promise<void> {
  const { rows } = await db.query<{ product_code: string; amount: bigint; amount2: bigint; amount3: bigint }>(
    `SELECT product_code, amount, amount2, amount3 FROM lending_daily_postings
     WHERE business_date = $1 AND kind = $2 AND NOT posted ORDER BY product_code`,
    [date, kind],
  );
  for (const row of rows) {
    const a = productAccounts(row.product_code);
    const legs: Leg[] = [];
    const add = (accountId: string, side: Leg['side'], amount: bigint) => {
      if (amount > 0n) legs.push({ accountId, side, amount });
    };
    if (kind === 'interest') {
      add(a.interestReceivable, 'debit', BigInt(row.amount));
      add(a.interestIncome, 'credit', BigInt(row.amount));
    } else if (kind === 'penalty') {
      add(a.penaltyReceivable, 'debit', BigInt(row.amount));
      add(a.penaltyIncome, 'credit', BigInt(row.amount));
    } else {
      const total = BigInt(row.amount) + BigInt(row.amount2) + BigInt(row.amount3);
      add(a.chargeOffs, 'debit', total);
      add(a.principalReceivable, 'credit', BigInt(row.amount));
      add(a.interestReceivable, 'credit', BigInt(row.amount2));
      add(a.penaltyReceivable, 'credit', BigInt(row.amount3));
    }
    if (legs.length >= 2) {
      await ledger.postEntry({
        id: derivedId('lending.daily', `${row.product_code}:${date}:${kind}`),
        legs,
        metadata: { kind: `loan_${kind}`, product: row.product_code, business_date: date },
      });
    }
    await db.query(
      `UPDATE lending_daily_postings SET posted = true WHERE product_code = $1 AND business_date = $2 AND kind = $3`,
      [row.product_code, date, kind],
    );
  }
}

/**
 * Auto-debit from the wallet on and after due dates: finish any repayment left pending, then
 * for each loan with something due and auto-debit on, take what is due, up to the wallet's
 * available balance (one ledger entry per loan: money moves). Entry ids derive from (loan, date).
 */
async function autoDebits(ctx: LendingContext, c: CloseStepContext): Promise<void> {
  const pending = await ctx.db.query<{ id: string }>(
    `SELECT id FROM lending_repayments WHERE status = 'pending'`,
  );
  for (const { id } of pending.rows) await finishRepayment(ctx, id).catch(ignoreRefusals);
  let cursor = c.cursor ?? '00000000-0000-0000-0000-000000000000';
  let done = 0;
  for (;;) {
    const { rows } = await ctx.db.query<{ id: string; user_id: string }>(
      `SELECT id, user_id FROM lending_loans WHERE status = 'active' AND auto_debit AND oldest_unpaid_due <= $1::text
         AND id > $2::uuid ORDER BY id LIMIT 500`,
      [c.businessDate, cursor],
    );
    if (rows.length === 0) break;
    // A few loans at a time: each takes a pooled connection for its lock and its ledger entry.
    for (let i = 0; i < rows.length; i += AUTO_DEBIT_PARALLEL) {
      await Promise.all(
        rows.slice(i, i + AUTO_DEBIT_PARALLEL).map(async (loan) => {
          const wallet = await ctx.wallets.getWallet(loan.user_id).catch(() => null);
          if (!wallet || wallet.available <= 0n) return;
          await repay(ctx, {
            id: derivedId('lending.auto-debit', `${loan.id}:${c.businessDate}`),
            userId: loan.user_id,
            loanId: loan.id,
            amount: wallet.available,
            kind: 'auto_debit',
            dueOnly: true,
            asOf: c.businessDate,
          }).catch(ignoreRefusals);
        }),
      );
    }
    cursor = rows[rows.length - 1]!.id;
    done += rows.length;
    await c.checkpoint(cursor, { done });
  }
  await c.checkpoint(null, { done });
}

const AUTO_DEBIT_PARALLEL = 8;

function ignoreRefusals(error: unknown): void {
  if (
    isMilletError(error) &&
    [
      'INSUFFICIENT_FUNDS',
      'LOAN_REPAYMENT_EXCEEDS_BALANCE',
      'LOAN_NOT_ACTIVE',
      'LOAN_REPAYMENT_IN_PROGRESS',
      'WALLET_NOT_FOUND',
    ].includes(error.code)
  ) {
    return;
  }
  throw error;
}

/** Loss provision rates by bucket, in basis points of principal outstanding. */
export const provisionRatesBps: Record<DelinquencyBucket, bigint> = {
  current: 100n,
  '1-3': 300n,
  '4-30': 1_000n,
  '31-60': 3_000n,
  '61-90': 5_000n,
  '91-120': 10_000n,
  '121-150': 10_000n,
  '151-180': 10_000n,
  '181-210': 10_000n,
  '211-240': 10_000n,
  '241+': 10_000n,
};

/** Brings each product's loss provision to Σ outstanding by bucket × rate (half-even), one entry per product and day. */
async function provision(db: Database, ledger: Ledger, date: string): Promise<void> {
  const { rows } = await db.query<{ product_code: string; bucket: DelinquencyBucket; outstanding: bigint }>(
    `SELECT product_code, ${delinquencyBucketSql('dpd')} AS bucket, sum(principal_outstanding)::int8 AS outstanding
     FROM lending_loans WHERE status = 'active' GROUP BY 1, 2`,
  );
  const products = await db.query<{ code: string }>(`SELECT DISTINCT code FROM lending_products`);
  const targets = new Map<string, bigint>(products.rows.map((p) => [p.code, 0n]));
  for (const r of rows) {
    if (!delinquencyBuckets.includes(r.bucket)) continue;
    const amount = divRound(BigInt(r.outstanding) * provisionRatesBps[r.bucket], 10_000n, 'half_even');
    targets.set(r.product_code, (targets.get(r.product_code) ?? 0n) + amount);
  }
  for (const [code, target] of targets) {
    const held = await db.query<{ amount: bigint; business_date: string }>(
      'SELECT amount, business_date FROM lending_provisions WHERE product_code = $1',
      [code],
    );
    const previous = held.rows[0];
    if (previous?.business_date === date) continue;
    const delta = target - BigInt(previous?.amount ?? 0n);
    const a = productAccounts(code);
    if (delta !== 0n) {
      const amount = delta > 0n ? delta : -delta;
      await ledger.transfer({
        id: derivedId('lending.daily', `${code}:${date}:provision`),
        debitAccountId: delta > 0n ? a.provisionExpense : a.lossProvision,
        creditAccountId: delta > 0n ? a.lossProvision : a.provisionExpense,
        amount,
        metadata: { kind: 'loan_provision', product: code, business_date: date },
      });
    }
    await db.query(
      `INSERT INTO lending_provisions (product_code, amount, business_date) VALUES ($1, $2, $3)
       ON CONFLICT (product_code) DO UPDATE SET amount = excluded.amount, business_date = excluded.business_date`,
      [code, target, date],
    );
  }
}

/** On a month's last day, each loan's days past due and balance by month on book (for vintages). */
async function monthEndSnapshot(db: Database, date: string): Promise<void> {
  const next = new Date(`${date}T00:00:00Z`);
  next.setUTCDate(next.getUTCDate() + 1);
  if (next.getUTCDate() !== 1) return;
  const month = date.slice(0, 7);
  await db.query(
    `INSERT INTO lending_aging_snapshots (loan_id, month, origination_month, months_on_book, dpd, principal_outstanding)
     SELECT id, $2, substr(drawn_on, 1, 7),
       (extract(year FROM $1::text::date)::int * 12 + extract(month FROM $1::text::date)::int)
         - (extract(year FROM drawn_on::date)::int * 12 + extract(month FROM drawn_on::date)::int),
       CASE WHEN status IN ('active', 'charged_off') AND oldest_unpaid_due IS NOT NULL
         THEN greatest($1::text::date - oldest_unpaid_due::date, 0) ELSE 0 END,
       principal_outstanding
     FROM lending_loans WHERE status IN ('active', 'charged_off', 'repaid') AND drawn_on <= $1
     ON CONFLICT (month, loan_id) DO NOTHING`,
    [date, month],
  );
}
