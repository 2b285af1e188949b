import { MilletError, canonicalJson, isMilletError, type ErrorCode } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import { BatchDeferred, type BatchHook, type EffectOutcome } from './batch-effects.ts';
import { boundFromRow, boundViolation, type AccountTotals } from './bounds.ts';
import type { LedgerCommand, PreparedCommand } from './commands.ts';
import { decodeLegs, encodeLegs, entryHash, type StoredLeg } from './entry-hash.ts';
import type { AccountTotalsRow } from './rows.ts';
import type { AccountBound, EntryKind, EntryReceipt } from './types.ts';

/**
 * One group-commit batch: many commands applied in one database transaction. The rows they touch are
 * locked once, the commands are applied one after another to an in-memory copy of the locked state
 * (each validated on its own, so one failure never fails its neighbours), and everything accepted is
 * written back with a handful of set-based statements. A hot account is locked and updated once per
 * batch, not once per transfer, which is why it does not collapse throughput.
 */

export type Outcome =
  | { ok: true; receipt: EntryReceipt; replayed: boolean }
  | { ok: false; error: MilletError; replayed: boolean }
  /** An effect sent the command back to its caller; nothing of it was written. */
  | { ok: false; error: BatchDeferred; replayed: false };

interface AccountState {
  id: string;
  currency: string;
  bound: AccountBound;
  totals: AccountTotals;
  dirty: boolean;
}

interface HoldState {
  id: string;
  debitAccountId: string;
  creditAccountId: string;
  currency: string;
  amount: bigint;
  postedAmount: bigint;
  status: 'pending' | 'posted' | 'voided' | 'expired';
  expiresAt: Date | null;
  createdSeq: bigint;
  resolvedSeq: bigint | null;
  isNew: boolean;
  dirty: boolean;
}

interface InternalLeg {
  accountId: string;
  currency: string;
  side: 'D' | 'C';
  phase: 'P' | 'H' | 'R';
  amount: bigint;
}

interface TargetEntry {
  seq: bigint;
  id: string;
  kind: EntryKind;
  legs: StoredLeg[];
  reversed: boolean;
}

interface AcceptedEntry {
  seq: bigint;
  id: string;
  kind: EntryKind;
  holdId: string | null;
  reversesSeq: bigint | null;
  legs: StoredLeg[];
  legsText: string;
  metadata: string;
  requestHash: string;
  hash: string;
}

interface Posting {
  accountId: string;
  entrySeq: bigint;
  legIndex: number;
  side: 'D' | 'C';
  phase: 'P' | 'H' | 'R';
  amount: bigint;
  debitsPosted: bigint;
  creditsPosted: bigint;
}

interface Failure {
  id: string;
  requestHash: string;
  error: MilletError;
}

class Rejection extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    /** A transient rejection does not burn the id: the same command may succeed later. */
    readonly transient = false,
  ) {
    super(message);
  }
}

function reject(code: ErrorCode, message: string, details?: Record<string, unknown>): never {
  throw new Rejection(code, message, details);
}

/** int8's largest value: what an account's debits (or credits), posted plus pending, may reach. */
const MAX_ACCOUNT_TOTAL = 2n ** 63n - 1n;

function referencedHoldIds(commands: readonly LedgerCommand[]): string[] {
  const ids = new Set<string>();
  for (const c of commands)
    if (c.type === 'hold_post' || c.type === 'hold_void' || c.type === 'hold_expire') ids.add(c.holdId);
  return [...ids];
}

/** The accounts commands name in their own legs (entries) or as their parties (new holds). */
function namedAccounts(commands: readonly LedgerCommand[]): Set<string> {
  const ids = new Set<string>();
  for (const c of commands) {
    if (c.type === 'entry') for (const leg of c.legs) ids.add(leg.accountId);
    if (c.type === 'hold') ids.add(c.debitAccountId).add(c.creditAccountId);
  }
  return ids;
}

