import type { Clock } from '../core/index.ts';
import type { CreditService } from '../credit/index.ts';
import type { Database } from '../db/index.ts';
import type { Ledger } from '../ledger/index.ts';
import type { Merchants } from '../merchants/index.ts';
import type { Wallet, WalletUserDirectory } from '../wallet/index.ts';

export type ServiceOrderStatus =
  'created' | 'accepting' | 'active' | 'completing' | 'completed' | 'unpaid' | 'cancelled';

/** Why the deposit was waived or held when the user accepted. */
export type DepositDecision =
  /** The user's score cleared the merchant's bar: no deposit. */
  | 'score_cleared_bar'
  /** Scored, below the bar: the deposit is held. */
  | 'score_below_bar'
  /** No active consent to credit scoring: no score is computed, the deposit is held. */
  | 'no_consent'
  /** Consent but no score can be computed yet (a first score needs the application answers). */
  | 'no_score'
  /** Not eligible for scoring (identity not verified, under 18). */
  | 'not_eligible';

/** A Pay Points service order (DESIGN §2.3). Amounts in fen. */
export interface ServiceOrder {
  id: string;
  merchantId: string;
  merchantReference: string;
  description: string;
  currency: string;
  /** The deposit the merchant would take: waived when the score clears the bar, else held. */
  riskAmount: bigint;
  /** The score (350–950) that waives the deposit. */
  scoreBar: number;
  /** Days a held deposit may stay held; after that the ledger releases it. */
  maxDays: number;
  status: ServiceOrderStatus;
  userId: string | null;
  /** The checkout method the final fee is charged with (merchants' registry; default balance). */
  method: string | null;
  /**
   * Waived at acceptance, or where the held deposit is now: `held` on the wallet, `used` (posted for
   * `depositUsed`, the rest released), or `released` back (voided, or expired after `maxDays`).
   */
  deposit: 'waived' | 'held' | 'used' | 'released' | null;
  decision: DepositDecision | null;
  /** The score the decision used (null when none could be computed). */
  score: number | null;
  scoreId: string | null;
  depositHoldId: string | null;
  finalFee: bigint | null;
  /** Of the final fee: taken from the held deposit. */
  depositUsed: bigint;
  /** Of the final fee: charged through the checkout method. */
  charged: bigint;
  /** Of the final fee: what the user could not pay (owed while status is `unpaid`). */
  debt: bigint;
  debtPaymentId: string | null;
  /** Of the final fee: what the user has paid (deposit used, charged, and the debt once paid). */
  paid: bigint;
  /** Of what was paid: what the merchant has refunded to the user (refunds that succeeded). */
  refunded: bigint;
  /** paid − refunded: what the service cost the user in the end, as the ledger has it. */
  net: bigint;
  /** The merchant payments the fee was paid with; the merchant refunds them as any payment. */
  payments: ServiceOrderPayment[];
  createdAt: Date;
  acceptedAt: Date | null;
  completedAt: Date | null;
  debtPaidAt: Date | null;
  cancelledAt: Date | null;
  updatedAt: Date;
}

/** One merchant payment of a service order's fee, and what has been refunded of it. */
export interface ServiceOrderPayment {
  id: string;
  /** From the held deposit, with the checkout method at completion, or paying the debt later. */
  part: 'deposit' | 'fee' | 'debt';
  amount: bigint;
  refunded: bigint;
}

export interface CreateServiceOrderCommand {
  id: string;
  merchantId: string;
  merchantReference: string;
  description: string;
  riskAmount: bigint;
  scoreBar: number;
  /** Default 30, at most 365. */
  maxDays?: number | undefined;
}

export interface PayPointsOptions {
  db: Database;
  clock: Clock;
  ledger: Pick<Ledger, 'placeHold' | 'postHold' | 'voidHold' | 'getHold' | 'getHolds'>;
  wallet: Pick<Wallet, 'getWallet'>;
  /** Identity (verified users only take service orders). */
  users: WalletUserDirectory;
  merchants: Pick<
    Merchants,
    | 'getMerchant'
    | 'createOrder'
    | 'payOrder'
    | 'getPayment'
    | 'refundedAmounts'
    | 'registerPaymentMethod'
    | 'paymentMethods'
    | 'validatePaymentMethod'
    | 'checkPaymentMethodPayer'
  >;
  scores: Pick<CreditService, 'getActiveConsent' | 'score'>;
}

export interface PageOf<T> {
  items: T[];
  nextCursor: string | null;
}

/** The Pay Points module's public API. */
export interface PayPoints {
  /** The merchant offers a service: risk amount (deposit) and score bar. */
  createServiceOrder(command: CreateServiceOrderCommand): Promise<ServiceOrder>;
  /** With a merchant, another merchant's order is not found; with a user, one bound to someone else. */
  getServiceOrder(id: string, scope?: { merchantId?: string; userId?: string }): Promise<ServiceOrder>;
  listUserServiceOrders(
    userId: string,
    query?: { status?: ServiceOrderStatus; cursor?: string; limit?: number },
  ): Promise<PageOf<ServiceOrder>>;
  /**
   * The user takes the service: scored now (with consent), the deposit is waived if the score
   * clears the bar, otherwise held on the wallet (INSUFFICIENT_FUNDS when it cannot be).
   */
  acceptServiceOrder(command: { id: string; userId: string; method?: string }): Promise<ServiceOrder>;
  /**
   * The merchant ends the service with the final fee: the held deposit pays what it covers (the
   * rest is released), the checkout method charges the remainder; what cannot be charged becomes a
   * debt (status `unpaid`). A retry with the same fee finishes the same completion.
   */
  completeServiceOrder(command: { id: string; merchantId: string; finalFee: bigint }): Promise<ServiceOrder>;
  /** Before completion: a held deposit is released. Cancelling twice is harmless. */
  cancelServiceOrder(command: { id: string; merchantId: string }): Promise<ServiceOrder>;
  /**
   * Finishes acceptances left `accepting` for `ABANDONED_ACCEPTANCE_MS` (the process died between
   * the deposit hold and the activation, and the user never retried) as a retry would: the order
   * active with its hold, or back on offer when the wallet cannot cover it. Returns how many were
   * settled; one the ledger left undecided waits for the next run. Run by the jobs scheduler.
   */
  finishAbandonedAcceptances(limit?: number): Promise<number>;
  /** The user pays an unpaid order's debt (payment id: a retry is the same payment). */
  payServiceDebt(command: {
    id: string;
    userId: string;
    paymentId: string;
    method?: string;
  }): Promise<ServiceOrder>;
  /** Unpaid debts per user, for the score service (CreditDebtSource). */
  unpaidDebts(userIds: readonly string[]): Promise<ReadonlyMap<string, { count: number; amount: bigint }>>;
}
