import { MilletError, decodeIdCursor, derivedId, encodeIdCursor, isUuid, type Clock } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import type { Ledger } from '../ledger/index.ts';
import { merchantFromRow, type MerchantRow } from './rows.ts';
import type { CreateMerchantCommand, ListQuery, Merchant, MerchantStatus, PageOf } from './types.ts';

export const MERCHANT_CURRENCY = 'CNY';

/** Where a merchant's payouts go until an operator sets its own: the sandbox bank accepts it. */
export const DEFAULT_SETTLEMENT_CARD_TOKEN = 'sandbox_merchant_account';

function checkCardToken(token: string): string {
  const trimmed = token.trim();
  if (trimmed.length === 0 || trimmed.length > 64)
    throw new MilletError('VALIDATION_FAILED', 'settlement_card_token must be 1–64 characters', {
      field: 'settlement_card_token',
    });
  return trimmed;
}

/** The platform's own accounts for merchant business; ids derived from names, like the wallet's. */
export function platformFeeAccountId(currency = MERCHANT_CURRENCY): string {
  return derivedId('merchants.platform', `fee_income:${currency}`);
}

export async function ensurePlatformFeeAccount(ledger: Ledger, currency = MERCHANT_CURRENCY): Promise<void> {
  await ledger.openAccount({
    id: platformFeeAccountId(currency),
    currency,
    code: 'fee_income',
    bound: { kind: 'credit_only' },
    metadata: { owner: 'platform', purpose: 'merchant fees' },
  });
}

export function merchantNotFound(id: string): MilletError {
  return new MilletError('MERCHANT_NOT_FOUND', `No merchant ${id}`, { merchantId: id });
}

export async function loadMerchant(q: Queryable, id: string): Promise<Merchant> {
  if (!isUuid(id)) throw merchantNotFound(id);
  const result = await q.query<MerchantRow>('SELECT * FROM merchants_merchants WHERE id = $1', [id]);
  if (!result.rows[0]) throw merchantNotFound(id);
  return merchantFromRow(result.rows[0]);
}

/** What two merchants' names must not share: the legal name trimmed, case ignored. */
export const merchantNameKey = (name: string): string => name.trim().toLowerCase();

function merchantNameTaken(name: string, merchantId: string | null): MilletError {
  return new MilletError('MERCHANT_NAME_TAKEN', `A merchant named ${name} is already onboarded`, {
    field: 'name',
    merchantId,
  });
}

export function merchantSuspended(id: string, name: string): MilletError {
  return new MilletError('MERCHANT_SUSPENDED', `Merchant ${name} is suspended and cannot take payments`, {
    merchantId: id,
  });
}

/** The merchant, refusing one that may not take payments now. */
export async function activeMerchant(q: Queryable, id: string): Promise<Merchant> {
  const merchant = await loadMerchant(q, id);
  if (merchant.status !== 'active') throw merchantSuspended(id, merchant.name);
  return merchant;
}

/** Merchants as operators onboard them, each with a `merchant_payable` ledger account. */
export class MerchantDirectory {
  constructor(
    private readonly db: Database,
    private readonly ledger: Ledger,
    private readonly clock: Clock,
  ) {}