function lockAccounts(tx: Queryable, ids: ReadonlySet<string>) {
  return tx.query<AccountTotalsRow>(
    `SELECT id, currency, bound, overdraft_limit, debits_posted, credits_posted, debits_pending, credits_pending
       FROM ledger_accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
    [[...ids]],
  );
}

export async function applyBatch(
  tx: Queryable,
  prepared: readonly PreparedCommand[],
  now: Date,
): Promise<Outcome[]> {
  const commands = prepared.map((p) => p.command);
  // The head's lock, then every read below, issued in one turn: one round trip, run in this order,
  // so the reads still happen only once the lock is held (a batch waiting for it sends its reads
  // along and they run the moment the batch before commits).
  const headQuery = tx.query<{ last_seq: bigint; last_hash: string; last_posted_at: Date }>(
    'SELECT last_seq, last_hash, last_posted_at FROM ledger_head WHERE id = 1 FOR UPDATE',
  );

  // Other modules' work that commits with these commands (batch-effects.ts): loaded after the head
  // lock, so batches of several processes take their locks one batch at a time.
  const hooks = new Map<BatchHook<unknown, unknown>, { items: unknown[]; state: unknown }>();
  for (const p of prepared)
    for (const effect of p.effects ?? []) {
      const entry = hooks.get(effect.hook) ?? { items: [], state: undefined };
      entry.items.push(effect.item);
      hooks.set(effect.hook, entry);
    }
  // Issued together, so they share a round trip (in order: the hooks', then the ledger's own read).
  const loaded = Promise.all(
    [...hooks].map(async ([hook, entry]) => {
      entry.state = await hook.load(tx, entry.items);
    }),
  );

  const ids = [...new Set(commands.map((c) => c.id))];
  // The ids already used, accepted or failed, in one statement.
  const usedQuery = tx.query<{
    failed: boolean;
    id: string;
    seq: bigint | null;
    kind: EntryKind | null;
    posted_at: Date | null;
    hold_id: string | null;
    request_hash: string;
    code: ErrorCode | null;
    message: string | null;
    details: Record<string, unknown> | null;
  }>(
    `SELECT false AS failed, id, seq, kind, posted_at, hold_id, request_hash,
            NULL::text AS code, NULL::text AS message, NULL::jsonb AS details
       FROM ledger_entries WHERE id = ANY($1::uuid[])
     UNION ALL
     SELECT true, id, NULL, NULL, NULL, NULL, request_hash, code, message, details
       FROM ledger_failed_entries WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  // A batch whose commands name all their accounts themselves (no hold to resolve, no entry to
  // reverse) locks them in the same round trip — also those of a command that turns out to be a
  // replay, which costs only a lock held to the commit.
  const earlyAccountIds = commands.every((c) => c.type === 'entry' || c.type === 'hold')
    ? namedAccounts(commands)
    : undefined;
  const earlyAccounts = earlyAccountIds?.size ? lockAccounts(tx, earlyAccountIds) : undefined;
  const [headRows, , usedRows, earlyAccountRows] = await Promise.all([
    headQuery,
    loaded,
    usedQuery,
    earlyAccounts,
  ]);
  const head = headRows.rows[0]!;
  // Journal time never goes backwards, so seq order is time order and "as of" reads are simple.
  const postedAt = now > head.last_posted_at ? now : head.last_posted_at;
  const existing = new Map(
    usedRows.rows
      .filter((r) => !r.failed)
      .map((r) => [
        r.id,
        {
          id: r.id,
          seq: r.seq!,
          kind: r.kind!,
          posted_at: r.posted_at!,
          hold_id: r.hold_id,
          request_hash: r.request_hash,
        },
      ]),
  );
  const failed = new Map(
    usedRows.rows
      .filter((r) => r.failed)
      .map((r) => [
        r.id,
        { request_hash: r.request_hash, code: r.code!, message: r.message!, details: r.details },
      ]),
  );
  const fresh = commands.filter((c) => !existing.has(c.id) && !failed.has(c.id));

  // Holds and reversal targets referenced by the fresh commands.
  const holds = new Map<string, HoldState>();
  const holdIds = referencedHoldIds(fresh);
  if (holdIds.length > 0) {
    const rows = await tx.query<{
      id: string;
      debit_account_id: string;
      credit_account_id: string;
      currency: string;
      amount: bigint;
      posted_amount: bigint;
      status: HoldState['status'];
      expires_at: Date | null;
      created_seq: bigint;
      resolved_seq: bigint | null;
    }>('SELECT * FROM ledger_holds WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [holdIds]);
    for (const r of rows.rows) {
      holds.set(r.id, {
        id: r.id,
        debitAccountId: r.debit_account_id,
        creditAccountId: r.credit_account_id,
        currency: r.currency,
        amount: r.amount,
        postedAmount: r.posted_amount,
        status: r.status,
        expiresAt: r.expires_at,
        createdSeq: r.created_seq,
        resolvedSeq: r.resolved_seq,
        isNew: false,
        dirty: false,
      });
    }
  }

  const targets = new Map<string, TargetEntry>();
  const targetIds = [...new Set(fresh.flatMap((c) => (c.type === 'reversal' ? [c.entryId] : [])))];
  if (targetIds.length > 0) {
    const rows = await tx.query<{
      seq: bigint;
      id: string;
      kind: EntryKind;
      legs: string;
      reversed: boolean;
    }>(
      `SELECT e.seq, e.id, e.kind, e.legs,
              EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses_seq = e.seq) AS reversed
         FROM ledger_entries e WHERE e.id = ANY($1::uuid[])`,
      [targetIds],
    );
    for (const r of rows.rows) targets.set(r.id, { ...r, legs: decodeLegs(r.legs) });
  }

  // Lock every account the batch may touch, in id order (the same order in every process).
  const accountIds = namedAccounts(fresh);
  for (const h of holds.values()) accountIds.add(h.debitAccountId).add(h.creditAccountId);
  for (const t of targets.values()) for (const leg of t.legs) accountIds.add(leg.a);
  const accounts = new Map<string, AccountState>();
  if (accountIds.size > 0) {
    const rows = earlyAccountRows ?? (await lockAccounts(tx, accountIds));
    for (const r of rows.rows) {
      accounts.set(r.id, {
        id: r.id,
        currency: r.currency,
        bound: boundFromRow(r.bound, r.overdraft_limit),
        totals: {
          debitsPosted: r.debits_posted,
          creditsPosted: r.credits_posted,
          debitsPending: r.debits_pending,
          creditsPending: r.credits_pending,
        },
        dirty: false,
      });
    }
  }

  const accepted: AcceptedEntry[] = [];
  const acceptedById = new Map<string, { entry: AcceptedEntry; receipt: EntryReceipt }>();
  const postings: Posting[] = [];
  const failures: Failure[] = [];
  const failuresById = new Map<string, Failure>();
  let seq = head.last_seq;
  let hash = head.last_hash;

  const account = (id: string): AccountState =>
    accounts.get(id) ?? reject('ACCOUNT_NOT_FOUND', `Account ${id} does not exist`, { accountId: id });

  const pendingHold = (holdId: string): HoldState => {
    const hold = holds.get(holdId) ?? reject('HOLD_NOT_FOUND', `Hold ${holdId} does not exist`, { holdId });
    if (hold.status !== 'pending') {
      reject('HOLD_NOT_PENDING', `Hold ${holdId} is already ${hold.status}`, { holdId, status: hold.status });
    }
    return hold;
  };

  const holdLegs = (hold: HoldState, phase: InternalLeg['phase'], amount: bigint): InternalLeg[] => [
    { accountId: hold.debitAccountId, currency: hold.currency, side: 'D', phase, amount },
    { accountId: hold.creditAccountId, currency: hold.currency, side: 'C', phase, amount },
  ];

  /** Works out a command's legs and side effects, or throws a Rejection; touches no state. */
  const plan = (
    c: LedgerCommand,
  ): {
    kind: EntryKind;
    legs: InternalLeg[];
    holdId: string | null;
    reversesSeq: bigint | null;
    commit?: () => void;
  } => {
    switch (c.type) {
      case 'entry': {
        const legs = c.legs.map((leg): InternalLeg => {
          const a = account(leg.accountId);
          return {
            accountId: a.id,
            currency: a.currency,
            side: leg.side === 'debit' ? 'D' : 'C',
            phase: 'P',
            amount: leg.amount,
          };
        });
        const net = new Map<string, bigint>();
        for (const leg of legs)
          net.set(
            leg.currency,
            (net.get(leg.currency) ?? 0n) + (leg.side === 'C' ? leg.amount : -leg.amount),
          );
        for (const [currency, sum] of net) {
          if (sum !== 0n)
            reject('CURRENCY_MISMATCH', `The legs in ${currency} do not balance (off by ${sum})`, {
              currency,
            });
        }
        return { kind: 'entry', legs, holdId: null, reversesSeq: null };
      }
      case 'hold': {
        const debit = account(c.debitAccountId);
        const credit = account(c.creditAccountId);
        if (debit.currency !== credit.currency) {
          reject('CURRENCY_MISMATCH', `Accounts are in ${debit.currency} and ${credit.currency}`);
        }
        const hold: HoldState = {
          id: c.id,
          debitAccountId: debit.id,
          creditAccountId: credit.id,
          currency: debit.currency,
          amount: c.amount,
          postedAmount: 0n,
          status: 'pending',
          expiresAt: c.timeoutSeconds ? new Date(postedAt.getTime() + c.timeoutSeconds * 1000) : null,
          createdSeq: seq + 1n,
          resolvedSeq: null,
          isNew: true,
          dirty: true,
        };
        return {
          kind: 'hold',
          legs: holdLegs(hold, 'H', c.amount),
          holdId: c.id,
          reversesSeq: null,
          commit: () => holds.set(c.id, hold),
        };
      }
      case 'hold_post': {
        const hold = pendingHold(c.holdId);
        if (hold.expiresAt && hold.expiresAt <= postedAt) {
          reject('HOLD_EXPIRED', `Hold ${hold.id} expired at ${hold.expiresAt.toISOString()}`, {
            holdId: hold.id,
          });
        }
        const amount = c.amount ?? hold.amount;
        if (amount > hold.amount) {
          reject('HOLD_POST_EXCEEDS_AMOUNT', `Cannot post ${amount} of a hold of ${hold.amount}`, {
            holdId: hold.id,
            holdAmount: hold.amount.toString(),
          });
        }
        return {
          kind: 'hold_post',
          legs: [...holdLegs(hold, 'R', hold.amount), ...holdLegs(hold, 'P', amount)],
          holdId: hold.id,
          reversesSeq: null,
          commit: () =>
            Object.assign(hold, { status: 'posted', postedAmount: amount, resolvedSeq: seq, dirty: true }),
        };
      }
      case 'hold_void':
      case 'hold_expire': {
        const hold = pendingHold(c.holdId);
        const expiring = c.type === 'hold_expire';
        // As in TigerBeetle, a hold past its timeout belongs to the expiry job, even before it runs.
        if (!expiring && hold.expiresAt && hold.expiresAt <= postedAt) {
          reject('HOLD_EXPIRED', `Hold ${hold.id} expired at ${hold.expiresAt.toISOString()}`, {
            holdId: hold.id,
          });
        }
        if (expiring && !(hold.expiresAt && hold.expiresAt <= postedAt)) {
          // The expiry job and this process may disagree by a clock tick; let the job try again.
          throw new Rejection(
            'HOLD_NOT_PENDING',
            `Hold ${hold.id} has not reached its timeout`,
            { holdId: hold.id },
            true,
          );
        }
        return {
          kind: c.type,
          legs: holdLegs(hold, 'R', hold.amount),
          holdId: hold.id,
          reversesSeq: null,
          commit: () =>
            Object.assign(hold, { status: expiring ? 'expired' : 'voided', resolvedSeq: seq, dirty: true }),
        };
      }
      case 'reversal': {
        const target =
          targets.get(c.entryId) ??
          reject('ENTRY_NOT_FOUND', `Entry ${c.entryId} does not exist`, { entryId: c.entryId });
        if (target.kind !== 'entry' && target.kind !== 'hold_post') {
          reject(
            'ENTRY_NOT_REVERSIBLE',
            `A ${target.kind} entry cannot be reversed${target.kind === 'hold' ? '; void the hold instead' : ''}`,
            {
              entryId: target.id,
            },
          );
        }
        if (target.reversed)
          reject('ENTRY_ALREADY_REVERSED', `Entry ${target.id} has already been reversed`, {
            entryId: target.id,
          });
        const legs = target.legs
          .filter((leg) => leg.p === 'P')
          .map((leg): InternalLeg => ({
            accountId: leg.a,
            currency: leg.c,
            side: leg.s === 'D' ? 'C' : 'D',
            phase: 'P',
            amount: BigInt(leg.n),
          }));
        for (const leg of legs) account(leg.accountId);
        return {
          kind: 'reversal',
          legs,
          holdId: null,
          reversesSeq: target.seq,
          commit: () => (target.reversed = true),
        };
      }
    }
  };

  const postedAtIso = postedAt.toISOString();
  const ledgerOutcome = ({
    command: c,
    fingerprint: hashOfRequest,
    metadataJson,
  }: PreparedCommand): Outcome => {
    const prior = existing.get(c.id);
    if (prior) {
      if (prior.request_hash !== hashOfRequest)
        return { ok: false, error: idConflict(c.id), replayed: false };
      const receipt: EntryReceipt = {
        entryId: prior.id,
        seq: prior.seq,
        kind: prior.kind,
        postedAt: prior.posted_at,
      };
      if (prior.hold_id) receipt.holdId = prior.hold_id;
      return { ok: true, receipt, replayed: true };
    }
    const priorFailure = failed.get(c.id);
    if (priorFailure) {
      if (priorFailure.request_hash !== hashOfRequest)
        return { ok: false, error: idConflict(c.id), replayed: false };
      return {
        ok: false,
        error: new MilletError(priorFailure.code, priorFailure.message, priorFailure.details ?? undefined),
        replayed: true,
      };
    }
    const earlier = acceptedById.get(c.id);
    if (earlier) {
      if (earlier.entry.requestHash !== hashOfRequest)
        return { ok: false, error: idConflict(c.id), replayed: false };
      return { ok: true, receipt: earlier.receipt, replayed: true };
    }
    const earlierFailure = failuresById.get(c.id);
    if (earlierFailure) {
      if (earlierFailure.requestHash !== hashOfRequest)
        return { ok: false, error: idConflict(c.id), replayed: false };
      return { ok: false, error: earlierFailure.error, replayed: true };
    }

    try {
      const planned = plan(c);
      // Apply the legs to copies of the totals, judge the bounds, then keep the copies.
      const copies = new Map<string, AccountTotals>();
      const entrySeq = seq + 1n;
      const entryPostings: Posting[] = planned.legs.map((leg, legIndex) => {
        const state = account(leg.accountId);
        if (
          state.bound.kind === 'credit_only' &&
          leg.side === 'D' &&
          leg.phase !== 'R' &&
          planned.kind !== 'reversal'
        ) {
          reject('ACCOUNT_CREDIT_ONLY', `Account ${state.id} may only be credited`, {
            accountId: state.id,
          });
        }
        const totals = copies.get(leg.accountId) ?? { ...state.totals };
        copies.set(leg.accountId, totals);
        applyLeg(totals, leg);
        return {
          accountId: leg.accountId,
          entrySeq,
          legIndex,
          side: leg.side,
          phase: leg.phase,
          amount: leg.amount,
          debitsPosted: totals.debitsPosted,
          creditsPosted: totals.creditsPosted,
        };
      });
      for (const [id, after] of copies) {
        // The totals are int8 columns: a total past that would fail the batch's write (a 500) and
        // leave the account refusing every later command the same way.
        if (
          after.debitsPosted + after.debitsPending > MAX_ACCOUNT_TOTAL ||
          after.creditsPosted + after.creditsPending > MAX_ACCOUNT_TOTAL
        )
          reject('ACCOUNT_TOTALS_OVERFLOW', `Account ${id}'s running totals would overflow`, {
            accountId: id,
          });
        const state = accounts.get(id)!;
        const violation = boundViolation(state.bound, state.totals, after);
        if (violation) reject(violation, boundMessage(violation, id), { accountId: id });
      }
      for (const [id, after] of copies) {
        const state = accounts.get(id)!;
        state.totals = after;
        state.dirty = true;
      }
      seq = entrySeq;
      planned.commit?.();
      const legs = planned.legs.map((leg): StoredLeg => ({
        a: leg.accountId,
        c: leg.currency,
        s: leg.side,
        p: leg.phase,
        n: leg.amount.toString(),
      }));
      const storedLegs = encodeLegs(legs);
      hash = entryHash(hash, {
        seq,
        id: c.id,
        kind: planned.kind,
        postedAtIso,
        holdId: planned.holdId,
        reversesSeq: planned.reversesSeq,
        legsText: storedLegs,
        metadataJson,
      });
      const entry: AcceptedEntry = {
        seq,
        id: c.id,
        kind: planned.kind,
        holdId: planned.holdId,
        reversesSeq: planned.reversesSeq,
        legs,
        legsText: storedLegs,
        metadata: metadataJson,
        requestHash: hashOfRequest,
        hash,
      };
      accepted.push(entry);
      postings.push(...entryPostings);
      const receipt: EntryReceipt = { entryId: c.id, seq, kind: planned.kind, postedAt };
      if (planned.holdId) receipt.holdId = planned.holdId;
      acceptedById.set(c.id, { entry, receipt });
      // A later command in this batch may reverse this entry.
      targets.set(c.id, { seq, id: c.id, kind: planned.kind, legs, reversed: false });
      return { ok: true, receipt, replayed: false };
    } catch (error) {
      if (!(error instanceof Rejection)) throw error;
      const failure: Failure = {
        id: c.id,
        requestHash: hashOfRequest,
        error: new MilletError(error.code, error.message, error.details),
      };
      if (error.transient) return { ok: false, error: failure.error, replayed: false };
      failures.push(failure);
      failuresById.set(c.id, failure);
      return { ok: false, error: failure.error, replayed: false };
    }
  };

  const outcomes = prepared.map((p): Outcome => {
    if (!p.effects?.length) return ledgerOutcome(p);
    const settles: Array<(outcome: EffectOutcome) => void> = [];
    for (const effect of p.effects) {
      let admission;
      try {
        admission = effect.hook.admit(hooks.get(effect.hook)!.state, effect.item);
      } catch (error) {
        if (!isMilletError(error)) throw error;
        for (const settle of settles) settle({ ok: false, error, byLedger: false });
        return { ok: false, error, replayed: false };
      }
      if (admission === 'defer')
        return { ok: false, error: new BatchDeferred(effect.hook.name), replayed: false };
      settles.push(admission.settle);
    }
    const outcome = ledgerOutcome(p);
    const seen: EffectOutcome = outcome.ok
      ? outcome
      : { ok: false, error: outcome.error as MilletError, byLedger: true };
    for (const settle of settles) settle(seen);
    return outcome;
  });

  // The ledger's writes first, then the hooks', all issued together (one round trip).
  await Promise.all([
    writeBatch(tx, { accepted, postings, failures, accounts, holds, postedAt, seq, hash, now }),
    ...[...hooks].map(([hook, entry]) => hook.write(tx, entry.state)),
  ]);
  return outcomes;
}

function idConflict(id: string): MilletError {
  return new MilletError('ENTRY_ID_CONFLICT', `Id ${id} was already used for a different request`, { id });
}

function boundMessage(code: ErrorCode, accountId: string): string {
  switch (code) {
    case 'INSUFFICIENT_FUNDS':
      return `Account ${accountId} has insufficient available funds`;
    case 'OVERDRAFT_LIMIT_EXCEEDED':
      return `Account ${accountId} would exceed its overdraft limit`;
    default:
      return `Account ${accountId} would be credited beyond its debits`;
  }
}

function applyLeg(t: AccountTotals, leg: InternalLeg): void {
  const debit = leg.side === 'D';
  switch (leg.phase) {
    case 'P':
      if (debit) t.debitsPosted += leg.amount;
      else t.creditsPosted += leg.amount;
      return;
    case 'H':
      if (debit) t.debitsPending += leg.amount;
      else t.creditsPending += leg.amount;
      return;
    case 'R':
      if (debit) t.debitsPending -= leg.amount;
      else t.creditsPending -= leg.amount;
      return;
  }
}

async function writeBatch(
  tx: Queryable,
  batch: {
    accepted: AcceptedEntry[];
    postings: Posting[];
    failures: Failure[];
    accounts: Map<string, AccountState>;
    holds: Map<string, HoldState>;
    postedAt: Date;
    seq: bigint;
    hash: string;
    now: Date;
  },
): Promise<void> {
  const { accepted, postings, failures } = batch;
  const writes: Array<() => Promise<unknown>> = [];
  const dirtyAccounts = [...batch.accounts.values()].filter((a) => a.dirty);
  if (accepted.length > 0) {
    // The journal, the postings, the accounts' totals and the head in one statement (one round
    // trip): the parts touch different tables and read only their parameters.
    writes.push(() =>
      tx.query(
        `WITH entries AS (
           INSERT INTO ledger_entries (seq, id, kind, posted_at, hold_id, reverses_seq, legs, metadata, request_hash, hash)
           SELECT s, i, k, $4::timestamptz, h, r, l, m, q, x
             FROM unnest($1::int8[], $2::uuid[], $3::text[], $5::uuid[], $6::int8[], $7::text[], $8::jsonb[], $9::text[], $10::text[])
                  AS t(s, i, k, h, r, l, m, q, x)
         ), postings AS (
           INSERT INTO ledger_postings (account_id, entry_seq, leg_index, side, phase, amount, debits_posted, credits_posted)
           SELECT * FROM unnest($11::uuid[], $12::int8[], $13::int[], $14::char(1)[], $15::char(1)[], $16::int8[], $17::int8[], $18::int8[])
         ), accounts AS (
           UPDATE ledger_accounts a
              SET debits_posted = v.dp, credits_posted = v.cp, debits_pending = v.dh, credits_pending = v.ch
             FROM unnest($19::uuid[], $20::int8[], $21::int8[], $22::int8[], $23::int8[]) AS v(id, dp, cp, dh, ch)
            WHERE a.id = v.id
         )
         UPDATE ledger_head SET last_seq = $24::int8, last_hash = $25::text, last_posted_at = $26::timestamptz
          WHERE id = 1`,
        [
          accepted.map((e) => e.seq),
          accepted.map((e) => e.id),
          accepted.map((e) => e.kind),
          batch.postedAt,
          accepted.map((e) => e.holdId),
          accepted.map((e) => e.reversesSeq),
          accepted.map((e) => e.legsText),
          accepted.map((e) => e.metadata),
          accepted.map((e) => e.requestHash),
          accepted.map((e) => e.hash),
          postings.map((p) => p.accountId),
          postings.map((p) => p.entrySeq),
          postings.map((p) => p.legIndex),
          postings.map((p) => p.side),
          postings.map((p) => p.phase),
          postings.map((p) => p.amount),
          postings.map((p) => p.debitsPosted),
          postings.map((p) => p.creditsPosted),
          dirtyAccounts.map((a) => a.id),
          dirtyAccounts.map((a) => a.totals.debitsPosted),
          dirtyAccounts.map((a) => a.totals.creditsPosted),
          dirtyAccounts.map((a) => a.totals.debitsPending),
          dirtyAccounts.map((a) => a.totals.creditsPending),
          batch.seq,
          batch.hash,
          batch.postedAt,
        ],
      ),
    );
  }
  const dirtyHolds = [...batch.holds.values()].filter((h) => h.dirty);
  const newHolds = dirtyHolds.filter((h) => h.isNew);
  const changedHolds = dirtyHolds.filter((h) => !h.isNew);
  if (newHolds.length > 0) {
    writes.push(() =>
      tx.query(
        `INSERT INTO ledger_holds (id, debit_account_id, credit_account_id, currency, amount, posted_amount, status, expires_at, created_seq, resolved_seq)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int8[], $6::int8[], $7::text[], $8::timestamptz[], $9::int8[], $10::int8[])`,
        [
          newHolds.map((h) => h.id),
          newHolds.map((h) => h.debitAccountId),
          newHolds.map((h) => h.creditAccountId),
          newHolds.map((h) => h.currency),
          newHolds.map((h) => h.amount),
          newHolds.map((h) => h.postedAmount),
          newHolds.map((h) => h.status),
          newHolds.map((h) => h.expiresAt?.toISOString() ?? null),
          newHolds.map((h) => h.createdSeq),
          newHolds.map((h) => h.resolvedSeq),
        ],
      ),
    );
  }
  if (changedHolds.length > 0) {
    writes.push(() =>
      tx.query(
        `UPDATE ledger_holds h SET status = v.st, posted_amount = v.pa, resolved_seq = v.rs
           FROM unnest($1::uuid[], $2::text[], $3::int8[], $4::int8[]) AS v(id, st, pa, rs)
          WHERE h.id = v.id`,
        [
          changedHolds.map((h) => h.id),
          changedHolds.map((h) => h.status),
          changedHolds.map((h) => h.postedAmount),
          changedHolds.map((h) => h.resolvedSeq),
        ],
      ),
    );
  }
  if (failures.length > 0) {
    writes.push(() =>
      tx.query(
        `INSERT INTO ledger_failed_entries (id, request_hash, code, message, details, failed_at)
         SELECT i, q, c, m, d, $6::timestamptz FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[]) AS t(i, q, c, m, d)
         ON CONFLICT (id) DO NOTHING`,
        [
          failures.map((f) => f.id),
          failures.map((f) => f.requestHash),
          failures.map((f) => f.error.code),
          failures.map((f) => f.error.message),
          failures.map((f) => (f.error.details ? canonicalJson(f.error.details) : null)),
          batch.now,
        ],
      ),
    );
  }
  await Promise.all(writes.map((write) => write()));
}
