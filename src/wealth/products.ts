import { MilletError, derivedId, isUuid, newId, type Clock } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import type { Ledger } from '../ledger/index.ts';

/** Shares are booked in the ledger in this unit (one minor unit = 1/100 share, worth one fen). */
export const SHARE_UNIT = 'MMF';

export type ProductKind = 'money_fund' | 'fixed_term';

export interface Product {
  id: string;
  kind: ProductKind;
  code: string;
  name: string;
  /** Fixed-term only. */
  termDays: number | null;
  /** Fixed-term only: expected annual yield, 1/10,000 percent (3.2500% → 32500n). */
  expectedYield: bigint | null;
  /** Fixed-term only: the money fund the principal and interest roll into at maturity. */
  rollIntoProductId: string | null;
  createdAt: Date;
}

export interface CreateProductCommand {
  id?: string;
  kind: ProductKind;
  code: string;
  name: string;
  termDays?: number;
  expectedYield?: bigint;
  rollIntoProductId?: string;
}

/** The product's ledger accounts; ids derived from the product id. */
export interface ProductAccounts {
  /** CNY held for the product at the custodian bank (no overdraft). */
  custody: string;
  /** CNY: the product's investment returns, the outside world's side of income (unbounded). */
  income: string;
  /** Shares: the fund's side of every share created (unbounded; debit-normal). */
  sharesIssued: string;
  /** Shares: all holders' confirmed shares together (no overdraft); the register splits it. */
  holderShares: string;
}

export function productAccounts(productId: string): ProductAccounts {
  const id = (name: string) => derivedId('wealth.account', `${productId}:${name}`);
  return {
    custody: id('custody'),
    income: id('income'),
    sharesIssued: id('shares-issued'),
    holderShares: id('holder-shares'),
  };
}

interface ProductRow {
  id: string;
  kind: ProductKind;
  code: string;
  name: string;
  term_days: number | null;
  expected_yield: bigint | null;
  roll_into_product_id: string | null;
  created_at: Date;
}

const fromRow = (r: ProductRow): Product => ({
  id: r.id,
  kind: r.kind,
  code: r.code,
  name: r.name,
  termDays: r.term_days,
  expectedYield: r.expected_yield,
  rollIntoProductId: r.roll_into_product_id,
  createdAt: r.created_at,
});

/** 100% a year, in 1/10,000 percent. */
const MAX_EXPECTED_YIELD = 1_000_000n;

export async function createProduct(
  db: Queryable,
  ledger: Ledger,
  clock: Clock,
  command: CreateProductCommand,
): Promise<Product> {
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(command.code))
    throw new MilletError('VALIDATION_FAILED', 'code must be 1–32 letters, digits, _ or -', {
      field: 'code',
    });
  if (command.kind === 'fixed_term') {
    if (!command.termDays || command.termDays < 1 || command.expectedYield === undefined)
      throw new MilletError('VALIDATION_FAILED', 'a fixed-term product needs term_days and expected_yield', {
        field: 'term_days',
      });
    // Interest is paid from the product's income account at maturity; a negative yield would take
    // principal from the holder instead, which a fixed-term product does not promise.
    if (command.expectedYield < 0n || command.expectedYield > MAX_EXPECTED_YIELD)
      throw new MilletError(
        'VALIDATION_FAILED',
        'expected_yield must be between 0 and 100 (percent a year)',
        {
          field: 'expected_yield',
        },
      );
    const target = await getProduct(db, command.rollIntoProductId ?? '');
    if (target.kind !== 'money_fund')
      throw new MilletError('VALIDATION_FAILED', 'roll_into_product_id must be a money fund', {
        field: 'roll_into_product_id',
      });
  }
  const id = command.id ?? newId();
  const existing = await db.query<ProductRow>('SELECT * FROM wealth_products WHERE id = $1 OR code = $2', [
    id,
    command.code,
  ]);
  let row = existing.rows[0];
  if (!row) {
    const fixed = command.kind === 'fixed_term';
    const inserted = await db.query<ProductRow>(
      `INSERT INTO wealth_products (id, kind, code, name, term_days, expected_yield, roll_into_product_id, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING *`,
      [
        id,
        command.kind,
        command.code,
        command.name,
        fixed ? command.termDays : null,
        fixed ? command.expectedYield : null,
        fixed ? command.rollIntoProductId : null,
        clock.now(),
      ],
    );
    row =
      inserted.rows[0] ??
      (await db.query<ProductRow>('SELECT * FROM wealth_products WHERE code = $1', [command.code])).rows[0]!;
  }
  if (row.id !== id && command.id !== undefined)
    throw new MilletError('VALIDATION_FAILED', `product code ${command.code} is taken`, { field: 'code' });
  if (row.code !== command.code || row.kind !== command.kind)
    throw new MilletError('VALIDATION_FAILED', `product ${id} exists with other fields`, { field: 'id' });
  await openProductAccounts(ledger, row.id, row.kind);
  return fromRow(row);
}

/** Opening the same derived ids again returns the accounts, so this is safe to repeat. */
async function openProductAccounts(ledger: Ledger, productId: string, kind: ProductKind): Promise<void> {
  const accounts = productAccounts(productId);
  const metadata = { product_id: productId };
  await ledger.openAccount({
    id: accounts.custody,
    currency: 'CNY',
    code: 'wealth_custody',
    bound: { kind: 'no_overdraft' },
    metadata,
  });
  await ledger.openAccount({
    id: accounts.income,
    currency: 'CNY',
    code: 'wealth_income',
    bound: { kind: 'unbounded' },
    metadata,
  });
  if (kind !== 'money_fund') return;
  await ledger.openAccount({
    id: accounts.sharesIssued,
    currency: SHARE_UNIT,
    code: 'wealth_shares_issued',
    bound: { kind: 'unbounded' },
    metadata,
  });
  await ledger.openAccount({
    id: accounts.holderShares,
    currency: SHARE_UNIT,
    code: 'wealth_holder_shares',
    bound: { kind: 'no_overdraft' },
    metadata,
  });
}

export async function getProduct(db: Queryable, id: string): Promise<Product> {
  const result = isUuid(id)
    ? await db.query<ProductRow>('SELECT * FROM wealth_products WHERE id = $1', [id])
    : { rows: [] };
  const row = result.rows[0];
  if (!row) throw new MilletError('WEALTH_PRODUCT_NOT_FOUND', `No wealth product ${id}`, { productId: id });
  return fromRow(row);
}

export async function listProducts(db: Queryable): Promise<Product[]> {
  const result = await db.query<ProductRow>('SELECT * FROM wealth_products ORDER BY created_at, id');
  return result.rows.map(fromRow);
}
