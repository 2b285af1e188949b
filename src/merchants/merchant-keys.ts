import {
  MilletError,
  apiKeyDisplayParts,
  generateApiKey,
  hashApiKey,
  isUuid,
  looksLikeApiKey,
  newId,
  type Clock,
} from '../core/index.ts';
import type { Database } from '../db/index.ts';
import { loadMerchant } from './merchant-directory.ts';
import { merchantScopes, type AuthenticatedMerchant, type MerchantKey, type MerchantScope } from './types.ts';

/** Every merchant key starts with this, so secret scanners and people can tell what leaked. */
export const MERCHANT_KEY_PREFIX = 'mlt_mk_';

export const generateMerchantKey = (): string => generateApiKey(MERCHANT_KEY_PREFIX);

export const hashMerchantKey = hashApiKey;

interface KeyRow {
  id: string;
  merchant_id: string;
  name: string;
  scopes: MerchantScope[];
  key_prefix: string;
  key_last4: string;
  created_at: Date;
  created_by: string | null;
  revoked_at: Date | null;
}

const columns = 'id, merchant_id, name, scopes, key_prefix, key_last4, created_at, created_by, revoked_at';

function keyFromRow(row: KeyRow): MerchantKey {
  return {
    id: row.id,
    merchantId: row.merchant_id,
    name: row.name,
    scopes: row.scopes,
    prefix: row.key_prefix,
    last4: row.key_last4,
    createdAt: row.created_at,
    createdBy: row.created_by,
    revokedAt: row.revoked_at,
  };
}

/** Merchant API keys: hashed at rest, shown once, scoped, revocable, bound to one merchant. */
export class MerchantKeys {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async create(command: {
    merchantId: string;
    name: string;
    scopes: readonly MerchantScope[];
    createdBy?: string | null;
  }): Promise<{ key: MerchantKey; plaintext: string }> {
    await loadMerchant(this.db, command.merchantId);
    const name = command.name.trim();
    if (name.length === 0 || name.length > 100)
      throw new MilletError('VALIDATION_FAILED', 'name must be 1–100 characters', { field: 'name' });
    const scopes = [...new Set(command.scopes)].sort();
    if (scopes.length === 0 || scopes.some((s) => !(merchantScopes as readonly string[]).includes(s)))
      throw new MilletError('VALIDATION_FAILED', `scopes must be some of ${merchantScopes.join(', ')}`, {
        field: 'scopes',
      });
    const plaintext = generateMerchantKey();
    const display = apiKeyDisplayParts(plaintext, MERCHANT_KEY_PREFIX);
    const result = await this.db.query<KeyRow>(
      `INSERT INTO merchants_api_keys (id, merchant_id, name, key_hash, key_prefix, key_last4, scopes, created_at, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9) RETURNING ${columns}`,
      [
        newId(),
        command.merchantId,
        name,
        hashMerchantKey(plaintext),
        display.prefix,
        display.last4,
        JSON.stringify(scopes),
        this.clock.now(),
        command.createdBy ?? null,
      ],
    );
    return { key: keyFromRow(result.rows[0]!), plaintext };
  }

  async list(merchantId: string): Promise<MerchantKey[]> {
    await loadMerchant(this.db, merchantId);
    const result = await this.db.query<KeyRow>(
      `SELECT ${columns} FROM merchants_api_keys WHERE merchant_id = $1 ORDER BY id`,
      [merchantId],
    );
    return result.rows.map(keyFromRow);
  }

  /** Revoking a revoked key returns it unchanged, so a retried revoke is harmless. */
  async revoke(merchantId: string, keyId: string): Promise<MerchantKey> {
    const notFound = () =>
      new MilletError('API_KEY_NOT_FOUND', `Merchant API key ${keyId} does not exist`, { apiKeyId: keyId });
    if (!isUuid(keyId) || !isUuid(merchantId)) throw notFound();
    const result = await this.db.query<KeyRow>(
      `UPDATE merchants_api_keys SET revoked_at = coalesce(revoked_at, $3)
        WHERE id = $1 AND merchant_id = $2 RETURNING ${columns}`,
      [keyId, merchantId, this.clock.now()],
    );
    if (!result.rows[0]) throw notFound();
    return keyFromRow(result.rows[0]);
  }

  /** The merchant an active key speaks for, or undefined. Malformed tokens never reach the database. */
  async authenticate(plaintext: string): Promise<AuthenticatedMerchant | undefined> {
    if (!looksLikeApiKey(plaintext, MERCHANT_KEY_PREFIX)) return undefined;
    const result = await this.db.query<KeyRow>(
      `SELECT ${columns} FROM merchants_api_keys WHERE key_hash = $1 AND revoked_at IS NULL`,
      [hashMerchantKey(plaintext)],
    );
    const row = result.rows[0];
    return row ? { merchantId: row.merchant_id, keyId: row.id, scopes: row.scopes } : undefined;
  }
}
