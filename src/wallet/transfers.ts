import { MilletError, derivedId, isMilletError, isUuid, type Clock } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import type { Ledger } from '../ledger/index.ts';
import { usagePeriod } from './account-classes.ts';
import { chargePaymentAllowance, releasePaymentAllowance } from './payment-allowance.ts';
import type { WalletUserDirectory } from './users.ts';
import { WALLET_CURRENCY, findWalletAccount, requireIds } from './wallet-accounts.ts';

export interface TransferCommand {
  id: string;
  fromUserId: string;
  toUserId: string;
  amount: bigint;
  memo?: string;
}

export interface WalletTransfer {
  id: string;
  fromUserId: string;
  toUserId: string;
  amount: bigint;
  currency: string;
  memo: string | null;
  status: 'pending' | 'succeeded' | 'failed';
  failureCode: string | null;
  failureMessage: string | null;
  createdAt: Date;
}

interface TransferRow {
  id: string;
  from_user_id: string;
  to_user_id: string;
  amount: bigint;
  currency: string;
  memo: string | null;
  usage_period: string;
  status: WalletTransfer['status'];
  failure_code: string | null;
  failure_message: string | null;
  created_at: Date;
}

function fromRow(r: TransferRow): WalletTransfer {
  return {
    id: r.id,
    fromUserId: r.from_user_id,
    toUserId: r.to_user_id,
    amount: r.amount,
    currency: r.currency,
    memo: r.memo,
    status: r.status,
    failureCode: r.failure_code,
    failureMessage: r.failure_message,
    createdAt: r.created_at,
  };
}

/**
 * Person-to-person transfers between wallets. The transfer row and the charge against the payer's
 * class limit are written in one transaction before any money moves; the ledger entry's id is
 * derived from the transfer's, so a retry — or recovery after a crash between the two — posts it
 * at most once; a refused ledger entry gives the allowance back.
 */
export async function transferBetweenWallets(
  db: Database,
  ledger: Ledger,
  clock: Clock,
  users: WalletUserDirectory,
  command: TransferCommand,
): Promise<WalletTransfer> {
  requireIds({ id: command.id, fromUserId: command.fromUserId, toUserId: command.toUserId });
  if (command.amount <= 0n) throw new MilletError('AMOUNT_INVALID', 'amount must be positive');
  if (command.fromUserId === command.toUserId)
    throw new MilletError('TRANSFER_TO_SELF', 'Cannot transfer to yourself');
  const payer = await users.getUser(command.fromUserId);
  if (payer.kycStatus !== 'verified' || payer.accountClass === null) {
    // Nothing written yet, so the same request may run again once the user has verified.
    throw new MilletError('IDENTITY_NOT_VERIFIED', 'Verify your identity before making payments', undefined, {
      beforeAnyEffect: true,
    });
  }
  const [from, to] = await Promise.all([
    findWalletAccount(db, command.fromUserId),
    findWalletAccount(db, command.toUserId),
  ]);
  const accountClass = payer.accountClass;
  const now = clock.now();

  const row = await db.transaction(async (tx) => {
    // The row first, claiming the id: the same transfer sent twice at once waits here for the
    // first to commit and then finds it, rather than charging the allowance again and failing on
    // the primary key. A refused charge rolls the row back with it.
    const inserted = await tx.query<TransferRow>(
      `INSERT INTO wallet_transfers (id, from_user_id, to_user_id, amount, currency, memo, usage_period, status, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8)
       ON CONFLICT (id) DO NOTHING RETURNING *`,
      [
        command.id,
        command.fromUserId,
        command.toUserId,
        command.amount,
        WALLET_CURRENCY,
        command.memo ?? null,
        usagePeriod(accountClass, now),
        now,
      ],
    );
    if (!inserted.rows[0]) {
      const existing = await tx.query<TransferRow>('SELECT * FROM wallet_transfers WHERE id = $1', [
        command.id,
      ]);
      return existing.rows[0]!;
    }
    await chargePaymentAllowance(tx, command.fromUserId, accountClass, command.amount, now);
    return inserted.rows[0];
  });
  // The memo counts too: the recipient reads it, and a retry answered with another memo's transfer
  // would say "sent" for words that were never sent.
  if (
    row.from_user_id !== command.fromUserId ||
    row.to_user_id !== command.toUserId ||
    row.amount !== command.amount ||
    row.memo !== (command.memo ?? null)
  ) {
    throw new MilletError(
      'IDEMPOTENCY_KEY_REUSED',
      `Transfer ${command.id} was already requested with other details`,
    );
  }
  if (row.status !== 'pending') return fromRow(row);
  return completeTransfer(db, ledger, clock, row, from.ledgerAccountId, to.ledgerAccountId);
}

