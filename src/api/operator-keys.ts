import { decodeIdCursor, encodeIdCursor, isUuid, MilletError, newId, type Clock } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import {
  displayParts,
  generateOperatorKey,
  hashOperatorKey,
  looksLikeOperatorKey,
} from './operator-key-secret.ts';

export const operatorScopes = [
  'ledger:read',
  'ledger:write',
  'operators:admin',
  'merchants:admin',
  'webhooks:admin',
  'credit:read',
  'wealth:admin',
  'paylater:admin',
  'lending:admin',
  'marketplace:admin',
  'store:admin',
] as const;
export type OperatorScope = (typeof operatorScopes)[number];

/** An operator API key as stored and listed: never the secret, only what identifies it to people. */
export interface OperatorKey {
  id: string;
  name: string;
  scopes: OperatorScope[];
  prefix: string;
  last4: string;
  createdAt: Date;
  createdBy: string | null;
  revokedAt: Date | null;
}

/** The one moment the plaintext exists outside the holder's hands. */
export interface CreatedOperatorKey {
  key: OperatorKey;
  plaintext: string;
}

export interface CreateOperatorKeyCommand {
  name: string;
  scopes: readonly OperatorScope[];
  createdBy?: string | null;
}

interface OperatorKeyRow {
  id: string;
  name: string;
  scopes: OperatorScope[];
  key_prefix: string;
  key_last4: string;
  created_at: Date;
  created_by: string | null;
  revoked_at: Date | null;
}

const columns = 'id, name, scopes, key_prefix, key_last4, created_at, created_by, revoked_at';

function keyFromRow(row: OperatorKeyRow): OperatorKey {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    prefix: row.key_prefix,
    last4: row.key_last4,
    createdAt: row.created_at,
    createdBy: row.created_by,
    revokedAt: row.revoked_at,
  };
}

/** Operator API keys: hashed at rest, shown once, scoped, revocable. */
export interface OperatorKeyStore {
  create(command: CreateOperatorKeyCommand): Promise<CreatedOperatorKey>;
  list(query?: {
    cursor?: string | undefined;
    limit?: number | undefined;
  }): Promise<{ items: OperatorKey[]; nextCursor: string | null }>;
  /** Revoking a revoked key returns it unchanged, so a retried revoke is harmless. */
  revoke(id: string): Promise<OperatorKey>;
  /** The active key with this plaintext, or undefined. */
  authenticate(plaintext: string): Promise<OperatorKey | undefined>;
  /** See {@link ensureBootstrapKey}. */
  ensureBootstrapKey(): Promise<CreatedOperatorKey | undefined>;
}

async function insertKey(
  db: Queryable,
  clock: Clock,
  command: CreateOperatorKeyCommand,
): Promise<CreatedOperatorKey> {
  const name = command.name.trim();
  if (name.length === 0 || name.length > 100) {
    throw new MilletError('VALIDATION_FAILED', 'name must be 1–100 characters', { field: 'name' });
  }
  const scopes = [...new Set(command.scopes)].sort();
  if (scopes.length === 0 || scopes.some((s) => !(operatorScopes as readonly string[]).includes(s))) {
    throw new MilletError('VALIDATION_FAILED', `scopes must be some of ${operatorScopes.join(', ')}`, {
      field: 'scopes',
    });
  }
  const plaintext = generateOperatorKey();
  const { prefix, last4 } = displayParts(plaintext);
  const result = await db.query<OperatorKeyRow>(
    `INSERT INTO api_operator_keys (id, name, key_hash, key_prefix, key_last4, scopes, created_at, created_by)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)
     RETURNING ${columns}`,
    [
      newId(),
      name,
      hashOperatorKey(plaintext),
      prefix,
      last4,
      JSON.stringify(scopes),
      clock.now(),
      command.createdBy ?? null,
    ],
  );
  return { key: keyFromRow(result.rows[0]!), plaintext };
}

/**
 * Creates an all-scopes key named "bootstrap" when no active key can administer keys, and returns
 * it with its plaintext (the only time it exists); returns undefined otherwise. The table lock
 * makes two processes starting together on one PostgreSQL create one key, not two.
 */
export function ensureBootstrapKey(db: Database, clock: Clock): Promise<CreatedOperatorKey | undefined> {
  return db.transaction(async (tx) => {
    await tx.query('LOCK TABLE api_operator_keys IN SHARE ROW EXCLUSIVE MODE');
    const admins = await tx.query(
      `SELECT 1 FROM api_operator_keys WHERE revoked_at IS NULL AND scopes ? 'operators:admin' LIMIT 1`,
    );
    if (admins.rows.length > 0) return undefined;
    return insertKey(tx, clock, { name: 'bootstrap', scopes: operatorScopes });
  });
}

export function createOperatorKeyStore(options: { db: Database; clock: Clock }): OperatorKeyStore {
  const { db, clock } = options;
  return {
    create: (command) => insertKey(db, clock, command),

    async list(query = {}) {
      const limit = query.limit ?? 50;
      const after = query.cursor ? decodeIdCursor(query.cursor) : '00000000-0000-0000-0000-000000000000';
      if (!isUuid(after))
        throw new MilletError('VALIDATION_FAILED', 'cursor is not one this API handed out', {
          field: 'cursor',
        });
      const result = await db.query<OperatorKeyRow>(
        `SELECT ${columns} FROM api_operator_keys WHERE id > $1 ORDER BY id LIMIT $2`,
        [after, limit + 1],
      );
      const items = result.rows.slice(0, limit).map(keyFromRow);
      return { items, nextCursor: result.rows.length > limit ? encodeIdCursor(items.at(-1)!.id) : null };
    },

    async revoke(id) {
      const notFound = () =>
        new MilletError('API_KEY_NOT_FOUND', `API key ${id} does not exist`, { apiKeyId: id });
      if (!isUuid(id)) throw notFound();
      const result = await db.query<OperatorKeyRow>(
        `UPDATE api_operator_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING ${columns}`,
        [id, clock.now()],
      );
      if (!result.rows[0]) throw notFound();
      return keyFromRow(result.rows[0]);
    },

    async authenticate(plaintext) {
      // Malformed tokens never reach the database.
      if (!looksLikeOperatorKey(plaintext)) return undefined;
      const result = await db.query<OperatorKeyRow>(
        `SELECT ${columns} FROM api_operator_keys WHERE key_hash = $1 AND revoked_at IS NULL`,
        [hashOperatorKey(plaintext)],
      );
      return result.rows[0] ? keyFromRow(result.rows[0]) : undefined;
    },

    ensureBootstrapKey: () => ensureBootstrapKey(db, clock),
  };
}
