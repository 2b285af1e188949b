import type { Logger } from 'pino';
import { MilletError, businessDate, derivedId, isMilletError, newId, type Clock } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import type { Ledger, Leg } from '../ledger/index.ts';
import { allocateRepayment, type Owed } from './allocation.ts';
import {
  APR_CAP_PERCENT_E4,
  aprOfPeriodicFlows,
  assertAprWithinCap,
  formatPercentE4,
  type Apr,
} from './apr.ts';
import { daysPastDue, delinquencyBucket, type DelinquencyBucket } from './delinquency.ts';
import {
  derivedLoanFields,
  insertInstalments,
  loadInstalments,
  toInstalmentState,
  writeDerivedFields,
  type InstalmentRow,
} from './loan-state.ts';
import {
  earlyInstalment,
  earlyPayable,
  nextPayment,
  unpaidOf,
  type UpcomingPayment,
} from './next-payment.ts';
import type {
  CoDebtSource,
  LendingScoreSource,
  LendingUserDirectory,
  LendingWallets,
  LoanDrawnListener,
} from './ports.ts';
import { prepay } from './prepayment.ts';
import { getProduct, latestProduct, productAccounts, productRate, type Product } from './products.ts';
import {
  buildSchedule,
  payoffQuote,
  unpaidInstalment,
  type Instalment,
  type InstalmentState,
  type PayoffQuote,
} from './schedule.ts';

export interface LendingContext {
  db: Database;
  ledger: Ledger;
  clock: Clock;
  users: LendingUserDirectory;
  scores: LendingScoreSource;
  wallets: LendingWallets;
  coDebt: CoDebtSource;
  /** Most loan applications in the co-debt window (30 days) before routing stops. */
  coDebtLimit?: number;
  onLoanDrawn?: LoanDrawnListener;
}

/** An offer, APR first: the number the borrower compares (PBoC [2021] No. 3). */
export interface Offer {
  apr: string;
  id: string;
  applicationId: string;
  productId: string;
  productCode: string;
  amount: bigint;
  terms: number;
  annualRate: string;
  totalInterest: bigint;
  instalment: bigint;
  expiresOn: string;
  status: 'open' | 'accepted';
  loanId: string | null;
  schedule: Instalment[];
}

export interface Application {
  id: string;
  userId: string;
  productId: string;
  amount: bigint;
  terms: number;
  status: 'approved' | 'declined';
  declineReason: string | null;
  score: number | null;
  creditLimit: bigint | null;
  offer: Offer | null;
}

export interface Loan {
  apr: string;
  id: string;
  userId: string;
  productId: string;
  productCode: string;
  principal: bigint;
  terms: number;
  annualRate: string;
  drawnOn: string;
  status: 'disbursing' | 'active' | 'repaid' | 'charged_off' | 'cancelled';
  principalOutstanding: bigint;
  interestAccrued: bigint;
  interestPaid: bigint;
  penaltyAccrued: bigint;
  penaltyPaid: bigint;
  daysPastDue: number;
  bucket: DelinquencyBucket;
  /** The end of the current interest period (the close accrues on it); an instalment paid early keeps it. */
  nextDueDate: string | null;
  /** What the borrower pays next (an active loan): the first instalment with anything unpaid. */
  nextPayment: UpcomingPayment | null;
  /** The instalment paying the next one early settles today (an active loan), null when it would be refused. */
  earlyInstalment: UpcomingPayment | null;
  chargedOffAmount: bigint;
  recovered: bigint;
  createdAt: Date;
}

const OFFER_DAYS = 7;
const CO_DEBT_WINDOW_DAYS = 30;

/** The default co-debt source: this module's own applications in the window. */
export function ownCoDebt(db: Queryable): CoDebtSource {
  return {
    async recent(userId, sinceDate, within) {
      const { rows } = await (within ?? db).query<{ n: bigint; amount: bigint | null }>(
        `SELECT count(*)::int8 AS n, sum(amount)::int8 AS amount FROM lending_applications
         WHERE user_id = $1 AND business_date >= $2`,
        [userId, sinceDate],
      );
      return { applications: Number(rows[0]!.n), amount: BigInt(rows[0]!.amount ?? 0n) };
    },
  };
}

function aprOfSchedule(amount: bigint, schedule: readonly Instalment[]): Apr {
  return aprOfPeriodicFlows([-amount, ...schedule.map((i) => i.total)], 12);
}

/** The credit limit a score gives on a product: linear from minScore (minimum amount) to 950 (maximum), in whole 100 CNY. */
export function creditLimit(product: Product, score: number): bigint {
  if (score < product.minScore) return 0n;
  const span = BigInt(950 - product.minScore);
  const above = BigInt(Math.min(950, score) - product.minScore);
  const raw =
    product.minAmount + ((product.maxAmount - product.minAmount) * above) / (span === 0n ? 1n : span);
  const rounded = (raw / 10_000n) * 10_000n;
  return rounded < product.minAmount ? product.minAmount : rounded;
}

/**
 * Apply for a cash loan: rules (adult, verified, account class, co-debt, existing exposure, score)
 * → approved with an offer, or declined with the reason. Every application is recorded (it
 * counts for co-debt).
 */
