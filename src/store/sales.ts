import { createHash, randomBytes } from 'node:crypto';
import { MilletError, newId, type Clock } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import { MAX_AMOUNT } from '../ledger/index.ts';
import { requireUuid, saleFromRow, type SaleRow } from './rows.ts';
import type { SaleRules } from './stock-engine.ts';
import type { PageOf, Presale, Sale } from './types.ts';

export interface CreateSaleCommand {
  id: string;
  skuId: string;
  name: string;
  price: bigint;
  allotment: number;
  perUserLimit: number;
  startsAt: Date;
  endsAt: Date;
  earlyAccessFrom?: Date | null | undefined;
  /** Default 3 seconds: attempts in the first seconds are shuffled. */
  admissionWindowMs?: number | undefined;
  /** A pre-sale: a deposit secures the unit, the balance is due at release. */
  presale?: Presale | null | undefined;
}

export const DEFAULT_ADMISSION_WINDOW_MS = 3_000;
class TwinSale extends Error {}
const FCODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

export function saleRulesOf(sale: Sale): SaleRules {
  return {
    saleId: sale.id,
    allotment: sale.allotment,
    perUserLimit: sale.perUserLimit,
    startsAt: sale.startsAt.getTime(),
    endsAt: sale.endsAt.getTime(),
    earlyAccessFrom: sale.earlyAccessFrom?.getTime() ?? null,
    admissionWindowMs: sale.admissionWindowMs,
  };
}

export function hashFcode(code: string): string {
  return createHash('sha256').update(code.trim().toUpperCase()).digest('hex');
}

function isOneCodePerAttemptViolation(error: unknown): boolean {
  const e = error as { code?: unknown; constraint?: unknown; message?: unknown } | null;
  return (
    e?.code === '23505' &&
    [e.constraint, e.message].some(
      (part) => typeof part === 'string' && part.includes('store_fcodes_one_per_attempt'),
    )
  );
}

