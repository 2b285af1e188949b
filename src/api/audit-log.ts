import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { decodeIdCursor, encodeIdCursor, isUuid, MilletError, newId, type Clock } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import { IDEMPOTENT_REPLAYED_HEADER } from './idempotency-hooks.ts';
import { buildProblem, PROBLEM_CONTENT_TYPE } from './problem.ts';
import './request-context.ts';
import { addRouteHook } from './route-hooks.ts';

export type AuditActorKind = 'operator' | 'merchant' | 'partner';

/** One audited request: who (the key or partner), what (route and its ids), when, and the outcome. */
export interface AuditEntry {
  id: string;
  occurredAt: Date;
  actorKind: AuditActorKind;
  actorId: string;
  actorName: string | null;
  method: string;
  /** The route's pattern, e.g. `POST /v1/operator/merchants/:id/status` reads as `route` `/v1/operator/merchants/:id/status`. */
  route: string;
  path: string;
  params: Record<string, string>;
  /** The record the answer was about (its `id`), else the one the path named. */
  resourceId: string | null;
  status: number;
  /** An idempotent retry answered with the stored response: the action itself ran once. */
  replayed: boolean;
  requestId: string;
}

export interface AuditLog {
  /** Newest first. */
  list(query?: {
    actorKind?: AuditActorKind | undefined;
    actorId?: string | undefined;
    cursor?: string | undefined;
    limit?: number | undefined;
  }): Promise<{ items: AuditEntry[]; nextCursor: string | null }>;
}

interface AuditRow {
  id: string;
  occurred_at: Date;
  actor_kind: AuditActorKind;
  actor_id: string;
  actor_name: string | null;
  method: string;
  route: string;
  path: string;
  params: Record<string, string>;
  resource_id: string | null;
  status: number;
  replayed: boolean;
  request_id: string;
}

const entryFromRow = (row: AuditRow): AuditEntry => ({
  id: row.id,
  occurredAt: row.occurred_at,
  actorKind: row.actor_kind,
  actorId: row.actor_id,
  actorName: row.actor_name,
  method: row.method,
  route: row.route,
  path: row.path,
  params: row.params,
  resourceId: row.resource_id,
  status: row.status,
  replayed: row.replayed,
  requestId: row.request_id,
});

/** Reads only: the log is written by the hooks below and never changed (the table refuses it too). */
export function createAuditLog(db: Database): AuditLog {
  return {
    async list(query = {}) {
      const limit = query.limit ?? 50;
      const before = query.cursor ? decodeIdCursor(query.cursor) : 'ffffffff-ffff-ffff-ffff-ffffffffffff';
      if (!isUuid(before))
        throw new MilletError('VALIDATION_FAILED', 'cursor is not one this API handed out', {
          field: 'cursor',
        });
      const result = await db.query<AuditRow>(
        `SELECT * FROM api_audit_log
         WHERE id < $1 AND ($2::text IS NULL OR actor_kind = $2) AND ($3::text IS NULL OR actor_id = $3)
         ORDER BY id DESC LIMIT $4`,
        [before, query.actorKind ?? null, query.actorId ?? null, limit + 1],
      );
      const items = result.rows.slice(0, limit).map(entryFromRow);
      return { items, nextCursor: result.rows.length > limit ? encodeIdCursor(items.at(-1)!.id) : null };
    },
  };
}

const changesState = (route: RouteOptions): boolean =>
  [route.method].flat().some((method) => method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS');

const isPartnerCallback = (route: RouteOptions): boolean =>
  route.url.includes('/marketplace/partner-callbacks/');

function actorOf(
  request: FastifyRequest,
  reply: FastifyReply,
): { kind: AuditActorKind; id: string; name: string | null } | null {
  if (request.operator) return { kind: 'operator', id: request.operator.id, name: request.operator.name };
  if (request.merchant)
    return { kind: 'merchant', id: request.merchant.merchantId, name: `key ${request.merchant.keyId}` };
  // A callback is the partner's only once its signature verified, which an answer below 400 shows;
  // anyone can post a forged one, and those are not the partner's actions.
  const partnerId = (request.params as Record<string, string> | undefined)?.id;
  if (isPartnerCallback(request.routeOptions as RouteOptions) && reply.statusCode < 400 && partnerId)
    return { kind: 'partner', id: partnerId, name: null };
  return null;
}

function createdId(payload: unknown): string | null {
  if (typeof payload !== 'string' || !payload.startsWith('{')) return null;
  try {
    const id = (JSON.parse(payload) as { id?: unknown }).id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

/**
 * Records every authenticated operator and merchant request that can change state, and every
 * partner callback that verified, refused or not: an attempt is part of who did what. Written
 * before the answer leaves; if the write fails the request answers 500 rather than go unrecorded,
 * and its retry under the same Idempotency-Key replays the stored answer and is recorded then.
 * Install after the idempotency hooks, so they have stored the answer first.
 */
export function installAuditLog(app: FastifyInstance, options: { db: Database; clock: Clock }): void {
  const { db, clock } = options;
  addRouteHook(
    app,
    'onSend',
    (route) =>
      changesState(route) &&
      Boolean(route.config?.scope || route.config?.merchantAuth || isPartnerCallback(route)),
    async (request, reply, payload) => {
      const actor = actorOf(request, reply);
      if (!actor) return payload;
      const params = { ...((request.params as Record<string, string> | undefined) ?? {}) };
      const resourceId = (reply.statusCode < 300 ? createdId(payload) : null) ?? params.id ?? null;
      try {
        await db.query(
          `INSERT INTO api_audit_log (id, occurred_at, actor_kind, actor_id, actor_name, method, route, path,
           params, resource_id, status, replayed, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13)`,
          [
            newId(),
            clock.now(),
            actor.kind,
            actor.id,
            actor.name,
            request.method,
            request.routeOptions.url ?? request.url,
            request.url.split('?')[0],
            JSON.stringify(params),
            resourceId,
            reply.statusCode,
            reply.getHeader(IDEMPOTENT_REPLAYED_HEADER) === 'true',
            request.id,
          ],
        );
      } catch (error) {
        // Thrown from onSend, the error would answer with Fastify's own JSON naming the database's
        // message; this answers as every other 500 does.
        request.log.error({ err: error }, 'could not write the audit log entry');
        reply.code(500).type(PROBLEM_CONTENT_TYPE);
        return JSON.stringify(
          buildProblem({
            code: 'INTERNAL',
            detail: `The action could not be recorded in the audit log. It has been logged with request id ${request.id}; retry with the same Idempotency-Key.`,
            instance: request.url.split('?')[0]!,
            requestId: request.id,
          }),
        );
      }
      return payload;
    },
  );
}
