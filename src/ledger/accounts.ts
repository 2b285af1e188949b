import { createHash } from 'node:crypto';
import { MilletError, canonicalJson, isCurrencyCode, isUuid, newId, type Clock } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import { MAX_AMOUNT, checkMetadata } from './commands.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { accountFromRow, type AccountRow } from './rows.ts';
import type { Account, OpenAccountCommand, Page } from './types.ts';

function validateOpenAccount(command: OpenAccountCommand): void {
  if (command.id !== undefined && !isUuid(command.id))
    throw new MilletError('VALIDATION_FAILED', 'id must be a UUID', { field: 'id' });
  if (!isCurrencyCode(command.currency)) {
    throw new MilletError('VALIDATION_FAILED', 'currency must be an ISO 4217 code such as CNY', {
      field: 'currency',
    });
  }
  if (!/^[a-z][a-z0-9_.:-]{0,63}$/.test(command.code)) {
    throw new MilletError('VALIDATION_FAILED', 'code must be 1–64 lower-case letters, digits or _ . : -', {
      field: 'code',
    });
  }
  if (
    command.bound.kind === 'overdraft_limit' &&
    (command.bound.limit < 0n || command.bound.limit > MAX_AMOUNT)
  ) {
    throw new MilletError('AMOUNT_INVALID', 'overdraft limit must be between 0 and 10^15 minor units', {
      field: 'bound.limit',
    });
  }
  // Kept on the row and in every read of the account, so bounded as entries' metadata is.
  checkMetadata(command.metadata);
}

/** Opens an account; the same client id with the same fields returns the existing account. */
export async function openAccount(
  db: Queryable,
  clock: Clock,
  command: OpenAccountCommand,
): Promise<Account> {
  validateOpenAccount(command);
  const id = command.id ?? newId();
  const metadata = command.metadata ?? {};
  const hash = createHash('sha256')
    .update(canonicalJson({ currency: command.currency, code: command.code, bound: command.bound, metadata }))
    .digest('hex');
  const inserted = await db.query<AccountRow>(
    `INSERT INTO ledger_accounts (id, currency, code, bound, overdraft_limit, metadata, request_hash, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (id) DO NOTHING
     RETURNING *`,
    [
      id,
      command.currency,
      command.code,
      command.bound.kind,
      command.bound.kind === 'overdraft_limit' ? command.bound.limit : 0n,
      canonicalJson(metadata),
      hash,
      clock.now(),
    ],
  );
  if (inserted.rows[0]) return accountFromRow(inserted.rows[0]);
  const existing = await db.query<AccountRow>('SELECT * FROM ledger_accounts WHERE id = $1', [id]);
  const row = existing.rows[0]!;
  if (row.request_hash !== hash) {
    throw new MilletError('ACCOUNT_ID_CONFLICT', `Account ${id} already exists with other fields`, {
      accountId: id,
    });
  }
  return accountFromRow(row);
}

export async function getAccount(db: Queryable, id: string): Promise<Account> {
  if (!isUuid(id))
    throw new MilletError('ACCOUNT_NOT_FOUND', `Account ${id} does not exist`, { accountId: id });
  const result = await db.query<AccountRow>('SELECT * FROM ledger_accounts WHERE id = $1', [id]);
  const row = result.rows[0];
  if (!row) throw new MilletError('ACCOUNT_NOT_FOUND', `Account ${id} does not exist`, { accountId: id });
  return accountFromRow(row);
}

/** Many accounts in one query; ids that are not accounts (or not UUIDs) are absent from the map. */
export async function getAccounts(db: Queryable, ids: readonly string[]): Promise<Map<string, Account>> {
  const valid = [...new Set(ids)].filter(isUuid);
  const found = new Map<string, Account>();
  if (valid.length === 0) return found;
  const result = await db.query<AccountRow>('SELECT * FROM ledger_accounts WHERE id = ANY($1::uuid[])', [
    valid,
  ]);
  for (const row of result.rows) {
    const account = accountFromRow(row);
    found.set(account.id, account);
  }
  return found;
}

export interface ListAccountsQuery {
  code?: string;
  cursor?: string;
  limit?: number;
}

/** Accounts in id order (UUIDv7, so roughly creation order), a page at a time. */
export async function listAccounts(db: Queryable, query: ListAccountsQuery = {}): Promise<Page<Account>> {
  const limit = clampLimit(query.limit);
  const after = query.cursor ? decodeCursor(query.cursor, 1)[0]! : '00000000-0000-0000-0000-000000000000';
  if (!isUuid(after))
    throw new MilletError('VALIDATION_FAILED', 'cursor is not one this API handed out', { field: 'cursor' });
  const result = await db.query<AccountRow>(
    `SELECT * FROM ledger_accounts WHERE id > $1 AND ($2::text IS NULL OR code = $2) ORDER BY id LIMIT $3`,
    [after, query.code ?? null, limit + 1],
  );
  const items = result.rows.slice(0, limit).map(accountFromRow);
  return { items, nextCursor: result.rows.length > limit ? encodeCursor([items.at(-1)!.id]) : null };
}

export function clampLimit(limit: number | undefined): number {
  if (limit === undefined) return 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
    throw new MilletError('VALIDATION_FAILED', 'limit must be a whole number from 1 to 500', {
      field: 'limit',
    });
  }
  return limit;
}
