import type { Queryable } from '../db/index.ts';

/** Where one part of a repayment or refund went. */
export type AllocationItem =
  /** `own`: principal a refund paid of the statement's own purchases (its `refunded_purchases`). */
  | { t: 'statement'; id: string; c: 'penalty' | 'fees' | 'interest' | 'principal'; a: string; own?: true }
  /** `p`: the unbilled purchase whose refund this is (the close holds back only its unrefunded rest). */
  | { t: 'line'; c: 'accrued' | 'unbilled'; a: string; p?: string }
  | { t: 'period'; plan: string; period: number; a: string };

/** What a line owes, oldest first, as the allocation reads it. */
export interface Owed {
  statements: ReadonlyArray<{
    id: string;
    penalty: bigint;
    fees: bigint;
    interest: bigint;
    principal: bigint;
    /** Of `principal`, the statement's purchases (not its instalment months): what a refund of one may pay as its own. */
    purchases?: bigint;
  }>;
  /** Daily mode: interest accrued since the last statement. */
  accrued: bigint;
  unbilled: bigint;
  /** Future instalment principal not billed yet, in the order a refund or settlement takes it. */
  periods: ReadonlyArray<{ plan: string; period: number; principal: bigint }>;
  /** Instalment principal billed on the unpaid statements, per plan (what a refund of it may clear there). */
  billed?: ReadonlyArray<{ plan: string; statement: string; principal: bigint }>;
}

export interface Allocation {
  items: AllocationItem[];
  /** Principal repaid (credits the line's receivable). */
  principal: bigint;
  /** Interest, fees and penalties repaid (credit the product's charges receivable). */
  charges: bigint;
  /** What no debt took. */
  rest: bigint;
}

/**
 * The repayment order: penalties, then fees and interest, then principal, each oldest statement
 * first; then (daily mode) the interest accrued since the last statement and the unbilled principal.
 * `principalOnly` (refunds) takes only principal: the statements' and the unbilled principal, then
 * future instalments (`includeFuture`: refunds, early settlement, and a repayment beyond the rest). `unbilledFirst` puts the unbilled
 * principal before the statements' (a refund of a purchase not yet billed).
 */
export function allocate(
  owed: Owed,
  amount: bigint,
  options: { principalOnly?: boolean; includeFuture?: boolean; unbilledFirst?: boolean } = {},
): Allocation {
  let rest = amount;
  const items: AllocationItem[] = [];
  let principal = 0n;
  let charges = 0n;
  const take = (available: bigint, item: (a: string) => AllocationItem, isPrincipal: boolean) => {
    if (rest <= 0n || available <= 0n) return;
    const a = available < rest ? available : rest;
    rest -= a;
    items.push(item(a.toString()));
    if (isPrincipal) principal += a;
    else charges += a;
  };
  if (!options.principalOnly) {
    for (const s of owed.statements)
      take(s.penalty, (a) => ({ t: 'statement', id: s.id, c: 'penalty', a }), false);
    for (const s of owed.statements) {
      take(s.fees, (a) => ({ t: 'statement', id: s.id, c: 'fees', a }), false);
      take(s.interest, (a) => ({ t: 'statement', id: s.id, c: 'interest', a }), false);
    }
  }
  const unbilled = () => take(owed.unbilled, (a) => ({ t: 'line', c: 'unbilled', a }), true);
  if (options.unbilledFirst) unbilled();
  for (const s of owed.statements)
    take(s.principal, (a) => ({ t: 'statement', id: s.id, c: 'principal', a }), true);
  if (!options.principalOnly) take(owed.accrued, (a) => ({ t: 'line', c: 'accrued', a }), false);
  if (!options.unbilledFirst) unbilled();
  if (options.includeFuture)
    for (const p of owed.periods)
      take(p.principal, (a) => ({ t: 'period', plan: p.plan, period: p.period, a }), true);
  return { items, principal, charges, rest };
}

/** What `owed` still asks once `taken` has been applied to it. */
export function owedAfter(owed: Owed, taken: Allocation): Owed {
  const took = new Map<string, bigint>();
  const add = (key: string, a: string) => took.set(key, (took.get(key) ?? 0n) + BigInt(a));
  for (const i of taken.items)
    if (i.t === 'statement') {
      add(`s:${i.id}:${i.c}`, i.a);
      if (i.own) add(`s:${i.id}:own`, i.a);
    } else if (i.t === 'line') add(`l:${i.c}`, i.a);
    else add(`p:${i.plan}:${i.period}`, i.a);
  const less = (key: string, v: bigint) => v - (took.get(key) ?? 0n);
  return {
    statements: owed.statements.map((s) => ({
      id: s.id,
      penalty: less(`s:${s.id}:penalty`, s.penalty),
      fees: less(`s:${s.id}:fees`, s.fees),
      interest: less(`s:${s.id}:interest`, s.interest),
      principal: less(`s:${s.id}:principal`, s.principal),
      ...(s.purchases === undefined
        ? {}
        : {
            // Other principal taken may have been the instalment months' or the purchases': at most what is left.
            purchases: minOf(less(`s:${s.id}:own`, s.purchases), less(`s:${s.id}:principal`, s.principal)),
          }),
    })),
    accrued: less('l:accrued', owed.accrued),
    unbilled: less('l:unbilled', owed.unbilled),
    periods: owed.periods.map((p) => ({ ...p, principal: less(`p:${p.plan}:${p.period}`, p.principal) })),
    billed: owed.billed,
  };
}

