import type { ErrorCode } from '../core/index.ts';
import type { AccountBound } from './types.ts';

/** The mutable totals of one account while a batch is being applied. */
export interface AccountTotals {
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
}

/**
 * Whether `after` breaks the account's bound. Only a change that makes the bounded side grow is
 * judged, so an entry that only reduces exposure (a void, a repayment) always passes; a reversal is
 * judged like any entry on the accounts it debits.
 */
export function boundViolation(
  bound: AccountBound,
  before: AccountTotals,
  after: AccountTotals,
): ErrorCode | undefined {
  const debitsGrew = after.debitsPosted + after.debitsPending > before.debitsPosted + before.debitsPending;
  const creditsGrew =
    after.creditsPosted + after.creditsPending > before.creditsPosted + before.creditsPending;
  switch (bound.kind) {
    case 'unbounded':
    case 'credit_only': // judged per leg: see the batch
      return undefined;
    case 'no_overdraft':
      return debitsGrew && after.debitsPosted + after.debitsPending > after.creditsPosted
        ? 'INSUFFICIENT_FUNDS'
        : undefined;
    case 'overdraft_limit':
      return debitsGrew && after.debitsPosted + after.debitsPending > after.creditsPosted + bound.limit
        ? 'OVERDRAFT_LIMIT_EXCEEDED'
        : undefined;
    case 'no_overcredit':
      return creditsGrew && after.creditsPosted + after.creditsPending > after.debitsPosted
        ? 'CREDIT_LIMIT_EXCEEDED'
        : undefined;
  }
}

export function boundFromRow(kind: string, limit: bigint): AccountBound {
  switch (kind) {
    case 'unbounded':
    case 'no_overdraft':
    case 'credit_only':
    case 'no_overcredit':
      return { kind };
    case 'overdraft_limit':
      return { kind, limit };
    default:
      throw new Error(`unknown account bound ${kind}`);
  }
}
