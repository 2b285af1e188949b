import { newId } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';

/** Keys are remembered this long, as Stripe does; a later reuse starts afresh. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/**
 * A claim older than this with no response is taken to belong to a process that died mid-request,
 * so a retry may take it over. The ledger command id is derived from the key, so even a slow
 * original finishing late cannot post twice.
 */
export const IDEMPOTENCY_LEASE_MS = 60 * 1000;

export interface IdempotencyRequest {
  principal: string;
  key: string;
  fingerprint: string;
  method: string;
  path: string;
  now: Date;
  ttlMs?: number;
  leaseMs?: number;
}

export interface StoredResponse {
  status: number;
  contentType: string;
  body: string;
}

export type ClaimOutcome =
  | { kind: 'claimed'; claimToken: string }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'in_progress' }
  | { kind: 'mismatch'; method: string; path: string };

interface IdempotencyRow {
  fingerprint: string;
  method: string;
  path: string;
  claim_token: string;
  locked_at: Date;
  expires_at: Date;
  response_status: number | null;
  response_content_type: string | null;
  response_body: string | null;
}

/**
 * Claims (principal, key) for this request, or says why not. Each step is one autocommit
 * statement; the insert's primary key and the token compare-and-set decide races between
 * concurrent requests and processes.
 */
export async function claimIdempotencyKey(db: Queryable, request: IdempotencyRequest): Promise<ClaimOutcome> {
  const ttlMs = request.ttlMs ?? IDEMPOTENCY_TTL_MS;
  const leaseMs = request.leaseMs ?? IDEMPOTENCY_LEASE_MS;
  const expiresAt = new Date(request.now.getTime() + ttlMs);
  for (let attempt = 0; attempt < 3; attempt++) {
    const claimToken = newId();
    const inserted = await db.query(
      `INSERT INTO api_idempotency_keys
         (principal, idempotency_key, fingerprint, method, path, claim_token, locked_at, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
       ON CONFLICT (principal, idempotency_key) DO NOTHING`,
      [
        request.principal,
        request.key,
        request.fingerprint,
        request.method,
        request.path,
        claimToken,
        request.now,
        expiresAt,
      ],
    );
    if (inserted.rowCount > 0) return { kind: 'claimed', claimToken };

    const existing = await db.query<IdempotencyRow>(
      `SELECT fingerprint, method, path, claim_token, locked_at, expires_at,
              response_status, response_content_type, response_body
         FROM api_idempotency_keys WHERE principal = $1 AND idempotency_key = $2`,
      [request.principal, request.key],
    );
    const row = existing.rows[0];
    if (!row) continue; // cleaned up between the two statements
    const expired = row.expires_at.getTime() <= request.now.getTime();
    if (!expired) {
      if (row.fingerprint !== request.fingerprint)
        return { kind: 'mismatch', method: row.method, path: row.path };
      if (row.response_status !== null) {
        return {
          kind: 'replay',
          response: {
            status: row.response_status,
            contentType: row.response_content_type ?? 'application/json',
            body: row.response_body ?? '',
          },
        };
      }
      if (row.locked_at.getTime() > request.now.getTime() - leaseMs) return { kind: 'in_progress' };
    }
    const takenOver = await db.query(
      `UPDATE api_idempotency_keys
          SET fingerprint = $3, method = $4, path = $5, claim_token = $6, locked_at = $7, created_at = $7, expires_at = $8,
              response_status = NULL, response_content_type = NULL, response_body = NULL, completed_at = NULL
        WHERE principal = $1 AND idempotency_key = $2 AND claim_token = $9`,
      [
        request.principal,
        request.key,
        request.fingerprint,
        request.method,
        request.path,
        claimToken,
        request.now,
        expiresAt,
        row.claim_token,
      ],
    );
    if (takenOver.rowCount > 0) return { kind: 'claimed', claimToken };
  }
  return { kind: 'in_progress' };
}

/** Records the response of a claimed request, unless another request has since taken the key over. */
export async function completeIdempotencyKey(
  db: Queryable,
  claim: { principal: string; key: string; claimToken: string },
  response: StoredResponse,
  now: Date,
): Promise<void> {
  await db.query(
    `UPDATE api_idempotency_keys
        SET response_status = $4, response_content_type = $5, response_body = $6, completed_at = $7
      WHERE principal = $1 AND idempotency_key = $2 AND claim_token = $3`,
    [claim.principal, claim.key, claim.claimToken, response.status, response.contentType, response.body, now],
  );
}

/** Forgets a claim whose request failed on the server's side, so the client's retry runs afresh. */
export async function releaseIdempotencyKey(
  db: Queryable,
  claim: { principal: string; key: string; claimToken: string },
): Promise<void> {
  await db.query(
    'DELETE FROM api_idempotency_keys WHERE principal = $1 AND idempotency_key = $2 AND claim_token = $3',
    [claim.principal, claim.key, claim.claimToken],
  );
}

/** Deletes keys past their 24 hours, a bounded batch at a time; returns how many. Run by the jobs. */
export async function deleteExpiredIdempotencyKeys(
  db: Queryable,
  now: Date,
  limit = 10_000,
): Promise<number> {
  const result = await db.query(
    `DELETE FROM api_idempotency_keys
      WHERE (principal, idempotency_key) IN (
        SELECT principal, idempotency_key FROM api_idempotency_keys WHERE expires_at <= $1 LIMIT $2)`,
    [now, limit],
  );
  return result.rowCount;
}