async function completeTransfer(
  db: Database,
  ledger: Ledger,
  clock: Clock,
  row: TransferRow,
  fromAccount: string,
  toAccount: string,
): Promise<WalletTransfer> {
  try {
    await ledger.transfer({
      id: derivedId('wallet.transfer', row.id),
      debitAccountId: fromAccount,
      creditAccountId: toAccount,
      amount: row.amount,
      metadata: { transferId: row.id, ...(row.memo ? { memo: row.memo } : {}) },
    });
  } catch (error) {
    if (!isMilletError(error)) throw error;
    await db.transaction(async (tx) => {
      const failed = await tx.query(
        `UPDATE wallet_transfers SET status = 'failed', failure_code = $2, failure_message = $3, updated_at = $4
          WHERE id = $1 AND status = 'pending'`,
        [row.id, error.code, error.message, clock.now()],
      );
      if (failed.rowCount > 0)
        await releasePaymentAllowance(tx, row.from_user_id, row.usage_period, row.amount);
    });
    throw error;
  }
  const done = await db.query<TransferRow>(
    `UPDATE wallet_transfers SET status = 'succeeded', updated_at = $2 WHERE id = $1 AND status = 'pending' RETURNING *`,
    [row.id, clock.now()],
  );
  return fromRow(done.rows[0] ?? { ...row, status: 'succeeded' });
}

/**
 * Completes transfers left pending for `olderThanMs` — the process stopped, or the ledger failed,
 * between recording a transfer and posting it — as a retry would: posted once (the entry id is
 * derived), or failed with the payer's allowance given back. Without this a transfer the client
 * never retried would hold its share of the payer's class limit for good. Returns how many ended.
 */
export async function recoverTransfers(
  db: Database,
  ledger: Ledger,
  clock: Clock,
  olderThanMs: number,
): Promise<number> {
  const stale = await db.query<TransferRow>(
    `SELECT * FROM wallet_transfers WHERE status = 'pending' AND created_at <= $1 ORDER BY created_at LIMIT 500`,
    [new Date(clock.now().getTime() - olderThanMs)],
  );
  let ended = 0;
  for (const row of stale.rows) {
    const [from, to] = await Promise.all([
      findWalletAccount(db, row.from_user_id),
      findWalletAccount(db, row.to_user_id),
    ]);
    try {
      await completeTransfer(db, ledger, clock, row, from.ledgerAccountId, to.ledgerAccountId);
    } catch (error) {
      // A refusal is the transfer's outcome, recorded by completeTransfer; anything else is not.
      if (!isMilletError(error)) throw error;
    }
    ended += 1;
  }
  return ended;
}

export async function getTransfer(db: Database, id: string, userId?: string): Promise<WalletTransfer> {
  const result = isUuid(id)
    ? await db.query<TransferRow>('SELECT * FROM wallet_transfers WHERE id = $1', [id])
    : { rows: [] };
  const row = result.rows[0];
  if (!row || (userId !== undefined && row.from_user_id !== userId && row.to_user_id !== userId)) {
    throw new MilletError('TRANSFER_NOT_FOUND', `No transfer ${id}`, { id });
  }
  return fromRow(row);
}
