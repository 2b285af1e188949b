import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MilletError, businessDate, isUuid } from '../core/index.ts';
import { loadMigrations, type Migration } from '../db/index.ts';
import type { CloseStep } from '../jobs/index.ts';
import { bookByBucket, vintages, type BucketLine, type VintagePoint } from './book.ts';
import { lendingCloseSteps } from './close.ts';
import {
  acceptOffer,
  apply,
  getLoan,
  getOffer,
  listLoans,
  listOffers,
  loanSchedule,
  ownCoDebt,
  payInstalmentEarly,
  quoteLoan,
  quotePayoff,
  reconcileCardDisbursements,
  repay,
  settleCardDisbursement,
  type Application,
  type CardReconcileWalk,
  type LendingContext,
  type Loan,
  type Offer,
  type Quote,
  type Repayment,
} from './loans.ts';
import {
  latestMaxAprPass,
  recomputeMaxApr,
  type MaxAprPass,
  type MaxAprRecomputeOptions,
  type MaxAprRecomputeResult,
} from './max-apr-recompute.ts';
import type { CoDebtSource } from './ports.ts';
import {
  createProduct,
  getProduct,
  latestProduct,
  listProducts,
  productAccounts,
  type Product,
  type ProductAccounts,
  type ProductTerms,
} from './products.ts';
import type { InstalmentState, PayoffQuote } from './schedule.ts';

export const lendingMigrations: Migration[] = loadMigrations(
  'lending',
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
);

export type LendingOptions = Omit<LendingContext, 'coDebt'> & {
  /** Co-debt across lenders (the marketplace); default: this module's own applications. */
  coDebt?: CoDebtSource;
  /** Loans per chunk in the close's set-based steps. */
  closeChunkSize?: number;
};

/** Instalment cash loans (DESIGN §2.5) and the lending math shared with the pay-later line. */
export interface Lending {
  createProduct(code: string, terms: ProductTerms): Promise<Product>;
  getProduct(id: string): Promise<Product>;
  latestProduct(code: string): Promise<Product>;
  /** Latest version of each product, or every version of `code`. */
  listProducts(code?: string): Promise<Product[]>;
  productAccounts(code: string): ProductAccounts;
  /** The cheapest current product for `amount` over `terms` months, priced as today's offer; nothing recorded. */
  quote(command: { amount: bigint; terms: number }): Promise<Quote | null>;
  apply(
    userId: string,
    command: { productCode: string; amount: bigint; terms: number },
  ): Promise<Application>;
  getOffer(userId: string, offerId: string): Promise<Offer>;
  listOffers(userId: string): Promise<Offer[]>;
  acceptOffer(
    userId: string,
    offerId: string,
    disbursement: { to: 'wallet' } | { to: 'card'; cardToken: string },
  ): Promise<Loan>;
  getLoan(loanId: string, userId?: string): Promise<Loan>;
  listLoans(
    userId: string,
    query?: { limit?: number; cursor?: string },
  ): Promise<{ items: Loan[]; nextCursor: string | null }>;
  schedule(loanId: string, userId?: string): Promise<InstalmentState[]>;
  payoffQuote(loanId: string, userId?: string): Promise<PayoffQuote>;
  /** Any amount: what is due first (allocation order), the rest prepays. */
  repay(command: { id?: string; userId: string; loanId: string; amount: bigint }): Promise<Repayment>;
  /**
   * Settles the next instalment (the first not yet due) in full before its due date, at its
   * scheduled amount: the auto-debit then takes nothing for it and the rest of the schedule stays.
   * `instalment`: the one the borrower was shown; any other is refused (LOAN_INSTALMENT_NOT_NEXT).
   */
  payInstalmentEarly(command: {
    id?: string;
    userId: string;
    loanId: string;
    instalment?: number;
  }): Promise<Repayment>;
  /** Loans not yet repaid (disbursing, active or charged off) per user, one query; users with none are absent. */
  openLoanCounts(userIds: readonly string[]): Promise<Map<string, number>>;
  bookByBucket(productCode?: string): Promise<BucketLine[]>;
  vintages(productCode?: string): Promise<VintagePoint[]>;
  /** due, accrual, auto-debit, penalties, aging, charge-off. */
  closeSteps(): CloseStep[];
  /**
   * Asks the bank about card disbursements unsettled after `olderThanMs` (default a minute) and
   * ends them: active when paid out, cancelled when not. Run by the jobs; returns how many ended.
   * Walks every such loan a page at a time; one the bank cannot answer about is skipped (logged),
   * and one that cannot be ended is thrown after the others have been.
   */
  reconcileCardDisbursements(olderThanMs?: number, walk?: CardReconcileWalk): Promise<number>;
  /**
   * Recomputes over every amount the max APR of products made before 2026-12-04 (found at the ends
   * of their amount range only), a page at a time, checkpointed: a stopped pass resumes after its
   * last page. Run by the job `lending.recompute-max-apr` and `millet lending recompute-max-apr`.
   */
  recomputeMaxApr(options?: MaxAprRecomputeOptions): Promise<MaxAprRecomputeResult>;
  /** The latest pass of the recompute, with its progress; null when none ran. */
  maxAprRecomputeProgress(): Promise<MaxAprPass | null>;
}