/** Flash sales, their F-codes and registrations. Sales are cached: the attempt path reads no SQL. */
export class Sales {
  readonly #cache = new Map<string, Sale>();
  /**
   * Per sale, user → the account's creation time, for registered users. Read on every attempt: two
   * lookups by the ids as they come, not one by a key concatenated per attempt.
   */
  readonly #registered = new Map<string, Map<string, Date>>();
  readonly #notRegistered = new Map<string, number>();

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async create(command: CreateSaleCommand, onCreated: (sale: Sale) => Promise<void>): Promise<Sale> {
    requireUuid(command.id, 'id');
    requireUuid(command.skuId, 'sku_id');
    const window = command.admissionWindowMs ?? DEFAULT_ADMISSION_WINDOW_MS;
    const checks: Array<[boolean, string, string]> = [
      [command.name.trim().length > 0 && command.name.length <= 200, 'name', 'name must be 1–200 characters'],
      [
        Number.isSafeInteger(command.allotment) && command.allotment > 0,
        'allotment',
        'allotment must be ≥ 1',
      ],
      [
        Number.isInteger(command.perUserLimit) && command.perUserLimit > 0 && command.perUserLimit <= 100,
        'per_user_limit',
        'per_user_limit must be 1–100',
      ],
      [command.endsAt > command.startsAt, 'ends_at', 'ends_at must be after starts_at'],
      [
        !command.earlyAccessFrom || command.earlyAccessFrom < command.startsAt,
        'early_access_from',
        'early_access_from must be before starts_at',
      ],
      [
        Number.isInteger(window) && window >= 0 && window <= 60_000,
        'admission_window_ms',
        'admission_window_ms must be 0–60000',
      ],
    ];
    for (const [ok, field, message] of checks)
      if (!ok) throw new MilletError('VALIDATION_FAILED', message, { field });
    if (command.price <= 0n)
      throw new MilletError('AMOUNT_INVALID', 'price must be positive', { field: 'price' });
    // An order is the price times up to the per-user limit, and is paid (its deposit held) in one
    // ledger amount: above the ledger's maximum, every buyer of the most units won a reservation
    // no payment could settle.
    if (command.price * BigInt(command.perUserLimit) > MAX_AMOUNT)
      throw new MilletError(
        'AMOUNT_INVALID',
        `price × per_user_limit must be at most ${MAX_AMOUNT} (one order is paid in one amount)`,
        { field: 'price' },
      );
    const presale = command.presale ?? null;
    if (presale) {
      if (presale.deposit <= 0n || presale.deposit >= command.price)
        throw new MilletError('AMOUNT_INVALID', 'deposit must be positive and below the price', {
          field: 'deposit',
        });
      if (presale.balanceFrom < command.startsAt || presale.balanceDueBy <= presale.balanceFrom)
        throw new MilletError(
          'VALIDATION_FAILED',
          'balance_from must be at or after starts_at, and balance_due_by after balance_from',
          { field: 'balance_due_by' },
        );
      // A buyer who wins after the balance deadline could only put down a deposit to lose it.
      if (presale.balanceDueBy <= command.endsAt)
        throw new MilletError('VALIDATION_FAILED', 'balance_due_by must be after ends_at', {
          field: 'balance_due_by',
        });
    }
    const existing = await this.find(command.id);
    if (existing) return existing;
    // A sale over before it is created would take its allotment out of the SKU's stock for good.
    if (command.endsAt <= this.clock.now())
      throw new MilletError('VALIDATION_FAILED', 'ends_at must be in the future', { field: 'ends_at' });
    let sale: Sale;
    try {
      sale = await this.db.transaction(async (tx) => {
        // The allotment leaves the SKU's ordinary stock for the sale.
        const taken = await tx.query(
          'UPDATE store_skus SET stock = stock - $2, updated_at = $3 WHERE id = $1 AND stock >= $2',
          [command.skuId, command.allotment, this.clock.now()],
        );
        if (taken.rowCount === 0) {
          const sku = await tx.query<{ stock: bigint }>('SELECT stock FROM store_skus WHERE id = $1', [
            command.skuId,
          ]);
          if (!sku.rows[0])
            throw new MilletError('STORE_SKU_NOT_FOUND', `No SKU ${command.skuId}`, { id: command.skuId });
          throw new MilletError(
            'STORE_STOCK_INSUFFICIENT',
            `SKU ${command.skuId} has ${sku.rows[0].stock} units`,
            {
              id: command.skuId,
              stock: sku.rows[0].stock.toString(),
            },
          );
        }
        const r = await tx.query<SaleRow>(
          `INSERT INTO store_sales (id, sku_id, name, price, allotment, per_user_limit, starts_at, ends_at,
           early_access_from, admission_window_ms, created_at, deposit, balance_from, balance_due_by, unpaid_deposit)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (id) DO NOTHING RETURNING *`,
          [
            command.id,
            command.skuId,
            command.name.trim(),
            command.price,
            command.allotment,
            command.perUserLimit,
            command.startsAt,
            command.endsAt,
            command.earlyAccessFrom ?? null,
            window,
            this.clock.now(),
            presale?.deposit ?? null,
            presale?.balanceFrom ?? null,
            presale?.balanceDueBy ?? null,
            presale?.unpaidDeposit ?? null,
          ],
        );
        // A twin of this command (the same id) was inserted first: this one's stock decrement rolls
        // back, and the twin's sale is the answer. Before, the primary-key violation was a 500.
        if (!r.rows[0]) throw new TwinSale();
        return saleFromRow(r.rows[0]);
      });
    } catch (error) {
      if (error instanceof TwinSale) return (await this.find(command.id))!;
      throw error;
    }
    this.#cache.set(sale.id, sale);
    await onCreated(sale);
    return sale;
  }

  async find(id: string, tx: Queryable = this.db): Promise<Sale | undefined> {
    const r = await tx.query<SaleRow>('SELECT * FROM store_sales WHERE id = $1', [id]);
    return r.rows[0] ? saleFromRow(r.rows[0]) : undefined;
  }

  async get(id: string): Promise<Sale> {
    requireUuid(id, 'id');
    const sale = await this.find(id);
    if (!sale) throw new MilletError('STORE_SALE_NOT_FOUND', `No sale ${id}`, { id });
    return sale;
  }

  /** The cached sale (rules never change after creation), loaded once per process. */
  async cached(id: string): Promise<Sale> {
    const hit = this.#cache.get(id);
    if (hit) return hit;
    const sale = await this.get(id);
    this.#cache.set(id, sale);
    return sale;
  }

  cachedNow(id: string): Sale | undefined {
    return this.#cache.get(id);
  }

  async list(query: { after?: string; limit: number }): Promise<PageOf<Sale>> {
    const rows = await this.db.query<SaleRow>(
      'SELECT * FROM store_sales WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2',
      [query.after ?? null, query.limit + 1],
    );
    const items = rows.rows.slice(0, query.limit).map(saleFromRow);
    return { items, nextCursor: rows.rows.length > query.limit ? items.at(-1)!.id : null };
  }

  /** Sales on now or still to come, soonest first: what a shopper can buy or wait for. */
  async current(now: Date, limit: number): Promise<Sale[]> {
    const rows = await this.db.query<SaleRow>(
      'SELECT * FROM store_sales WHERE ends_at > $1 ORDER BY starts_at, id LIMIT $2',
      [now, limit],
    );
    return rows.rows.map(saleFromRow);
  }

