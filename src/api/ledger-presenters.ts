import type { z } from 'zod';
import type {
  Account,
  AccountBound,
  BalanceAt,
  EntryReceipt,
  Hold,
  JournalEntry,
  StatementLine,
  VerifyReport,
} from '../ledger/index.ts';
import type {
  accountOutput,
  balanceAtOutput,
  entryOutput,
  holdOutput,
  receiptOutput,
  statementLineOutput,
  verifyOutput,
} from './ledger-schemas.ts';

/** Ledger records as JSON: snake_case, bigint as decimal strings, instants as ISO 8601. */

function boundJson(bound: AccountBound): z.input<typeof accountOutput>['bound'] {
  return bound.kind === 'overdraft_limit'
    ? { kind: bound.kind, limit: bound.limit.toString() }
    : { kind: bound.kind };
}

export function accountJson(account: Account): z.input<typeof accountOutput> {
  const b = account.balances;
  return {
    id: account.id,
    currency: account.currency,
    code: account.code,
    bound: boundJson(account.bound),
    metadata: account.metadata,
    created_at: account.createdAt.toISOString(),
    balances: {
      debits_posted: b.debitsPosted.toString(),
      credits_posted: b.creditsPosted.toString(),
      debits_pending: b.debitsPending.toString(),
      credits_pending: b.creditsPending.toString(),
      posted: b.posted.toString(),
      available: b.available.toString(),
    },
  };
}

export function receiptJson(receipt: EntryReceipt): z.input<typeof receiptOutput> {
  return {
    entry_id: receipt.entryId,
    seq: receipt.seq.toString(),
    kind: receipt.kind,
    posted_at: receipt.postedAt.toISOString(),
    hold_id: receipt.holdId ?? null,
  };
}

export function entryJson(entry: JournalEntry): z.input<typeof entryOutput> {
  return {
    seq: entry.seq.toString(),
    id: entry.id,
    kind: entry.kind,
    posted_at: entry.postedAt.toISOString(),
    hold_id: entry.holdId,
    reverses_seq: entry.reversesSeq === null ? null : entry.reversesSeq.toString(),
    legs: entry.legs.map((leg) => ({
      account_id: leg.accountId,
      currency: leg.currency,
      side: leg.side,
      phase: leg.phase,
      amount: leg.amount.toString(),
    })),
    metadata: entry.metadata,
    hash: entry.hash,
  };
}

export function holdJson(hold: Hold): z.input<typeof holdOutput> {
  return {
    id: hold.id,
    debit_account_id: hold.debitAccountId,
    credit_account_id: hold.creditAccountId,
    currency: hold.currency,
    amount: hold.amount.toString(),
    posted_amount: hold.postedAmount.toString(),
    status: hold.status,
    expires_at: hold.expiresAt ? hold.expiresAt.toISOString() : null,
  };
}

export function statementLineJson(line: StatementLine): z.input<typeof statementLineOutput> {
  return {
    entry_seq: line.entrySeq.toString(),
    entry_id: line.entryId,
    kind: line.kind,
    posted_at: line.postedAt.toISOString(),
    side: line.side,
    phase: line.phase,
    amount: line.amount.toString(),
    balance_after: line.balanceAfter.toString(),
    metadata: line.metadata,
  };
}

export function balanceAtJson(balance: BalanceAt): z.input<typeof balanceAtOutput> {
  return {
    account_id: balance.accountId,
    as_of: balance.asOf.toISOString(),
    debits_posted: balance.debitsPosted.toString(),
    credits_posted: balance.creditsPosted.toString(),
    posted: balance.posted.toString(),
  };
}

export function verifyJson(report: VerifyReport): z.input<typeof verifyOutput> {
  return { ok: report.ok, entries: report.entries.toString(), checks: report.checks.map((c) => ({ ...c })) };
}