/** A malformed id names no loan or offer: refused as not found before it reaches a uuid column. */
function loanId(id: string): string {
  if (!isUuid(id)) throw new MilletError('LOAN_NOT_FOUND', 'no such loan');
  return id;
}

function offerId(id: string): string {
  if (!isUuid(id)) throw new MilletError('LOAN_OFFER_NOT_FOUND', 'no such offer');
  return id;
}

/** The list's cursor is the last loan's id as the previous page gave it. */
function loansCursor(query: { limit?: number; cursor?: string } | undefined) {
  if (query?.cursor !== undefined && !isUuid(query.cursor))
    throw new MilletError('VALIDATION_FAILED', 'cursor is not one this API handed out', { field: 'cursor' });
  return query;
}

export function createLending(options: LendingOptions): Lending {
  const ctx: LendingContext = { ...options, coDebt: options.coDebt ?? ownCoDebt(options.db) };
  const { db, ledger, clock } = ctx;
  const today = () => businessDate(clock);
  // A card disbursement stays disbursing until the bank settles it.
  ctx.wallets.onCardSettlement('loan', (settlement) => settleCardDisbursement(ctx, settlement));
  return {
    createProduct: (code, terms) => createProduct(db, ledger, clock, code, terms),
    getProduct: (id) => getProduct(db, id),
    latestProduct: (code) => latestProduct(db, code),
    listProducts: (code) => listProducts(db, code),
    productAccounts,
    quote: async (command) => quoteLoan(await listProducts(db), { ...command, today: today() }),
    apply: (userId, command) => apply(ctx, userId, command),
    getOffer: async (userId, id) => getOffer(db, offerId(id), userId, today()),
    listOffers: (userId) => listOffers(db, userId, today()),
    acceptOffer: async (userId, id, disbursement) => acceptOffer(ctx, userId, offerId(id), disbursement),
    getLoan: async (id, userId) => getLoan(db, loanId(id), userId, today()),
    listLoans: async (userId, query) => listLoans(db, userId, today(), loansCursor(query)),
    schedule: async (id, userId) => loanSchedule(db, loanId(id), userId),
    payoffQuote: async (id, userId) => quotePayoff(ctx, loanId(id), userId),
    repay: async (command) => repay(ctx, { ...command, loanId: loanId(command.loanId) }),
    payInstalmentEarly: async (command) =>
      payInstalmentEarly(ctx, { ...command, loanId: loanId(command.loanId) }),
    async openLoanCounts(userIds) {
      const { rows } = await db.query<{ user_id: string; n: bigint }>(
        `SELECT user_id, count(*)::int8 AS n FROM lending_loans
         WHERE user_id = ANY($1::uuid[]) AND status IN ('disbursing', 'active', 'charged_off')
         GROUP BY user_id`,
        [userIds],
      );
      return new Map(rows.map((r) => [r.user_id, Number(r.n)]));
    },
    bookByBucket: (code) => bookByBucket(db, code),
    vintages: (code) => vintages(db, code),
    closeSteps: () => lendingCloseSteps(ctx, { chunkSize: options.closeChunkSize }),
    reconcileCardDisbursements: (olderThanMs, walk) => reconcileCardDisbursements(ctx, olderThanMs, walk),
    recomputeMaxApr: (recompute) => recomputeMaxApr(db, clock, recompute),
    maxAprRecomputeProgress: () => latestMaxAprPass(db),
  };
}