  /** Creating the same id again returns the merchant (a retried request), with created false. */
  async create(command: CreateMerchantCommand): Promise<{ merchant: Merchant; created: boolean }> {
    const name = command.name.trim();
    if (name.length === 0 || name.length > 100)
      throw new MilletError('VALIDATION_FAILED', 'name must be 1–100 characters', { field: 'name' });
    if (!Number.isInteger(command.feeBps) || command.feeBps < 0 || command.feeBps > 10_000)
      throw new MilletError('VALIDATION_FAILED', 'fee_bps must be an integer from 0 to 10000', {
        field: 'fee_bps',
      });
    if (!isUuid(command.id)) throw new MilletError('VALIDATION_FAILED', 'id must be a UUID', { field: 'id' });
    const cardToken = checkCardToken(command.settlementCardToken ?? DEFAULT_SETTLEMENT_CARD_TOKEN);
    const nameKey = merchantNameKey(name);
    // Asked first so that a refused name leaves no ledger account behind; the unique index on
    // name_key (migration 0007) decides between two onboardings that race past this.
    // A retried request (its id already a merchant) is answered below whatever the name's holder.
    const holder = await this.db.query<{ id: string }>(
      `SELECT id FROM merchants_merchants WHERE name_key = $1 AND id <> $2
          AND NOT EXISTS (SELECT 1 FROM merchants_merchants WHERE id = $2)`,
      [nameKey, command.id],
    );
    if (holder.rows[0]) throw merchantNameTaken(name, holder.rows[0].id);
    // The account first: a crash after it leaves an unused account, never a merchant without one.
    const ledgerAccountId = derivedId('merchants.payable', command.id);
    await this.ledger.openAccount({
      id: ledgerAccountId,
      currency: MERCHANT_CURRENCY,
      code: 'merchant_payable',
      bound: { kind: 'no_overdraft' },
      metadata: { merchantId: command.id },
    });
    const now = this.clock.now();
    // No conflict target: a taken id (a retried request) and a taken name both insert nothing, and
    // are told apart below, instead of the name's duplicate key failing as a 500.
    const inserted = await this.db.query(
      `INSERT INTO merchants_merchants (id, name, name_key, status, fee_bps, ledger_account_id, currency,
         settlement_card_token, created_at, updated_at)
       VALUES ($1, $2, $3, 'active', $4, $5, $6, $7, $8, $8) ON CONFLICT DO NOTHING RETURNING id`,
      [command.id, name, nameKey, command.feeBps, ledgerAccountId, MERCHANT_CURRENCY, cardToken, now],
    );
    const found = await this.db.query<MerchantRow>('SELECT * FROM merchants_merchants WHERE id = $1', [
      command.id,
    ]);
    if (!found.rows[0]) {
      const winner = await this.db.query<{ id: string }>(
        'SELECT id FROM merchants_merchants WHERE name_key = $1',
        [nameKey],
      );
      throw merchantNameTaken(name, winner.rows[0]?.id ?? null);
    }
    const merchant = merchantFromRow(found.rows[0]);
    if (merchant.name !== name || merchant.feeBps !== command.feeBps)
      throw new MilletError(
        'IDEMPOTENCY_KEY_REUSED',
        `Merchant ${command.id} was already created with other details`,
      );
    return { merchant, created: inserted.rows.length > 0 };
  }

  async setSettlementCardToken(id: string, cardToken: string): Promise<Merchant> {
    if (!isUuid(id)) throw merchantNotFound(id);
    const result = await this.db.query<MerchantRow>(
      `UPDATE merchants_merchants SET settlement_card_token = $2, updated_at = $3 WHERE id = $1 RETURNING *`,
      [id, checkCardToken(cardToken), this.clock.now()],
    );
    if (!result.rows[0]) throw merchantNotFound(id);
    return merchantFromRow(result.rows[0]);
  }

  get(id: string): Promise<Merchant> {
    return loadMerchant(this.db, id);
  }

  async list(query: ListQuery = {}): Promise<PageOf<Merchant>> {
    const limit = query.limit ?? 50;
    const after = query.cursor ? decodeIdCursor(query.cursor) : '00000000-0000-0000-0000-000000000000';
    const result = await this.db.query<MerchantRow>(
      'SELECT * FROM merchants_merchants WHERE id > $1 ORDER BY id LIMIT $2',
      [after, limit + 1],
    );
    const items = result.rows.slice(0, limit).map(merchantFromRow);
    return { items, nextCursor: result.rows.length > limit ? encodeIdCursor(items.at(-1)!.id) : null };
  }

  /** Suspending a suspended merchant (or reactivating an active one) is harmless. */
  async setStatus(id: string, status: MerchantStatus): Promise<Merchant> {
    if (!isUuid(id)) throw merchantNotFound(id);
    const result = await this.db.query<MerchantRow>(
      `UPDATE merchants_merchants SET status = $2, updated_at = CASE WHEN status = $2 THEN updated_at ELSE $3 END
        WHERE id = $1 RETURNING *`,
      [id, status, this.clock.now()],
    );
    if (!result.rows[0]) throw merchantNotFound(id);
    return merchantFromRow(result.rows[0]);
  }

  async balance(id: string): Promise<{ posted: bigint; available: bigint }> {
    const merchant = await this.get(id);
    const account = await this.ledger.getAccount(merchant.ledgerAccountId);
    return { posted: account.balances.posted, available: account.balances.available };
  }
}