const minOf = (a: bigint, b: bigint) => (a < b ? a : b);

/**
 * Takes `amount` from each part of what is owed in turn (each part sees what the ones before it
 * left) and joins the results: a refund clears its own purchase's debt before any other.
 */
export function allocateInTurn(
  owed: Owed,
  amount: bigint,
  parts: ReadonlyArray<
    (left: Owed) => {
      owed: Owed;
      options: Parameters<typeof allocate>[2];
      /** Rewrites the part's items (e.g. marks them as a refunded purchase's own). */
      mark?: (item: AllocationItem) => AllocationItem;
    }
  >,
): Allocation {
  let left = owed;
  const joined: Allocation = { items: [], principal: 0n, charges: 0n, rest: amount };
  for (const part of parts) {
    if (joined.rest <= 0n) break;
    const { owed: narrowed, options, mark } = part(left);
    const taken = allocate(narrowed, joined.rest, options);
    joined.items.push(...(mark ? taken.items.map(mark) : taken.items));
    joined.principal += taken.principal;
    joined.charges += taken.charges;
    joined.rest = taken.rest;
    left = owedAfter(left, taken);
  }
  return joined;
}

const statementColumn = {
  penalty: 'paid_penalty',
  fees: 'paid_fees',
  interest: 'paid_interest',
  principal: 'paid_principal',
} as const;

/** Applies an allocation to the line's tables (sign 1) or takes it back (sign −1, a refused ledger entry). */
export async function applyAllocation(
  tx: Queryable,
  lineId: string,
  items: readonly AllocationItem[],
  sign: 1n | -1n,
  businessDate: string,
): Promise<void> {
  let principal = 0n;
  const touched = new Set<string>();
  for (const item of items) {
    const a = BigInt(item.a) * sign;
    if (item.t === 'statement') {
      const column = statementColumn[item.c];
      await tx.query(
        item.own
          ? `UPDATE paylater_statements SET ${column} = ${column} + $2, refunded_purchases = refunded_purchases + $2 WHERE id = $1`
          : `UPDATE paylater_statements SET ${column} = ${column} + $2 WHERE id = $1`,
        [item.id, a],
      );
      touched.add(item.id);
      if (item.c === 'principal') principal += a;
    } else if (item.t === 'line') {
      const column = item.c === 'accrued' ? 'accrued_interest' : 'unbilled_principal';
      await tx.query(`UPDATE paylater_lines SET ${column} = ${column} - $2 WHERE id = $1`, [lineId, a]);
      if (item.c === 'unbilled') principal += a;
      if (item.c === 'unbilled' && item.p !== undefined)
        await tx.query(
          'UPDATE paylater_purchases SET unbilled_refunded = unbilled_refunded + $2 WHERE payment_id = $1',
          [item.p, a],
        );
    } else {
      await tx.query(
        `UPDATE paylater_plan_periods SET settled_principal = settled_principal + $3 WHERE plan_id = $1 AND period = $2`,
        [item.plan, item.period, a],
      );
      await tx.query(
        'UPDATE paylater_lines SET instalment_principal = instalment_principal - $2 WHERE id = $1',
        [lineId, a],
      );
      principal += a;
    }
  }
  if (principal !== 0n)
    await tx.query(
      'UPDATE paylater_lines SET principal_outstanding = principal_outstanding - $2 WHERE id = $1',
      [lineId, principal],
    );
  if (touched.size > 0)
    await tx.query(
      `UPDATE paylater_statements SET
         min_paid_on = CASE WHEN ${PAID_TOTAL} >= min_payment THEN coalesce(min_paid_on, $2::date) END,
         paid_on = CASE WHEN ${PAID_TOTAL} >= ${DUE_TOTAL} THEN coalesce(paid_on, $2::date) END
       WHERE id = ANY($1::uuid[])`,
      [[...touched], businessDate],
    );
}

/** SQL over a paylater_statements row: what has been paid, and what it asks in all. */
export const PAID_TOTAL = '(paid_principal + paid_fees + paid_interest + paid_penalty)';
export const DUE_TOTAL = '(principal - converted_principal + fees + interest + penalty)';
