import { newId } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import { batchEffect, type BatchEffect, type BatchHook, type EffectOutcome } from '../ledger/index.ts';

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

interface BatchedKey extends Omit<IdempotencyRequest, 'ttlMs' | 'leaseMs'> {
  ttlMs: number;
  respond: (outcome: EffectOutcome) => StoredResponse;
  /** Where the hook leaves the response it stored (the last run of the batch's transaction). */
  box: { response?: StoredResponse; outcome?: EffectOutcome };
}

interface BatchedKeys {
  existing: Set<string>;
  claimed: Set<string>;
  settled: Array<{ item: BatchedKey; outcome: EffectOutcome }>;
}

const keyOf = (principal: string, key: string) => `${principal}\u0000${key}`;

/** Raised when a key was claimed by another request while the batch ran: the batch runs again. */
class KeyClaimedMeanwhile extends Error {
  readonly code = '40001';
}

/**
 * The Idempotency-Key of a request whose whole work is one ledger command, claimed and completed
 * in that command's group-commit batch: the key row is written once, with its response, in the
 * transaction that does the work. A key already stored (a replay, a reuse with another body, a
 * request in flight, an expired record) or claimed by an earlier command of the same batch defers
 * the command, and the request takes the ordinary claim path, which says which of those it is. A
 * key claimed by another request while the batch runs makes the insert find it: the batch runs
 * again and defers it.
 */
const batchedKeysHook: BatchHook<BatchedKey, BatchedKeys> = {
  name: 'api.idempotency',
  async load(tx, items) {
    const rows = await tx.query<{ principal: string; idempotency_key: string }>(
      `SELECT principal, idempotency_key FROM api_idempotency_keys
        WHERE (principal, idempotency_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [items.map((i) => i.principal), items.map((i) => i.key)],
    );
    return {
      existing: new Set(rows.rows.map((r) => keyOf(r.principal, r.idempotency_key))),
      claimed: new Set(),
      settled: [],
    };
  },
  admit(state, item) {
    const k = keyOf(item.principal, item.key);
    if (state.existing.has(k) || state.claimed.has(k)) return 'defer';
    return {
      settle: (outcome) => {
        state.claimed.add(k);
        state.settled.push({ item, outcome });
      },
    };
  },
  async write(tx, state) {
    if (state.settled.length === 0) return;
    const rows = state.settled.map(({ item, outcome }) => {
      const response = item.respond(outcome);
      item.box.response = response;
      item.box.outcome = outcome;
      return { item, response };
    });
    const inserted = await tx.query(
      `INSERT INTO api_idempotency_keys
         (principal, idempotency_key, fingerprint, method, path, claim_token, locked_at, created_at, expires_at,
          response_status, response_content_type, response_body, completed_at)
       SELECT p, k, f, m, u, c, n, n, e, s, t, b, n
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::timestamptz[],
                     $8::timestamptz[], $9::int[], $10::text[], $11::text[]) AS v(p, k, f, m, u, c, n, e, s, t, b)
       ON CONFLICT (principal, idempotency_key) DO NOTHING`,
      [
        rows.map((r) => r.item.principal),
        rows.map((r) => r.item.key),
        rows.map((r) => r.item.fingerprint),
        rows.map((r) => r.item.method),
        rows.map((r) => r.item.path),
        rows.map(() => newId()),
        rows.map((r) => r.item.now),
        rows.map((r) => new Date(r.item.now.getTime() + r.item.ttlMs)),
        rows.map((r) => r.response.status),
        rows.map((r) => r.response.contentType),
        rows.map((r) => r.response.body),
      ],
    );
    if (inserted.rowCount < rows.length)
      throw new KeyClaimedMeanwhile('An idempotency key was claimed meanwhile');
  },
};

/**
 * A request's Idempotency-Key as a ledger batch effect (see `batchedKeysHook`). `respond` turns
 * the command's outcome into the response to store; after the command settles, `stored(result)`
 * gives that response when the batch committed it (the command succeeded, or was refused with the
 * error it rejected with), so the request sends exactly what a replay will send.
 */
export function batchedIdempotencyKey(request: Omit<IdempotencyRequest, 'leaseMs'>): {
  effect: (respond: (outcome: EffectOutcome) => StoredResponse) => BatchEffect;
  stored: (result: { ok: true } | { ok: false; error: unknown }) => StoredResponse | undefined;
} {
  const box: BatchedKey['box'] = {};
  return {
    effect: (respond) =>
      batchEffect(batchedKeysHook, {
        principal: request.principal,
        key: request.key,
        fingerprint: request.fingerprint,
        method: request.method,
        path: request.path,
        now: request.now,
        ttlMs: request.ttlMs ?? IDEMPOTENCY_TTL_MS,
        respond,
        box,
      }),
    stored: (result) => {
      const outcome = box.outcome;
      if (!outcome || !box.response) return undefined;
      if (result.ok) return outcome.ok ? box.response : undefined;
      return !outcome.ok && outcome.error === result.error ? box.response : undefined;
    },
  };
}