export async function apply(
  ctx: LendingContext,
  userId: string,
  command: { productCode: string; amount: bigint; terms: number },
): Promise<Application> {
  const product = await latestProduct(ctx.db, command.productCode);
  if (command.amount < product.minAmount || command.amount > product.maxAmount) {
    throw new MilletError('LOAN_AMOUNT_OUT_OF_RANGE', 'the amount is outside the product’s range', {
      min_amount: product.minAmount.toString(),
      max_amount: product.maxAmount.toString(),
    });
  }
  if (!product.terms.includes(command.terms)) {
    throw new MilletError('LOAN_AMOUNT_OUT_OF_RANGE', 'the product does not offer that many instalments', {
      terms: product.terms,
    });
  }
  const today = businessDate(ctx.clock);
  const user = await ctx.users.getUser(userId);
  let declineReason: string | null = null;
  let score: number | null = null;
  let limit: bigint | null = null;
  if (user.kycStatus !== 'verified') declineReason = 'identity_not_verified';
  else if (!user.isAdult) declineReason = 'under_18';
  else if (!user.accountClass || !product.accountClasses.includes(user.accountClass))
    declineReason = 'account_class';
  if (!declineReason) {
    const recent = await ctx.coDebt.recent(userId, addDaysText(today, -CO_DEBT_WINDOW_DAYS));
    if (recent.applications >= (ctx.coDebtLimit ?? 5)) declineReason = 'co_debt';
  }
  if (!declineReason) {
    try {
      score = (await ctx.scores.getLatestScore(userId)).score;
    } catch (error) {
      if ((error as MilletError).code !== 'CREDIT_SCORE_NOT_FOUND') throw error;
      declineReason = 'no_score';
    }
  }
  if (!declineReason && score !== null) {
    limit = creditLimit(product, score);
    if (limit === 0n) declineReason = 'score';
    else {
      const exposure = await userExposure(ctx.db, userId);
      if (exposure + command.amount > limit) declineReason = 'exposure';
    }
  }
  const id = newId();
  const now = ctx.clock.now();
  const offerId = await ctx.db.transaction(async (tx) => {
    // The user's applications one at a time: the co-debt count read above may have been passed by
    // applications sent at the same time, so it is read again under the lock.
    await lockBorrower(tx, userId);
    if (!declineReason) {
      const recent = await ctx.coDebt.recent(userId, addDaysText(today, -CO_DEBT_WINDOW_DAYS), tx);
      if (recent.applications >= (ctx.coDebtLimit ?? 5)) {
        declineReason = 'co_debt';
        score = null;
        limit = null;
      }
    }
    await tx.query(
      `INSERT INTO lending_applications (id, user_id, product_id, amount, terms, status, decline_reason, score,
         credit_limit, business_date, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
      [
        id,
        userId,
        product.id,
        command.amount,
        command.terms,
        declineReason ? 'declined' : 'approved',
        declineReason,
        score,
        limit,
        today,
        now,
      ],
    );
    if (declineReason) return null;
    const schedule = previewSchedule(product, command.amount, command.terms, today);
    const apr = aprOfSchedule(command.amount, schedule);
    // checkProduct proves the cap over start dates and amounts; this loan's own schedule is checked
    // too, since a product made before that proof may still be on offer.
    assertAprWithinCap(apr);
    const newOfferId = newId();
    await tx.query(
      `INSERT INTO lending_offers (id, application_id, user_id, product_id, amount, terms, apr_e4, expires_on, status,
         created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'open',$9)`,
      [
        newOfferId,
        id,
        userId,
        product.id,
        command.amount,
        command.terms,
        apr.percentE4,
        addDaysText(today, OFFER_DAYS),
        now,
      ],
    );
    return newOfferId;
  });
  const offer = offerId ? await getOffer(ctx.db, offerId, userId, today) : null;
  return {
    id,
    userId,
    productId: product.id,
    amount: command.amount,
    terms: command.terms,
    status: declineReason ? 'declined' : 'approved',
    declineReason,
    score,
    creditLimit: limit,
    offer,
  };
}

/** An indicative quote (no personal data, nothing recorded): what a product would cost for `terms`. */
export interface Quote {
  productCode: string;
  amount: bigint;
  terms: number;
  apr: Apr;
  totalInterest: bigint;
}

/**
 * The cheapest current product that lends `amount` over `terms` months, priced as an offer would
 * be today (the marketplace's ping for the platform's own loan). Null when no product fits.
 */
export function quoteLoan(
  products: readonly Product[],
  command: { amount: bigint; terms: number; today: string },
): Quote | null {
  let best: Quote | null = null;
  for (const product of products) {
    if (command.amount < product.minAmount || command.amount > product.maxAmount) continue;
    if (!product.terms.includes(command.terms)) continue;
    const schedule = previewSchedule(product, command.amount, command.terms, command.today);
    const apr = aprOfSchedule(command.amount, schedule);
    if (apr.percentE4 > APR_CAP_PERCENT_E4) continue;
    if (best && best.apr.percentE4 <= apr.percentE4) continue;
    best = {
      productCode: product.code,
      amount: command.amount,
      terms: command.terms,
      apr,
      totalInterest: schedule.reduce((sum, i) => sum + i.interest, 0n),
    };
  }
  return best;
}

function previewSchedule(product: Product, amount: bigint, terms: number, start: string): Instalment[] {
  return buildSchedule({
    principal: amount,
    annualRate: productRate(product),
    type: product.scheduleType,
    dayCount: product.dayCount,
    rounding: product.rounding,
    start,
    terms,
  });
}

/**
 * Locks the user as a borrower (the row made on first use), so that the user's applications and
 * draws are judged one at a time.
 */
async function lockBorrower(tx: Queryable, userId: string): Promise<void> {
  await tx.query(
    `INSERT INTO lending_borrowers (user_id) VALUES ($1)
     ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id`,
    [userId],
  );
}

async function userExposure(db: Queryable, userId: string): Promise<bigint> {
  const { rows } = await db.query<{ total: bigint | null }>(
    `SELECT sum(principal_outstanding)::int8 AS total FROM lending_loans
     WHERE user_id = $1 AND status IN ('disbursing', 'active', 'charged_off')`,
    [userId],
  );
  return BigInt(rows[0]!.total ?? 0n);
}

interface OfferRow {
  id: string;
  application_id: string;
  user_id: string;
  product_id: string;
  amount: bigint;
  terms: number;
  apr_e4: bigint;
  expires_on: string;
  status: 'open' | 'accepted';
  loan_id: string | null;
}

/** An offer with its schedule as if drawn today (or on `asOf`). */
export async function getOffer(db: Queryable, id: string, userId: string, asOf: string): Promise<Offer> {
  const { rows } = await db.query<OfferRow>('SELECT * FROM lending_offers WHERE id = $1 AND user_id = $2', [
    id,
    userId,
  ]);
  const row = rows[0];
  if (!row) throw new MilletError('LOAN_OFFER_NOT_FOUND', 'no such offer');
  const product = await getProduct(db, row.product_id);
  const amount = BigInt(row.amount);
  const schedule = previewSchedule(product, amount, row.terms, asOf);
  return {
    apr: aprOfSchedule(amount, schedule).percent,
    id: row.id,
    applicationId: row.application_id,
    productId: row.product_id,
    productCode: product.code,
    amount,
    terms: row.terms,
    annualRate: product.annualRate,
    totalInterest: schedule.reduce((s, i) => s + i.interest, 0n),
    instalment: schedule[0]!.total,
    expiresOn: row.expires_on,
    status: row.status,
    loanId: row.loan_id,
    schedule,
  };
}

export async function listOffers(db: Queryable, userId: string, asOf: string): Promise<Offer[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM lending_offers WHERE user_id = $1 AND status = 'open' AND expires_on >= $2 ORDER BY created_at DESC LIMIT 50`,
    [userId, asOf],
  );
  return Promise.all(rows.map((r) => getOffer(db, r.id, userId, asOf)));
}

/**
 * Accept an offer and draw the loan: the schedule starts today (for a card, again on the day the
 * bank settles, if later); the principal goes to the wallet (or a bank card through the wallet's
 * bank connector), debiting the product's principal receivable, in one ledger entry whose id
 * derives from the loan's.
 */
export async function acceptOffer(
  ctx: LendingContext,
  userId: string,
  offerId: string,
  disbursement: { to: 'wallet' } | { to: 'card'; cardToken: string },
): Promise<Loan> {
  const today = businessDate(ctx.clock);
  const loanId = derivedId('lending.loan', offerId);
  const created = await ctx.db.transaction(async (tx) => {
    const { rows } = await tx.query<OfferRow>(
      'SELECT * FROM lending_offers WHERE id = $1 AND user_id = $2 FOR UPDATE',
      [offerId, userId],
    );
    const offer = rows[0];
    if (!offer) throw new MilletError('LOAN_OFFER_NOT_FOUND', 'no such offer');
    if (offer.status === 'accepted') return false;
    if (offer.expires_on < today) throw new MilletError('LOAN_OFFER_EXPIRED', 'the offer has expired');
    const amount = BigInt(offer.amount);
    // Every offer was within the limit when it was made, but not all of them together: the draw is
    // judged against what the user owes now, one draw of theirs at a time.
    await lockBorrower(tx, userId);
    const limited = await tx.query<{ credit_limit: bigint | null }>(
      'SELECT credit_limit FROM lending_applications WHERE id = $1',
      [offer.application_id],
    );
    const limit = limited.rows[0]?.credit_limit ?? null;
    const exposure = await userExposure(tx, userId);
    if (limit !== null && exposure + amount > BigInt(limit))
      throw new MilletError(
        'LOAN_CREDIT_LIMIT_EXCEEDED',
        'drawing this offer would take what you owe on cash loans past your credit limit',
        { credit_limit: String(limit), owed: exposure.toString(), amount: amount.toString() },
      );
    const product = await getProduct(tx, offer.product_id);
    const schedule = previewSchedule(product, amount, offer.terms, today);
    const apr = aprOfSchedule(amount, schedule);
    // The schedule starts today, not on the offer's day, so its APR is checked again: nothing has
    // been paid out yet, so a loan above the cap is refused rather than made.
    assertAprWithinCap(apr);
    await tx.query(
      `INSERT INTO lending_loans (id, user_id, product_id, product_code, offer_id, principal, terms, apr_e4, drawn_on,
         disburse_to, status, principal_outstanding, accrued_through, due_through, penalty_through, created_at)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,'disbursing',$6,$9,$9,$9,$11)`,
      [
        loanId,
        userId,
        product.id,
        product.code,
        offerId,
        amount,
        offer.terms,
        apr.percentE4,
        today,
        disbursement.to,
        ctx.clock.now(),
      ],
    );
    const states = schedule.map(unpaidInstalment);
    await insertInstalments(tx, loanId, states);
    await writeDerivedFields(tx, loanId, derivedLoanFields(states, productRate(product), today));
    await tx.query(`UPDATE lending_offers SET status = 'accepted', loan_id = $2 WHERE id = $1`, [
      offerId,
      loanId,
    ]);
    return true;
  });
  const loan = await getLoan(ctx.db, loanId, userId, today);
  if (created || loan.status === 'disbursing') await disburse(ctx, loan, disbursement);
  const drawn = await getLoan(ctx.db, loanId, userId, today);
  if (ctx.onLoanDrawn && drawn.status !== 'disbursing' && drawn.status !== 'cancelled')
    await ctx.onLoanDrawn({ loanId, offerId, userId, amount: drawn.principal });
  return drawn;
}

async function disburse(
  ctx: LendingContext,
  loan: Loan,
  disbursement: { to: 'wallet' } | { to: 'card'; cardToken: string },
): Promise<void> {
  const accounts = productAccounts(loan.productCode);
  const credit =
    disbursement.to === 'wallet'
      ? (await ctx.wallets.getWallet(loan.userId)).ledgerAccountId
      : ctx.wallets.bankClearingAccountId('CNY');
  const entryId = derivedId('lending.disbursement', loan.id);
  await ctx.ledger.transfer({
    id: entryId,
    debitAccountId: accounts.principalReceivable,
    creditAccountId: credit,
    amount: loan.principal,
    metadata: { kind: 'loan_disbursement', loan_id: loan.id, to: disbursement.to },
  });
  if (disbursement.to === 'card') {
    try {
      await ctx.wallets.creditCard({
        namespace: 'loan',
        id: loan.id,
        cardToken: disbursement.cardToken,
        amount: loan.principal,
        currency: 'CNY',
      });
    } catch (error) {
      // Anything but a decline leaves what the bank did unknown (a timeout, a reset connection, a
      // connector's bug; the wallet logs it): no answer is not a payout, so the loan stays
      // disbursing until the bank settles or is asked. Our own refusal of the request is thrown.
      if (isMilletError(error)) throw error;
      if ((error as Error).name !== 'BankDeclinedError') return;
      await cancelDisbursement(ctx, loan.id);
      throw new MilletError('BANK_DECLINED', 'the bank declined the card; the loan was cancelled');
    }
    // Accepted is not paid: the bank's settlement (or reconciliation) makes the loan active or cancels it.
    return;
  }
  await ctx.db.query(`UPDATE lending_loans SET status = 'active' WHERE id = $1 AND status = 'disbursing'`, [
    loan.id,
  ]);
}

/**
 * Undoes a card disbursement the bank refused or failed: the entry is reversed (the principal goes
 * back to the receivable's side, nothing is owed) and the loan cancelled, which also frees its
 * amount under the credit limit. Reversal first, under an id derived from the loan's, so a crash
 * between the two is finished by the next settlement or reconciliation.
 */
async function cancelDisbursement(ctx: LendingContext, loanId: string): Promise<void> {
  await ctx.ledger.reverseEntry({
    id: derivedId('lending.disbursement-declined', loanId),
    entryId: derivedId('lending.disbursement', loanId),
  });
  await ctx.db.query(
    `UPDATE lending_loans SET status = 'cancelled', principal_outstanding = 0, closed_on = $2
      WHERE id = $1 AND status = 'disbursing'`,
    [loanId, businessDate(ctx.clock)],
  );
}

/**
 * The bank's settlement of a card disbursement (named by the loan's id in the `loan` namespace).
 * Safe to receive twice or late: only a loan still disbursing to a card changes.
 */
export async function settleCardDisbursement(
  ctx: LendingContext,
  settlement: { id: string; outcome: 'succeeded' | 'failed' },
): Promise<void> {
  const { rows } = await ctx.db.query<{ user_id: string; offer_id: string; principal: bigint }>(
    `SELECT user_id, offer_id, principal FROM lending_loans
      WHERE id = $1 AND status = 'disbursing' AND disburse_to = 'card'`,
    [settlement.id],
  );
  const loan = rows[0];
  if (!loan) return;
  if (settlement.outcome === 'failed') {
    await cancelDisbursement(ctx, settlement.id);
    return;
  }
  const activated = await ctx.db.transaction((tx) =>
    activateCardLoan(tx, settlement.id, businessDate(ctx.clock)),
  );
  if (activated && ctx.onLoanDrawn)
    await ctx.onLoanDrawn({
      loanId: settlement.id,
      offerId: loan.offer_id,
      userId: loan.user_id,
      amount: BigInt(loan.principal),
    });
}

/**
 * Makes a settled card loan active. The borrower has had the money only since `today`, so a loan
 * the bank settled after the day it was drawn gets its schedule again from today (first due date,
 * interest start, the APR of that schedule, which is what it shows from now on); settled the day it
 * was drawn, it keeps the schedule it was drawn with. Nothing was owed while disbursing (no accrual,
 * no repayment), so nothing paid or recognised has to move. False when it was no longer disbursing.
 */
async function activateCardLoan(tx: Queryable, loanId: string, today: string): Promise<boolean> {
  const { rows } = await tx.query<LoanRow>(`${loanSelect} WHERE l.id = $1 FOR UPDATE OF l`, [loanId]);
  const row = rows[0];
  if (!row || row.status !== 'disbursing') return false;
  const product = row.drawn_on < today ? await getProduct(tx, row.product_id) : null;
  const principal = BigInt(row.principal);
  const schedule = product ? previewSchedule(product, principal, row.terms, today) : null;
  const apr = schedule ? aprOfSchedule(principal, schedule) : null;
  // The money is out, so a rebuilt schedule above the cap cannot be refused: the loan keeps the
  // schedule it was drawn with, whose APR was checked at the accept.
  if (product && schedule && apr && apr.percentE4 <= APR_CAP_PERCENT_E4) {
    const states = schedule.map(unpaidInstalment);
    await tx.query('DELETE FROM lending_instalments WHERE loan_id = $1', [loanId]);
    await insertInstalments(tx, loanId, states);
    await writeDerivedFields(tx, loanId, derivedLoanFields(states, productRate(product), today));
    await tx.query(
      `UPDATE lending_loans SET drawn_on = $2, apr_e4 = $3, accrued_through = $2, due_through = $2,
         penalty_through = $2 WHERE id = $1`,
      [loanId, today, apr.percentE4],
    );
  }
  await tx.query(`UPDATE lending_loans SET status = 'active' WHERE id = $1`, [loanId]);
  return true;
}

/** How `reconcileCardDisbursements` walks the disbursing loans, and where it reports. */
export interface CardReconcileWalk {
  /** Loans asked about per query (default 200). */
  pageSize?: number;
  /** Where a loan the bank could not be asked about, or one that could not be ended, is reported. */
  logger?: Pick<Logger, 'error' | 'warn'>;
}

const CARD_RECONCILE_PAGE = 200;

/**
 * Asks the bank about card disbursements still unsettled after `olderThanMs` (a lost callback, a
 * timeout); one the bank has no record of never went out and is cancelled. Returns how many ended.
 * Every such loan is asked about, a page at a time: a fixed cap let the oldest ones the bank still
 * calls pending hide every newer one for good. Throws the first loan it could not end, after the walk.
 */
export async function reconcileCardDisbursements(
  ctx: LendingContext,
  olderThanMs = 60_000,
  walk: CardReconcileWalk = {},
): Promise<number> {
  // Fixed for the whole walk, so loans drawn meanwhile don't keep it going.
  const before = new Date(ctx.clock.now().getTime() - olderThanMs);
  const pageSize = walk.pageSize ?? CARD_RECONCILE_PAGE;
  // created_at as text: a Date would drop the microseconds, and the next page would repeat rows.
  let after: { at: string; id: string } | undefined;
  let ended = 0;
  let firstError: unknown;
  for (;;) {
    const { rows } = await ctx.db.query<{ id: string; at: string }>(
      `SELECT id, created_at::text AS at FROM lending_loans
        WHERE status = 'disbursing' AND disburse_to = 'card' AND created_at <= $1
          AND ($2::text IS NULL OR (created_at, id) > ($2::text::timestamptz, $3::uuid))
        ORDER BY created_at, id LIMIT $4`,
      [before, after?.at ?? null, after?.id ?? null, pageSize],
    );
    for (const { id } of rows) {
      let status: Awaited<ReturnType<LendingWallets['cardStatus']>>;
      try {
        status = await ctx.wallets.cardStatus('loan', id);
      } catch (error) {
        // The bank cannot say now: the loan stays disbursing, asked again next run.
        walk.logger?.warn(
          { err: error, loanId: id },
          'the bank could not be asked about a card disbursement',
        );
        continue;
      }
      if (status === 'pending') continue;
      try {
        await settleCardDisbursement(ctx, { id, outcome: status === 'succeeded' ? 'succeeded' : 'failed' });
        ended += 1;
      } catch (error) {
        // One loan that could not be ended must not keep the rest from being: it stays disbursing
        // for the next run, and the run reports the failure.
        walk.logger?.error({ err: error, loanId: id }, 'ending a card disbursement failed');
        firstError ??= error;
      }
    }
    const last = rows.at(-1);
    if (last === undefined || rows.length < pageSize) break;
    after = last;
  }
  if (firstError !== undefined) throw firstError;
  return ended;
}

interface LoanRow {
  id: string;
  user_id: string;
  product_id: string;
  product_code: string;
  principal: bigint;
  terms: number;
  apr_e4: bigint;
  drawn_on: string;
  status: Loan['status'];
  principal_outstanding: bigint;
  interest_accrued: bigint;
  interest_paid: bigint;
  penalty_accrued: bigint;
  penalty_paid: bigint;
  oldest_unpaid_due: string | null;
  cur_due_date: string | null;
  charged_off_amount: bigint;
  recovered: bigint;
  created_at: Date;
  annual_rate: string;
  version: number;
}

const loanSelect = `SELECT l.*, p.annual_rate FROM lending_loans l JOIN lending_products p ON p.id = l.product_id`;

function toLoan(r: LoanRow, instalments: readonly InstalmentState[], asOf: string): Loan {
  const dpd =
    r.status === 'active' || r.status === 'charged_off' ? daysPastDue(r.oldest_unpaid_due, asOf) : 0;
  // A loan cancelled, charged off or repaid keeps its instalments as they were: nothing is payable on them.
  const active = r.status === 'active';
  const penaltyOwed = BigInt(r.penalty_accrued) - BigInt(r.penalty_paid);
  return {
    apr: formatPercentE4(BigInt(r.apr_e4)),
    id: r.id,
    userId: r.user_id,
    productId: r.product_id,
    productCode: r.product_code,
    principal: BigInt(r.principal),
    terms: r.terms,
    annualRate: String(r.annual_rate),
    drawnOn: r.drawn_on,
    status: r.status,
    principalOutstanding: BigInt(r.principal_outstanding),
    interestAccrued: BigInt(r.interest_accrued),
    interestPaid: BigInt(r.interest_paid),
    penaltyAccrued: BigInt(r.penalty_accrued),
    penaltyPaid: BigInt(r.penalty_paid),
    daysPastDue: dpd,
    bucket: delinquencyBucket(dpd),
    nextDueDate: r.cur_due_date,
    nextPayment: active ? nextPayment(instalments, asOf, penaltyOwed) : null,
    earlyInstalment: active ? earlyPayable(instalments, asOf, penaltyOwed) : null,
    chargedOffAmount: BigInt(r.charged_off_amount),
    recovered: BigInt(r.recovered),
    createdAt: r.created_at,
  };
}

export async function getLoan(
  db: Queryable,
  id: string,
  userId: string | undefined,
  asOf: string,
): Promise<Loan> {
  const { rows } = await db.query<LoanRow>(`${loanSelect} WHERE l.id = $1`, [id]);
  const row = rows[0];
  if (!row || (userId !== undefined && row.user_id !== userId))
    throw new MilletError('LOAN_NOT_FOUND', 'no such loan');
  return toLoan(row, await loadInstalments(db, row.id), asOf);
}

export async function listLoans(
  db: Queryable,
  userId: string,
  asOf: string,
  query: { limit?: number; cursor?: string } = {},
): Promise<{ items: Loan[]; nextCursor: string | null }> {
  const limit = Math.min(Math.max(query.limit ?? 20, 1), 100);
  const { rows } = await db.query<LoanRow>(
    `${loanSelect} WHERE l.user_id = $1 AND ($2::uuid IS NULL OR l.id < $2::uuid) ORDER BY l.id DESC LIMIT $3`,
    [userId, query.cursor ?? null, limit + 1],
  );
  const page = rows.slice(0, limit);
  // The page's instalments in one query, for each loan's next payment.
  const { rows: instalmentRows } = await db.query<InstalmentRow>(
    'SELECT * FROM lending_instalments WHERE loan_id = ANY($1::uuid[]) ORDER BY loan_id, number',
    [page.map((r) => r.id)],
  );
  const byLoan = new Map<string, InstalmentState[]>();
  for (const i of instalmentRows) {
    const list = byLoan.get(i.loan_id) ?? [];
    list.push(toInstalmentState(i));
    byLoan.set(i.loan_id, list);
  }
  const items = page.map((r) => toLoan(r, byLoan.get(r.id) ?? [], asOf));
  return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
}

export async function loanSchedule(
  db: Queryable,
  loanId: string,
  userId?: string,
): Promise<InstalmentState[]> {
  const { rows } = await db.query<{ user_id: string }>('SELECT user_id FROM lending_loans WHERE id = $1', [
    loanId,
  ]);
  if (!rows[0] || (userId !== undefined && rows[0].user_id !== userId)) {
    throw new MilletError('LOAN_NOT_FOUND', 'no such loan');
  }
  return loadInstalments(db, loanId);
}

export async function quotePayoff(
  ctx: LendingContext,
  loanId: string,
  userId?: string,
): Promise<PayoffQuote> {
  const today = businessDate(ctx.clock);
  const loan = await getLoan(ctx.db, loanId, userId, today);
  const product = await getProduct(ctx.db, loan.productId);
  const quote = payoffQuote(
    await loadInstalments(ctx.db, loanId),
    productRate(product),
    today,
    product.rounding,
  );
  const penalties = loan.penaltyAccrued - loan.penaltyPaid;
  return { ...quote, penalties, total: quote.total + penalties };
}

/** What a repayment will do, computed with the loan locked, stored with the pending repayment. */
interface RepaymentPlan {
  kind: 'repayment' | 'auto_debit' | 'recovery';
  amount: bigint;
  principal: bigint;
  interestFromReceivable: bigint;
  interestToIncome: bigint;
  penalty: bigint;
  recovery: bigint;
  /** Instalments after the repayment (all of them), when it changes them. */
  instalments: InstalmentState[];
  closes: boolean;
}

export interface Repayment {
  id: string;
  loanId: string;
  kind: RepaymentPlan['kind'];
  amount: bigint;
  principal: bigint;
  interest: bigint;
  penalty: bigint;
  recovery: bigint;
  status: 'posted' | 'failed';
  businessDate: string;
}

/**
 * Repay any amount at any time (DESIGN §2.5): the product's allocation order over what is due
 * (penalties, fees, interest, principal; past due first by default); what is left prepays
 * (the current period's interest to date, then principal, rescheduled by the product's mode).
 * After a charge-off every payment is a recovery. `maxAmount` (auto-debit) caps the amount at
 * what is due. Three steps — plan with the loan locked (a pending row: one per loan), the ledger
 * entry with a derived id, then apply — so a crash between them is finished by the close.
 */
export async function repay(
  ctx: LendingContext,
  command: {
    id?: string;
    userId: string;
    loanId: string;
    amount: bigint;
    kind?: 'repayment' | 'auto_debit';
    dueOnly?: boolean;
    asOf?: string;
  },
): Promise<Repayment> {
  if (command.amount <= 0n) throw new MilletError('AMOUNT_INVALID', 'a repayment is positive');
  return recordAndFinish(ctx, command, (row, product, instalments, today) =>
    planRepayment(row, product, instalments, command.amount, today, command),
  );
}

/**
 * Pay the next instalment early: settles, before its due date, the first instalment not yet due —
 * its scheduled principal, interest and fee, nothing re-amortised — so the due date finds it paid
 * and the auto-debit takes nothing for it; the rest of the schedule is unchanged. The interest is
 * the instalment's scheduled interest, not interest to date: the schedule is kept, so the balance
 * the period's interest is computed on stays lent for the whole period (paying less interest for
 * less time is what a prepayment does, which re-amortises). Refused while anything is due or past
 * due (`LOAN_INSTALMENT_DUE`: repay that first), and when the next instalment is already paid
 * (`LOAN_NOTHING_DUE`). `instalment`, when given, is the one the borrower was shown: any other is
 * refused (`LOAN_INSTALMENT_NOT_NEXT`), so a screen left open past a due date cannot pay the
 * instalment after the one it shows.
 */
export async function payInstalmentEarly(
  ctx: LendingContext,
  command: { id?: string; userId: string; loanId: string; instalment?: number },
): Promise<Repayment> {
  return recordAndFinish(ctx, command, (row, _product, instalments, today) =>
    planEarlyInstalment(row, instalments, today, command.instalment),
  );
}

/**
 * A repayment's three steps: the plan made with the loan locked, recorded as the loan's one pending
 * repayment (skipped when `id` is already recorded: a retry replays it), then finished.
 */
async function recordAndFinish(
  ctx: LendingContext,
  command: { id?: string; userId: string; loanId: string; asOf?: string },
  plan: (row: LoanRow, product: Product, instalments: InstalmentState[], today: string) => RepaymentPlan,
): Promise<Repayment> {
  const today = command.asOf ?? businessDate(ctx.clock);
  const id = command.id ?? newId();
  const existing = await ctx.db.query<{ status: string }>(
    'SELECT status FROM lending_repayments WHERE id = $1',
    [id],
  );
  if (!existing.rows[0]) {
    await ctx.db.transaction(async (tx) => {
      const { rows } = await tx.query<LoanRow>(`${loanSelect} WHERE l.id = $1 FOR UPDATE OF l`, [
        command.loanId,
      ]);
      const row = rows[0];
      if (!row || row.user_id !== command.userId) throw new MilletError('LOAN_NOT_FOUND', 'no such loan');
      const pending = await tx.query('SELECT 1 FROM lending_repayments WHERE loan_id = $1 AND status = $2', [
        row.id,
        'pending',
      ]);
      if (pending.rows.length > 0)
        throw new MilletError(
          'LOAN_REPAYMENT_IN_PROGRESS',
          'another repayment of this loan is in progress; try again when it has finished',
        );
      const product = await getProduct(tx, row.product_id);
      const planned = plan(row, product, await loadInstalments(tx, row.id), today);
      await tx.query(
        `INSERT INTO lending_repayments (id, loan_id, user_id, kind, amount, status, plan, business_date, created_at)
         VALUES ($1,$2,$3,$4,$5,'pending',$6::jsonb,$7,$8)`,
        [
          id,
          row.id,
          row.user_id,
          planned.kind,
          planned.amount,
          JSON.stringify(planJson(planned)),
          today,
          ctx.clock.now(),
        ],
      );
    });
  }
  return finishRepayment(ctx, id);
}

function planEarlyInstalment(
  loan: LoanRow,
  instalments: InstalmentState[],
  today: string,
  expected: number | undefined,
): RepaymentPlan {
  refuseWhileDisbursing(loan);
  if (loan.status !== 'active') throw new MilletError('LOAN_NOT_ACTIVE', `the loan is ${loan.status}`);
  const early = earlyInstalment(instalments, today, BigInt(loan.penalty_accrued) - BigInt(loan.penalty_paid));
  if ('refused' in early && early.refused === 'LOAN_INSTALMENT_DUE') {
    throw new MilletError(
      'LOAN_INSTALMENT_DUE',
      'an instalment is due or past due: repay what is due first, then pay the next one early',
      { due: early.due.toString() },
    );
  }
  if ('refused' in early) {
    const next = early.next;
    throw new MilletError('LOAN_NOTHING_DUE', 'the next instalment is already paid; nothing to pay early', {
      ...(next ? { instalment: next.number, due_date: next.dueDate } : {}),
    });
  }
  const next = early.payable;
  if (expected !== undefined && expected !== next.number) {
    throw new MilletError(
      'LOAN_INSTALMENT_NOT_NEXT',
      `instalment ${expected} is not the next one to pay early: that is instalment ${next.number}, due ${next.dueDate}`,
      {
        requested_instalment: expected,
        next_instalment: next.number,
        next_due_date: next.dueDate,
        next_amount: unpaidOf(next).toString(),
      },
    );
  }
  const principal = maxZero(next.principal - next.principalPaid);
  const interest = maxZero(next.interest - next.interestPaid);
  const fee = maxZero(next.fee - next.feePaid);
  const list = instalments.map((i) =>
    i.number === next.number
      ? {
          ...i,
          principalPaid: i.principalPaid + principal,
          interestPaid: i.interestPaid + interest,
          feePaid: i.feePaid + fee,
        }
      : i,
  );
  // Interest recognised by the close so far comes off the receivable; the rest of the period's,
  // not yet recognised, is income now (the accrual then adds nothing for it: it only tops up).
  const receivable = maxZero(BigInt(loan.interest_accrued) - BigInt(loan.interest_paid));
  const fromReceivable = interest < receivable ? interest : receivable;
  return {
    kind: 'repayment',
    amount: principal + interest + fee,
    principal,
    interestFromReceivable: fromReceivable,
    interestToIncome: interest - fromReceivable,
    penalty: 0n,
    recovery: 0n,
    instalments: list,
    closes: list.every((i) => unpaidOf(i) <= 0n),
  };
}

/**
 * A card loan the bank has not paid out yet owes nothing (its schedule starts when the bank
 * settles): a payment is refused with a code of its own, since `LOAN_NOT_ACTIVE` reads as closed.
 */
function refuseWhileDisbursing(loan: LoanRow): void {
  if (loan.status === 'disbursing')
    throw new MilletError(
      'LOAN_DISBURSING',
      'the loan is still being paid out to your card; nothing is owed until the bank settles it',
      { status: loan.status },
    );
}

function maxZero(value: bigint): bigint {
  return value > 0n ? value : 0n;
}

function planRepayment(
  loan: LoanRow,
  product: Product,
  instalments: InstalmentState[],
  amount: bigint,
  today: string,
  command: { kind?: 'repayment' | 'auto_debit'; dueOnly?: boolean },
): RepaymentPlan {
  const base = { principal: 0n, interestFromReceivable: 0n, interestToIncome: 0n, penalty: 0n, recovery: 0n };
  if (loan.status === 'charged_off') {
    const left = BigInt(loan.charged_off_amount) - BigInt(loan.recovered);
    const pay = command.dueOnly ? (amount < left ? amount : left) : amount;
    if (pay <= 0n || pay > left) {
      throw new MilletError('LOAN_REPAYMENT_EXCEEDS_BALANCE', 'more than is owed on the charged-off loan', {
        owed: left.toString(),
      });
    }
    return { ...base, kind: 'recovery', amount: pay, recovery: pay, instalments: [], closes: pay === left };
  }
  refuseWhileDisbursing(loan);
  if (loan.status !== 'active') throw new MilletError('LOAN_NOT_ACTIVE', `the loan is ${loan.status}`);
  const penaltyOwed = BigInt(loan.penalty_accrued) - BigInt(loan.penalty_paid);
  const due = instalments.filter((i) => i.dueDate <= today);
  const oldest = due.find(
    (i) => i.principal + i.interest + i.fee > i.principalPaid + i.interestPaid + i.feePaid,
  );
  // The loan's penalties are owed with its oldest unpaid instalment, in the product's order among
  // that instalment's parts: on an item of their own they came first whatever the order said.
  const owed: Owed[] = due.map((i) => ({
    number: i.number,
    dueDate: i.dueDate,
    penalty: i === oldest && penaltyOwed > 0n ? penaltyOwed : 0n,
    fee: i.fee - i.feePaid,
    interest: i.interest - i.interestPaid,
    principal: i.principal - i.principalPaid,
  }));
  if (penaltyOwed > 0n && !oldest) {
    owed.push({
      number: 0,
      dueDate: today,
      penalty: penaltyOwed,
      fee: 0n,
      interest: 0n,
      principal: 0n,
    });
  }
  const totalDue = owed.reduce((s, o) => s + o.penalty + o.fee + o.interest + o.principal, 0n);
  if (command.dueOnly) amount = amount < totalDue ? amount : totalDue;
  if (amount <= 0n) throw new MilletError('LOAN_REPAYMENT_EXCEEDS_BALANCE', 'nothing is due');
  const { allocations, unapplied } = allocateRepayment(owed, amount, today, {
    order: product.allocationOrder,
    pastDueFirst: product.pastDueFirst,
  });
  let list = instalments.map((i) => ({ ...i }));
  let principal = 0n;
  let interest = 0n;
  let penalty = 0n;
  for (const a of allocations) {
    if (a.component === 'penalty') {
      penalty += a.amount;
      continue;
    }
    list = list.map((i) => {
      if (i.number !== a.number) return i;
      if (a.component === 'principal') return { ...i, principalPaid: i.principalPaid + a.amount };
      if (a.component === 'interest') return { ...i, interestPaid: i.interestPaid + a.amount };
      return { ...i, feePaid: i.feePaid + a.amount };
    });
    if (a.component === 'principal') principal += a.amount;
    if (a.component === 'interest') interest += a.amount;
  }
  if (unapplied > 0n) {
    const rate = productRate(product);
    const result = prepay(
      list,
      {
        annualRate: rate,
        type: product.scheduleType,
        dayCount: product.dayCount,
        rounding: product.rounding,
      },
      today,
      unapplied,
      product.prepaymentMode,
    );
    principal += result.principal;
    interest += result.accruedInterest;
    list = [...list.filter((i) => i.number < result.from), ...result.schedule];
  }
  const receivable = BigInt(loan.interest_accrued) - BigInt(loan.interest_paid);
  const fromReceivable = interest < receivable ? interest : receivable;
  const outstanding = list.reduce(
    (s, i) => s + i.principal - i.principalPaid + i.interest - i.interestPaid,
    0n,
  );
  return {
    kind: command.kind ?? 'repayment',
    amount,
    principal,
    interestFromReceivable: fromReceivable,
    interestToIncome: interest - fromReceivable,
    penalty,
    recovery: 0n,
    instalments: list,
    closes: outstanding === 0n && penalty === penaltyOwed,
  };
}

const bigintFields = [
  'amount',
  'principal',
  'interestFromReceivable',
  'interestToIncome',
  'penalty',
  'recovery',
] as const;

function planJson(plan: RepaymentPlan): unknown {
  return {
    kind: plan.kind,
    closes: plan.closes,
    ...Object.fromEntries(bigintFields.map((f) => [f, plan[f].toString()])),
    instalments: plan.instalments.map((i) =>
      Object.fromEntries(
        Object.entries(i).map(([k, v]) => [
          k,
          typeof v === 'bigint'
            ? v.toString()
            : k === 'fraction'
              ? { n: String((v as { n: bigint }).n), d: String((v as { d: bigint }).d) }
              : v,
        ]),
      ),
    ),
  };
}

function planFromJson(json: Record<string, unknown>): RepaymentPlan {
  const big = (v: unknown) => BigInt(v as string);
  const instalments = (json.instalments as Array<Record<string, unknown>>).map((i) => {
    const fraction = i.fraction as { n: string; d: string };
    return {
      number: i.number as number,
      periodStart: i.periodStart as string,
      dueDate: i.dueDate as string,
      fraction: { n: BigInt(fraction.n), d: BigInt(fraction.d) },
      openingBalance: big(i.openingBalance),
      principal: big(i.principal),
      interest: big(i.interest),
      total: big(i.total),
      closingBalance: big(i.closingBalance),
      fee: big(i.fee),
      penalty: big(i.penalty),
      principalPaid: big(i.principalPaid),
      interestPaid: big(i.interestPaid),
      feePaid: big(i.feePaid),
      penaltyPaid: big(i.penaltyPaid),
      carriedInterest: big(i.carriedInterest),
    };
  });
  return {
    kind: json.kind as RepaymentPlan['kind'],
    closes: json.closes as boolean,
    amount: big(json.amount),
    principal: big(json.principal),
    interestFromReceivable: big(json.interestFromReceivable),
    interestToIncome: big(json.interestToIncome),
    penalty: big(json.penalty),
    recovery: big(json.recovery),
    instalments,
  };
}

interface RepaymentRow {
  id: string;
  loan_id: string;
  user_id: string;
  kind: RepaymentPlan['kind'];
  amount: bigint;
  status: 'pending' | 'posted' | 'failed';
  plan: Record<string, unknown>;
  failure: string | null;
  business_date: string;
}

function toRepayment(r: RepaymentRow): Repayment {
  const plan = planFromJson(r.plan);
  return {
    id: r.id,
    loanId: r.loan_id,
    kind: r.kind,
    amount: BigInt(r.amount),
    principal: plan.principal,
    interest: plan.interestFromReceivable + plan.interestToIncome,
    penalty: plan.penalty,
    recovery: plan.recovery,
    status: r.status === 'pending' ? 'failed' : r.status,
    businessDate: r.business_date,
  };
}

/** Posts a pending repayment's ledger entry and applies it to the loan (idempotent). */
export async function finishRepayment(ctx: LendingContext, id: string): Promise<Repayment> {
  const { rows } = await ctx.db.query<RepaymentRow>('SELECT * FROM lending_repayments WHERE id = $1', [id]);
  const row = rows[0]!;
  if (row.status === 'failed') {
    throw new MilletError('INSUFFICIENT_FUNDS', row.failure ?? 'the repayment failed');
  }
  if (row.status === 'posted') return toRepayment(row);
  const plan = planFromJson(row.plan);
  const { rows: loanRows } = await ctx.db.query<LoanRow>(`${loanSelect} WHERE l.id = $1`, [row.loan_id]);
  const loan = loanRows[0]!;
  const accounts = productAccounts(loan.product_code);
  const wallet = await ctx.wallets.getWallet(row.user_id);
  const legs: Leg[] = [{ accountId: wallet.ledgerAccountId, side: 'debit', amount: plan.amount }];
  const credit = (accountId: string, amount: bigint) => {
    if (amount > 0n) legs.push({ accountId, side: 'credit', amount });
  };
  credit(accounts.principalReceivable, plan.principal);
  credit(accounts.interestReceivable, plan.interestFromReceivable);
  credit(accounts.interestIncome, plan.interestToIncome);
  credit(accounts.penaltyReceivable, plan.penalty);
  credit(accounts.recoveries, plan.recovery);
  try {
    await ctx.ledger.postEntry({
      id: derivedId('lending.repayment', id),
      legs,
      metadata: { kind: `loan_${plan.kind}`, loan_id: loan.id, repayment_id: id },
    });
  } catch (error) {
    const code = (error as MilletError).code;
    if (code === 'INSUFFICIENT_FUNDS' || code === 'ACCOUNT_NOT_FOUND') {
      await ctx.db.query(
        `UPDATE lending_repayments SET status = 'failed', failure = $2 WHERE id = $1 AND status = 'pending'`,
        [id, (error as Error).message],
      );
    }
    throw error;
  }
  await ctx.db.transaction(async (tx) => {
    const marked = await tx.query(
      `UPDATE lending_repayments SET status = 'posted' WHERE id = $1 AND status = 'pending'`,
      [id],
    );
    if (marked.rowCount === 0) return;
    if (plan.kind === 'recovery') {
      await tx.query(
        `UPDATE lending_loans SET recovered = recovered + $2, version = version + 1,
           closed_on = CASE WHEN recovered + $2 >= charged_off_amount THEN $3 ELSE closed_on END WHERE id = $1`,
        [loan.id, plan.recovery, row.business_date],
      );
      return;
    }
    const product = await getProduct(tx, loan.product_id);
    await tx.query('DELETE FROM lending_instalments WHERE loan_id = $1', [loan.id]);
    await insertInstalments(tx, loan.id, plan.instalments);
    await tx.query(
      `UPDATE lending_loans SET interest_paid = interest_paid + $2, interest_accrued = interest_accrued + $3,
         penalty_paid = penalty_paid + $4 WHERE id = $1`,
      [loan.id, plan.interestFromReceivable + plan.interestToIncome, plan.interestToIncome, plan.penalty],
    );
    await writeDerivedFields(
      tx,
      loan.id,
      derivedLoanFields(plan.instalments, productRate(product), row.business_date),
    );
    if (plan.closes) {
      await tx.query(`UPDATE lending_loans SET status = 'repaid', closed_on = $2 WHERE id = $1`, [
        loan.id,
        row.business_date,
      ]);
    }
  });
  const { rows: after } = await ctx.db.query<RepaymentRow>('SELECT * FROM lending_repayments WHERE id = $1', [
    id,
  ]);
  return toRepayment(after[0]!);
}

export function addDaysText(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}