  /** Sales not yet ended (or ended within the reservation time), for the engine and the loops. */
  async live(now: Date): Promise<Sale[]> {
    const rows = await this.db.query<SaleRow>(
      `SELECT * FROM store_sales WHERE ends_at > $1::timestamptz - interval '1 day' ORDER BY starts_at`,
      [now],
    );
    const sales = rows.rows.map(saleFromRow);
    for (const s of sales) this.#cache.set(s.id, s);
    return sales;
  }

  // --- registrations -------------------------------------------------------------------------

  /** Registers users for a sale (booking ahead). Idempotent. */
  async register(
    saleId: string,
    users: ReadonlyArray<{ userId: string; accountCreatedAt: Date }>,
  ): Promise<void> {
    const sale = await this.cached(saleId);
    if (this.clock.now() >= sale.endsAt)
      throw new MilletError('STORE_ATTEMPT_REJECTED', 'The sale has ended', { reason: 'ended' });
    // Remembered under the stored id, which the attempt path looks up: under an upper-case id from
    // the URL, a miss remembered before the registration kept refusing the user as not registered.
    saleId = sale.id;
    const now = this.clock.now();
    for (let i = 0; i < users.length; i += 5_000) {
      const chunk = users.slice(i, i + 5_000);
      await this.db.query(
        `INSERT INTO store_registrations (sale_id, user_id, account_created_at, registered_at)
         SELECT $1, u, c, $4 FROM unnest($2::uuid[], $3::timestamptz[]) AS t(u, c)
         ON CONFLICT DO NOTHING`,
        [saleId, chunk.map((u) => u.userId), chunk.map((u) => u.accountCreatedAt), now],
      );
    }
    for (const u of users) {
      this.#registeredIn(saleId).set(u.userId, u.accountCreatedAt);
      this.#notRegistered.delete(`${saleId}:${u.userId}`);
    }
  }

