import { MilletError, derivedId, isUuid, type Clock } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import type { Ledger } from '../ledger/index.ts';

export const WALLET_CURRENCY = 'CNY';

/**
 * The platform's side of the wallet in the ledger. Ids are derived from names, so every process
 * (and every restart) finds the same accounts without a lookup table.
 */
export function platformAccountIds(currency = WALLET_CURRENCY) {
  return {
    /** Money held for us at partner banks: the other side of every top-up and withdrawal. */
    bankClearing: derivedId('wallet.platform', `bank_clearing:${currency}`),
    /**
     * What users owe the platform for withdrawals the bank paid out after their hold had gone back
     * and the wallet no longer held the amount: money to collect, found by operators here.
     */
    withdrawalShortfall: derivedId('wallet.platform', `withdrawal_shortfall:${currency}`),
  };
}

export async function ensurePlatformAccounts(ledger: Ledger, currency = WALLET_CURRENCY): Promise<void> {
  const ids = platformAccountIds(currency);
  for (const [id, code] of [
    [ids.bankClearing, 'bank_clearing'],
    [ids.withdrawalShortfall, 'withdrawal_shortfall'],
  ] as const)
    await ledger.openAccount({
      id,
      currency,
      code,
      bound: { kind: 'unbounded' },
      metadata: { owner: 'platform' },
    });
}

export interface WalletAccount {
  userId: string;
  ledgerAccountId: string;
  currency: string;
  createdAt: Date;
}

/** Opens the user's wallet (a no-overdraft ledger account); opening twice returns the same one. */
export async function openWalletAccount(
  db: Database,
  ledger: Ledger,
  clock: Clock,
  userId: string,
): Promise<WalletAccount> {
  const ledgerAccountId = derivedId('wallet.user', userId);
  await ledger.openAccount({
    id: ledgerAccountId,
    currency: WALLET_CURRENCY,
    code: 'user_wallet',
    bound: { kind: 'no_overdraft' },
    metadata: { userId },
  });
  await db.query(
    `INSERT INTO wallet_accounts (user_id, ledger_account_id, currency, created_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (user_id) DO NOTHING`,
    [userId, ledgerAccountId, WALLET_CURRENCY, clock.now()],
  );
  return findWalletAccount(db, userId);
}

/** Ids reach SQL as uuid parameters: refuse anything else with a clear error, not a database fault. */
export function requireIds(ids: Record<string, string>): void {
  for (const [field, value] of Object.entries(ids)) {
    if (!isUuid(value)) throw new MilletError('VALIDATION_FAILED', `${field} must be a UUID`, { field });
  }
}

export async function findWalletAccount(db: Database, userId: string): Promise<WalletAccount> {
  if (!isUuid(userId)) throw new MilletError('WALLET_NOT_FOUND', `User ${userId} has no wallet`, { userId });
  const result = await db.query<{
    user_id: string;
    ledger_account_id: string;
    currency: string;
    created_at: Date;
  }>('SELECT * FROM wallet_accounts WHERE user_id = $1', [userId]);
  const row = result.rows[0];
  if (!row) throw new MilletError('WALLET_NOT_FOUND', `User ${userId} has no wallet`, { userId });
  return {
    userId: row.user_id,
    ledgerAccountId: row.ledger_account_id,
    currency: row.currency,
    createdAt: row.created_at,
  };
}

/** Wallet accounts of many users in one query; users without a wallet are absent. */
export async function findWalletAccounts(
  db: Database,
  userIds: readonly string[],
): Promise<Map<string, WalletAccount>> {
  const valid = [...new Set(userIds)].filter(isUuid);
  const found = new Map<string, WalletAccount>();
  if (valid.length === 0) return found;
  const result = await db.query<{
    user_id: string;
    ledger_account_id: string;
    currency: string;
    created_at: Date;
  }>('SELECT * FROM wallet_accounts WHERE user_id = ANY($1::uuid[])', [valid]);
  for (const row of result.rows)
    found.set(row.user_id, {
      userId: row.user_id,
      ledgerAccountId: row.ledger_account_id,
      currency: row.currency,
      createdAt: row.created_at,
    });
  return found;
}
