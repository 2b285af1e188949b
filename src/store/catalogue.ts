import { MilletError, type Clock } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import { productFromRow, requireUuid, skuFromRow, type ProductRow, type SkuRow } from './rows.ts';
import type { PageOf, Product, Sku } from './types.ts';

/** Products and their SKUs (price and stock): the operator's catalogue. */
export class Catalogue {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async createProduct(command: { id: string; name: string; description?: string }): Promise<Product> {
    requireUuid(command.id, 'id');
    const name = command.name.trim();
    if (!name || name.length > 200)
      throw new MilletError('VALIDATION_FAILED', 'name must be 1–200 characters', { field: 'name' });
    const inserted = await this.db.query<ProductRow>(
      `INSERT INTO store_products (id, name, description, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO NOTHING RETURNING *`,
      [command.id, name, command.description ?? '', this.clock.now()],
    );
    return productFromRow(inserted.rows[0] ?? (await this.#productRow(command.id)));
  }

  async #productRow(id: string): Promise<ProductRow> {
    const r = await this.db.query<ProductRow>('SELECT * FROM store_products WHERE id = $1', [id]);
    if (!r.rows[0]) throw new MilletError('STORE_PRODUCT_NOT_FOUND', `No product ${id}`, { id });
    return r.rows[0];
  }

  async getProduct(id: string): Promise<Product> {
    requireUuid(id, 'id');
    return productFromRow(await this.#productRow(id));
  }

  async listProducts(query: { after?: string; limit: number }): Promise<PageOf<Product>> {
    const rows = await this.db.query<ProductRow>(
      'SELECT * FROM store_products WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2',
      [query.after ?? null, query.limit + 1],
    );
    const items = rows.rows.slice(0, query.limit).map(productFromRow);
    return { items, nextCursor: rows.rows.length > query.limit ? items.at(-1)!.id : null };
  }

  async createSku(command: {
    id: string;
    productId: string;
    code: string;
    name: string;
    price: bigint;
    stock: bigint;
  }): Promise<Sku> {
    requireUuid(command.id, 'id');
    await this.#productRow(command.productId);
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(command.code))
      throw new MilletError('VALIDATION_FAILED', 'code must be 1–64 letters, digits, _ or -', {
        field: 'code',
      });
    if (command.price <= 0n)
      throw new MilletError('AMOUNT_INVALID', 'price must be positive', { field: 'price' });
    if (command.stock < 0n)
      throw new MilletError('VALIDATION_FAILED', 'stock must be ≥ 0', { field: 'stock' });
    const now = this.clock.now();
    // ON CONFLICT DO NOTHING covers both the id (a retry) and the code (another SKU's).
    const inserted = await this.db.query<SkuRow>(
      `INSERT INTO store_skus (id, product_id, code, name, price, stock, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT DO NOTHING RETURNING *`,
      [command.id, command.productId, command.code, command.name.trim(), command.price, command.stock, now],
    );
    if (inserted.rows[0]) return skuFromRow(inserted.rows[0]);
    const existing = await this.db.query<SkuRow>('SELECT * FROM store_skus WHERE id = $1', [command.id]);
    if (existing.rows[0]) return skuFromRow(existing.rows[0]);
    throw new MilletError('STORE_SKU_CODE_TAKEN', `SKU code ${command.code} is taken`, {
      code: command.code,
    });
  }

  async skuRow(id: string, tx: Pick<Database, 'query'> = this.db): Promise<SkuRow> {
    const r = await tx.query<SkuRow>('SELECT * FROM store_skus WHERE id = $1', [id]);
    if (!r.rows[0]) throw new MilletError('STORE_SKU_NOT_FOUND', `No SKU ${id}`, { id });
    return r.rows[0];
  }

  async getSku(id: string): Promise<Sku> {
    requireUuid(id, 'id');
    return skuFromRow(await this.skuRow(id));
  }

  async listSkus(productId: string): Promise<Sku[]> {
    requireUuid(productId, 'id');
    await this.#productRow(productId);
    const rows = await this.db.query<SkuRow>('SELECT * FROM store_skus WHERE product_id = $1 ORDER BY code', [
      productId,
    ]);
    return rows.rows.map(skuFromRow);
  }

  /** Sets a SKU's price and/or adds to (or, negative, takes from) its stock. */
  async updateSku(id: string, change: { price?: bigint; stockDelta?: bigint }): Promise<Sku> {
    requireUuid(id, 'id');
    if (change.price !== undefined && change.price <= 0n)
      throw new MilletError('AMOUNT_INVALID', 'price must be positive', { field: 'price' });
    const r = await this.db.query<SkuRow>(
      `UPDATE store_skus SET price = COALESCE($2, price), stock = stock + $3, updated_at = $4
       WHERE id = $1 AND stock + $3 >= 0 RETURNING *`,
      [id, change.price ?? null, change.stockDelta ?? 0n, this.clock.now()],
    );
    if (r.rows[0]) return skuFromRow(r.rows[0]);
    const sku = await this.skuRow(id);
    throw new MilletError('STORE_STOCK_INSUFFICIENT', `SKU ${id} has ${sku.stock} units`, {
      id,
      stock: sku.stock.toString(),
    });
  }
}
