import type { Apr } from '../lending/index.ts';
import type { FeePayer, InstalmentPeriod } from './instalments.ts';

export type PaylaterMode = 'statement' | 'daily';

/** A pay-later product version, as operators define it (rates are integers, see the migration). */
export interface PaylaterProduct {
  id: string;
  code: string;
  version: number;
  name: string;
  mode: PaylaterMode;
  /** Statement mode: the statement day of month (31 = the month's last day); daily mode: the default repayment day. */
  statementDay: number;
  /** Days from the statement to its due date. */
  dueDays: number;
  /** Daily mode interest per day, in millionths (0.04 %/day = 400). */
  dailyRatePpm: bigint;
  /** Interest per day on principal left unpaid after the due date, in millionths. */
  revolvingRatePpm: bigint;
  /** Penalty rate as a multiple of the revolving rate, in basis points (1.5× = 15000). */
  penaltyMultiplierBp: number;
  /** Minimum payment: this share of the statement's principal (bp) plus its interest and fees. */
  minPaymentBp: number;
  /** Days overdue after which the line is suspended. */
  suspendAfterDays: number;
  /** Instalment fee rate (bp) by term in months, e.g. { "3": 230, "6": 450, "12": 750 }. */
  instalmentFees: Record<string, number>;
  createdAt: Date;
}

export type CreateProductCommand = Omit<PaylaterProduct, 'id' | 'version' | 'createdAt'> & { id?: string };

export interface LimitBand {
  /** Scores from this value up (to the next band) get `limit`. */
  minScore: number;
  limit: bigint;
}

export interface LimitBandTable {
  version: number;
  bands: LimitBand[];
  createdAt: Date;
}

export type LineStatus = 'active' | 'suspended';

export interface PaylaterLine {
  id: string;
  userId: string;
  productId: string;
  mode: PaylaterMode;
  status: LineStatus;
  score: number;
  limit: bigint;
  /** Principal owed: billed, unbilled and future instalments. */
  used: bigint;
  available: bigint;
  unbilled: bigint;
  instalmentPrincipal: bigint;
  /** Daily mode: interest accrued since the last statement. */
  accruedInterest: bigint;
  /** Everything owed now (principal and charges). */
  totalOwed: bigint;
  autoRepay: boolean;
  statementDay: number;
  ledgerAccountId: string;
  openedAt: Date;
  /** The latest statement, if any. */
  bill: PaylaterStatement | null;
}

export interface PaylaterStatement {
  id: string;
  lineId: string;
  statementDate: string;
  dueDate: string;
  principal: bigint;
  convertedPrincipal: bigint;
  /** Of `principal`, the instalment months billed (already in a plan: never converted again). */
  instalmentPrincipal: bigint;
  /** Its purchases still unpaid while it is not paid off: what turning it into instalments would split. */
  convertiblePrincipal: bigint;
  fees: bigint;
  interest: bigint;
  penalty: bigint;
  /** principal − converted + fees + interest + penalty */
  totalDue: bigint;
  paid: bigint;
  unpaid: bigint;
  minPayment: bigint;
  carried: bigint;
  minPaidOn: string | null;
  paidOn: string | null;
  status: 'open' | 'paid' | 'overdue';
}

export interface InstalmentPlan {
  id: string;
  lineId: string;
  source: 'checkout' | 'statement';
  sourceId: string;
  principal: bigint;
  fee: bigint;
  feeRateBp: number;
  feePayer: FeePayer;
  terms: number;
  aprPercent: string;
  periods: Array<InstalmentPeriod & { settledPrincipal: bigint; statementId: string | null }>;
}

export type MovementKind = 'repayment' | 'auto_repayment' | 'settlement' | 'refund';

export interface Movement {
  id: string;
  lineId: string;
  kind: MovementKind;
  amount: bigint;
  principal: bigint;
  charges: bigint;
  toWallet: bigint;
  status: 'pending' | 'succeeded' | 'failed';
  businessDate: string;
}

export interface OfferView {
  terms: number;
  principal: bigint;
  fee: bigint;
  feeRateBp: number;
  feePayer: FeePayer;
  apr: Apr;
  firstPayment: bigint;
  laterPayment: bigint;
}

/** The user's current credit score (src/credit in the app; anything in tests). Null: no score. */
export interface PaylaterScoreSource {
  currentScore(userId: string): Promise<number | null>;
}

/** What the line needs to know about a user (identity's getUser). */
export interface PaylaterUserDirectory {
  getUser(
    userId: string,
  ): Promise<{ kycStatus: string; accountClass: string | null; isAdult: boolean; ageYears: number | null }>;
}