  #registeredIn(saleId: string): Map<string, Date> {
    let users = this.#registered.get(saleId);
    if (!users) this.#registered.set(saleId, (users = new Map()));
    return users;
  }

  /**
   * The registered user's account creation time, or undefined if not registered: from memory, or
   * one primary-key read the first time this process sees the user (then remembered; a miss is
   * remembered for two seconds so a flood of unregistered attempts cannot reach the database).
   */
  async registration(saleId: string, userId: string): Promise<Date | undefined> {
    const hit = this.#registered.get(saleId)?.get(userId);
    if (hit) return hit;
    const key = `${saleId}:${userId}`;
    const missAt = this.#notRegistered.get(key);
    const now = Date.now();
    if (missAt !== undefined && now - missAt < 2_000) return undefined;
    const r = await this.db.query<{ account_created_at: Date }>(
      'SELECT account_created_at FROM store_registrations WHERE sale_id = $1 AND user_id = $2',
      [saleId, userId],
    );
    const found = r.rows[0]?.account_created_at;
    if (found) this.#registeredIn(saleId).set(userId, found);
    else this.#notRegistered.set(key, now);
    return found;
  }

  // --- F-codes -------------------------------------------------------------------------------

  /**
   * Generates `count` single-use F-codes for a sale; the plaintext exists only in this answer. A
   * batch may expire (`expiresAt`) before the sale ends; without it a code is good for the whole
   * sale, as before.
   */
  async generateFcodes(
    saleId: string,
    count: number,
    options: { expiresAt?: Date | null | undefined } = {},
  ): Promise<{ batchId: string; codes: string[]; expiresAt: Date | null }> {
    await this.get(saleId);
    if (!Number.isInteger(count) || count < 1 || count > 10_000)
      throw new MilletError('VALIDATION_FAILED', 'count must be 1–10000', { field: 'count' });
    const expiresAt = options.expiresAt ?? null;
    // A batch expired when made could buy nothing.
    if (expiresAt && (Number.isNaN(expiresAt.getTime()) || expiresAt <= this.clock.now()))
      throw new MilletError('VALIDATION_FAILED', 'expires_at must be in the future', {
        field: 'expires_at',
      });
    const codes = Array.from({ length: count }, () => {
      const bytes = randomBytes(12);
      return `F${Array.from(bytes, (b) => FCODE_ALPHABET[b % 32]).join('')}`;
    });
    const batchId = newId();
    await this.db.query(
      `INSERT INTO store_fcodes (code_hash, sale_id, batch_id, created_at, expires_at)
       SELECT h, $2, $3, $4, $5 FROM unnest($1::text[]) AS t(h)`,
      [codes.map(hashFcode), saleId, batchId, this.clock.now(), expiresAt],
    );
    return { batchId, codes, expiresAt };
  }

  /**
   * Spends an F-code on an attempt with one conditional update, so a code is used once even when
   * two users race for it. The code is the attempt's from then on: its retries may use it again
   * (even once the batch has expired: the attempt was made in time), any other attempt (the same
   * user's too) hears STORE_FCODE_USED. An unspent code past its batch's expiry is
   * STORE_FCODE_EXPIRED.
   */
  async spendFcode(saleId: string, code: string, userId: string, attemptId: string): Promise<void> {
    const hash = hashFcode(code);
    const now = this.clock.now();
    // An attempt holds one code: a retry of it carrying another code (the buyer had two) spent
    // that one too, for good — the retry is the same reservation, so nothing gave it back and the
    // code's owner heard STORE_FCODE_USED. The attempt's own code already lets it in.
    // Two first tries of the attempt at once, with two codes, both see none held (read committed):
    // the unique index (migration 0010) refuses the second spend, which then finds the first's.
    let spent = 0;
    try {
      const r = await this.db.query(
        `WITH held AS (SELECT 1 FROM store_fcodes
                       WHERE sale_id = $2 AND used_attempt_id = $5 AND code_hash <> $1)
         UPDATE store_fcodes SET used_by = $3, used_attempt_id = $5, used_at = $4
         WHERE code_hash = $1 AND sale_id = $2 AND NOT EXISTS (SELECT 1 FROM held)
           AND ((used_by IS NULL AND (expires_at IS NULL OR expires_at > $4))
                OR (used_by = $3 AND used_attempt_id = $5))`,
        [hash, saleId, userId, now, attemptId],
      );
      spent = r.rowCount ?? 0;
    } catch (error) {
      if (!isOneCodePerAttemptViolation(error)) throw error;
    }
    if (spent === 1) return;
    const held = await this.db.query(
      'SELECT 1 FROM store_fcodes WHERE sale_id = $1 AND used_attempt_id = $2 LIMIT 1',
      [saleId, attemptId],
    );
    if (held.rowCount === 1) return;
    const found = await this.db.query<{ sale_id: string; used_by: string | null; expires_at: Date | null }>(
      'SELECT sale_id, used_by, expires_at FROM store_fcodes WHERE code_hash = $1',
      [hash],
    );
    const f = found.rows[0];
    if (f?.sale_id === saleId) {
      if (f.used_by === null && f.expires_at && f.expires_at <= now)
        throw new MilletError('STORE_FCODE_EXPIRED', `This F-code expired at ${f.expires_at.toISOString()}`, {
          expiresAt: f.expires_at.toISOString(),
        });
      throw new MilletError('STORE_FCODE_USED', 'This F-code has been used');
    }
    throw new MilletError('STORE_FCODE_INVALID', 'This is not an F-code for this sale');
  }

  /**
   * Gives back the F-codes spent on these attempts, which the admission lobby refused (one
   * statement for a drain's refusals; attempts that spent no code match nothing).
   */
  async releaseFcodes(saleId: string, attemptIds: readonly string[]): Promise<number> {
    if (attemptIds.length === 0) return 0;
    const r = await this.db.query(
      `UPDATE store_fcodes SET used_by = NULL, used_attempt_id = NULL, used_at = NULL
       WHERE sale_id = $1 AND used_attempt_id = ANY($2::uuid[])`,
      [saleId, attemptIds],
    );
    return r.rowCount ?? 0;
  }

  /** The attempts holding a sale's F-codes spent before `spentBefore`, for reconciliation. */
  async fcodeAttempts(
    saleId: string,
    spentBefore: Date,
  ): Promise<Array<{ userId: string; attemptId: string }>> {
    const r = await this.db.query<{ used_by: string; used_attempt_id: string }>(
      `SELECT used_by, used_attempt_id FROM store_fcodes
       WHERE sale_id = $1 AND used_attempt_id IS NOT NULL AND used_at < $2`,
      [saleId, spentBefore],
    );
    return r.rows.map((x) => ({ userId: x.used_by, attemptId: x.used_attempt_id }));
  }

  /** Gives an F-code back when the attempt it was spent on did not win. */
  async unspendFcode(saleId: string, code: string, attemptId: string): Promise<void> {
    await this.db.query(
      `UPDATE store_fcodes SET used_by = NULL, used_attempt_id = NULL, used_at = NULL
       WHERE code_hash = $1 AND sale_id = $2 AND used_attempt_id = $3`,
      [hashFcode(code), saleId, attemptId],
    );
  }
}
