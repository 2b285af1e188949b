import { boundFromRow } from './bounds.ts';
import { decodeLegs, type StoredLeg } from './entry-hash.ts';
import type { Account, EntryKind, Hold, HoldStatus, JournalEntry, JournalLeg, LegPhase } from './types.ts';

/** Mapping from the ledger's rows to its public types, in one place. */

export interface AccountRow {
  id: string;
  currency: string;
  code: string;
  bound: string;
  overdraft_limit: bigint;
  metadata: Record<string, unknown>;
  debits_posted: bigint;
  credits_posted: bigint;
  debits_pending: bigint;
  credits_pending: bigint;
  request_hash: string;
  created_at: Date;
}

/** An account's bound and totals: what a batch locks and verification checks. */
export type AccountTotalsRow = Pick<
  AccountRow,
  | 'id'
  | 'currency'
  | 'bound'
  | 'overdraft_limit'
  | 'debits_posted'
  | 'credits_posted'
  | 'debits_pending'
  | 'credits_pending'
>;

export function accountFromRow(r: AccountRow): Account {
  const posted = r.credits_posted - r.debits_posted;
  return {
    id: r.id,
    currency: r.currency,
    code: r.code,
    bound: boundFromRow(r.bound, r.overdraft_limit),
    metadata: r.metadata,
    createdAt: r.created_at,
    balances: {
      debitsPosted: r.debits_posted,
      creditsPosted: r.credits_posted,
      debitsPending: r.debits_pending,
      creditsPending: r.credits_pending,
      posted,
      available: posted - r.debits_pending,
    },
  };
}

export interface EntryRow {
  seq: bigint;
  id: string;
  kind: EntryKind;
  posted_at: Date;
  hold_id: string | null;
  reverses_seq: bigint | null;
  legs: string;
  metadata: Record<string, unknown>;
  hash: string;
}

const phases: Record<StoredLeg['p'], LegPhase> = { P: 'posted', H: 'pending', R: 'released' };

export function phaseOf(code: StoredLeg['p']): LegPhase {
  return phases[code];
}

export function legFromStored(leg: StoredLeg): JournalLeg {
  return {
    accountId: leg.a,
    currency: leg.c,
    side: leg.s === 'D' ? 'debit' : 'credit',
    phase: phases[leg.p],
    amount: BigInt(leg.n),
  };
}

export function entryFromRow(r: EntryRow): JournalEntry {
  return {
    seq: r.seq,
    id: r.id,
    kind: r.kind,
    postedAt: r.posted_at,
    holdId: r.hold_id,
    reversesSeq: r.reverses_seq,
    legs: decodeLegs(r.legs).map(legFromStored),
    metadata: r.metadata,
    hash: r.hash,
  };
}

export interface HoldRow {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  currency: string;
  amount: bigint;
  posted_amount: bigint;
  status: HoldStatus;
  expires_at: Date | null;
}

export function holdFromRow(r: HoldRow): Hold {
  return {
    id: r.id,
    debitAccountId: r.debit_account_id,
    creditAccountId: r.credit_account_id,
    currency: r.currency,
    amount: r.amount,
    postedAmount: r.posted_amount,
    status: r.status,
    expiresAt: r.expires_at,
  };
}
