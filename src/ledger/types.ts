/**
 * The ledger's data model, small enough to hold in your head (after TigerBeetle):
 * accounts carry four running totals — debits and credits, posted and pending — and every change to
 * them is an entry in an append-only, hash-chained journal.
 *
 * Balances are read credit-normal: a wallet (a liability of the platform to its user) that has been
 * credited 100 and debited 30 has a posted balance of 70. Debit-normal accounts (receivables) read
 * the same numbers with the sign flipped.
 */

/** What an account's totals may never do. Checked whenever an entry would make things worse. */
export type AccountBound =
  /** External or world accounts: anything goes. */
  | { kind: 'unbounded' }
  /** debits (posted + pending) ≤ credits posted: a wallet can't spend money it doesn't have. */
  | { kind: 'no_overdraft' }
  /** debits (posted + pending) ≤ credits posted + limit. */
  | { kind: 'overdraft_limit'; limit: bigint }
  /** Only ever credited (fee income, for example); only a reversal may debit it. */
  | { kind: 'credit_only' }
  /** credits (posted + pending) ≤ debits posted: the mirror of no_overdraft, for receivables. */
  | { kind: 'no_overcredit' };

export type AccountBoundKind = AccountBound['kind'];

export interface Balances {
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
  /** creditsPosted − debitsPosted */
  posted: bigint;
  /** posted − debitsPending: what can still be spent. */
  available: bigint;
}

export interface Account {
  id: string;
  currency: string;
  /** What the account is for, in the chart of accounts (e.g. "user_wallet", "fee_income"). */
  code: string;
  bound: AccountBound;
  metadata: Record<string, unknown>;
  createdAt: Date;
  balances: Balances;
}

export interface OpenAccountCommand {
  /** Optional client id: opening the same id twice with the same fields returns the account. */
  id?: string;
  currency: string;
  code: string;
  bound: AccountBound;
  metadata?: Record<string, unknown>;
}

export type Side = 'debit' | 'credit';

export interface Leg {
  accountId: string;
  side: Side;
  /** Minor units, > 0. */
  amount: bigint;
}

export type Metadata = Record<string, unknown>;

/** A journal entry of two or more legs, posted all or nothing; debits equal credits per currency. */
export interface PostEntryCommand {
  id: string;
  legs: Leg[];
  metadata?: Metadata;
}

/** A two-leg entry: the common case. */
export interface TransferCommand {
  id: string;
  debitAccountId: string;
  creditAccountId: string;
  amount: bigint;
  metadata?: Metadata;
}

/** Reserve funds: the amount counts against the debit account's available balance until resolved. */
export interface PlaceHoldCommand extends TransferCommand {
  /** After this many seconds a pending hold expires (voided by the expiry job); none = never. */
  timeoutSeconds?: number;
}

export interface PostHoldCommand {
  id: string;
  holdId: string;
  /** Post part of the hold; the rest is released. Default: all of it. */
  amount?: bigint;
  metadata?: Metadata;
}

export interface VoidHoldCommand {
  id: string;
  holdId: string;
  metadata?: Metadata;
}

export interface ReverseEntryCommand {
  id: string;
  /** The entry to undo; a correcting entry with the legs' sides swapped is posted. */
  entryId: string;
  metadata?: Metadata;
}

export type EntryKind = 'entry' | 'hold' | 'hold_post' | 'hold_void' | 'hold_expire' | 'reversal';

/** What a successful command returns; a retry with the same id and payload returns it again. */
export interface EntryReceipt {
  entryId: string;
  seq: bigint;
  kind: EntryKind;
  postedAt: Date;
  holdId?: string;
}

/** P posted, H pending (a hold placed), R released (a hold posted, voided or expired). */
export type LegPhase = 'posted' | 'pending' | 'released';

export interface JournalLeg {
  accountId: string;
  currency: string;
  side: Side;
  phase: LegPhase;
  amount: bigint;
}

export interface JournalEntry {
  seq: bigint;
  id: string;
  kind: EntryKind;
  postedAt: Date;
  holdId: string | null;
  reversesSeq: bigint | null;
  legs: JournalLeg[];
  metadata: Metadata;
  hash: string;
}

export type HoldStatus = 'pending' | 'posted' | 'voided' | 'expired';

export interface Hold {
  id: string;
  debitAccountId: string;
  creditAccountId: string;
  currency: string;
  amount: bigint;
  postedAmount: bigint;
  status: HoldStatus;
  expiresAt: Date | null;
}

export interface StatementLine {
  entrySeq: bigint;
  entryId: string;
  kind: EntryKind;
  postedAt: Date;
  side: Side;
  phase: LegPhase;
  amount: bigint;
  /** Posted balance (credits − debits) after this line. */
  balanceAfter: bigint;
  metadata: Metadata;
}

export interface Page<T> {
  items: T[];
  /** Pass back to get the next page; null at the end. */
  nextCursor: string | null;
}

export interface BalanceAt {
  accountId: string;
  asOf: Date;
  debitsPosted: bigint;
  creditsPosted: bigint;
  posted: bigint;
}

export interface VerifyCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  entries: bigint;
  checks: VerifyCheck[];
}
