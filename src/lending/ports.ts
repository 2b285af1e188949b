/** What lending needs from other modules; the composition root passes their public APIs. */
import type { Queryable } from '../db/index.ts';

/** Identity's `getUser`: verified, adult, and the PBoC account class. */
export interface LendingUserDirectory {
  getUser(
    userId: string,
  ): Promise<{ kycStatus: 'none' | 'verified'; accountClass: string | null; isAdult: boolean }>;
}

/** The credit service's latest score (350–950); throws when the user has none. */
export interface LendingScoreSource {
  getLatestScore(userId: string): Promise<{ score: number }>;
}

/** The wallet: the user's account for disbursements and auto-debits, and the bank for card payouts. */
export interface LendingWallets {
  getWallet(userId: string): Promise<{ ledgerAccountId: string; currency: string; available: bigint }>;
  /** Named by the loan's id in the `loan` namespace, apart from other modules' card requests. */
  creditCard(request: {
    namespace: 'loan';
    id: string;
    cardToken: string;
    amount: bigint;
    currency: string;
  }): Promise<{
    bankReference: string;
  }>;
  /** Where the bank's settlements of the `loan` namespace's card requests go. */
  onCardSettlement(
    namespace: 'loan',
    handler: (settlement: { id: string; outcome: 'succeeded' | 'failed' }) => Promise<void>,
  ): void;
  /** The bank's word on a card request when its settlement was lost or the request timed out. */
  cardStatus(namespace: 'loan', id: string): Promise<'succeeded' | 'failed' | 'pending' | 'unknown'>;
  bankClearingAccountId(currency?: string): string;
}

/**
 * Co-debt: how many loan applications and loans the user has had recently, and for how much. The
 * marketplace will implement it across partners; the default counts this module's own.
 */
export interface CoDebtSource {
  /** Read with `within` (the application's transaction, holding the borrower's lock) when given. */
  recent(
    userId: string,
    sinceDate: string,
    within?: Queryable,
  ): Promise<{ applications: number; amount: bigint }>;
}

/**
 * Told when a loan is drawn (the principal reached the borrower). The marketplace listens to count
 * its own loan's disbursement in the funnel and the settlement, as a partner's callback would. Called
 * again when an accept is retried, so a listener that failed once is told again: it must be idempotent.
 */
export interface LoanDrawnListener {
  (event: { loanId: string; offerId: string; userId: string; amount: bigint }): Promise<void>;
}
