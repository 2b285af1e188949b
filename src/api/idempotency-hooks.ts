import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { MilletError, canonicalJson, derivedId, isMilletError, type Clock } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import {
  batchedIdempotencyKey,
  claimIdempotencyKey,
  completeIdempotencyKey,
  releaseIdempotencyKey,
  type StoredResponse,
} from './idempotency-store.ts';
import type { ZodType } from 'zod';
import type { EffectOutcome } from '../ledger/index.ts';
import { problemFor } from './error-handler.ts';
import { PROBLEM_CONTENT_TYPE } from './problem.ts';
import './request-context.ts';
import { addRouteHook, isPost } from './route-hooks.ts';

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
export const IDEMPOTENT_REPLAYED_HEADER = 'idempotent-replayed';

export interface IdempotencyOptions {
  ttlMs?: number;
  leaseMs?: number;
}

function principalOf(request: FastifyRequest): string {
  if (request.operator) return `operator:${request.operator.id}`;
  if (request.merchant) return `merchant:${request.merchant.merchantId}`;
  return request.user ? `user:${request.user.userId}` : 'anonymous';
}

/**
 * The id of the ledger command a POST issues: the body's `id` when the client chose one, otherwise
 * derived from (principal, Idempotency-Key) so a retry after the key record is gone still names
 * the same ledger entry and the ledger's own idempotency returns the original result.
 */
export function commandIdFor(request: FastifyRequest, explicitId?: string): string {
  if (explicitId) return explicitId;
  if (!request.idempotencyKey)
    throw new MilletError('IDEMPOTENCY_KEY_REQUIRED', 'This request needs an Idempotency-Key header');
  return derivedId('api.idempotency', `${principalOf(request)}\u0000${request.idempotencyKey}`);
}

/**
 * Turns a batched command's outcome into the response the route sends and a replay repeats: the
 * success serialised through the route's 201 schema (as Fastify would), a refusal as its
 * problem+json.
 */
export function storedResponder(
  request: FastifyRequest,
  schema: ZodType,
): (outcome: EffectOutcome, success: () => unknown) => StoredResponse {
  return (outcome, success) => {
    if (outcome.ok)
      return { status: 201, contentType: JSON_CONTENT_TYPE, body: JSON.stringify(schema.parse(success())) };
    const { problem } = problemFor(outcome.error, request);
    return { status: problem.status, contentType: PROBLEM_CONTENT_TYPE, body: JSON.stringify(problem) };
  };
}

/** Sends a stored response as it was stored. */
export function sendStored(reply: FastifyReply, stored: StoredResponse, replayed = false): FastifyReply {
  if (replayed) reply.header(IDEMPOTENT_REPLAYED_HEADER, 'true');
  return reply.code(stored.status).type(stored.contentType).send(stored.body);
}

/**
 * The body as the fingerprint sees it: no body, `null` and `{}` are one request (the routes read
 * them alike, and client libraries differ in which they send for "nothing"), so a retry that sends
 * another of them replays instead of being refused as IDEMPOTENCY_KEY_REUSED.
 */
function bodyForFingerprint(body: unknown): unknown {
  if (body === undefined || body === null) return null;
  if (typeof body !== 'object' || Array.isArray(body)) return body;
  const proto: unknown = Object.getPrototypeOf(body);
  const plain = proto === Object.prototype || proto === null;
  // canonicalJson leaves out undefined fields: `{ id: undefined }` is `{}` too.
  return plain && Object.values(body).every((value) => value === undefined) ? null : body;
}

function redact(body: string, fields: readonly string[] | undefined): string {
  if (!fields?.length) return body;
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    for (const field of fields) if (field in parsed) parsed[field] = null;
    return JSON.stringify(parsed);
  } catch {
    return body;
  }
}

/**
 * `Idempotency-Key` on every POST, Stripe style. The key is claimed after authentication and
 * validation (a request refused there never ran, so nothing is remembered), the response is
 * stored with it — 4xx included, 5xx and 429 not, so those can be retried — and the same request again
 * replays it with `Idempotent-Replayed: true`. A refusal the handler marks `beforeAnyEffect` (a
 * precondition judged before anything changed) is not stored either: the key is forgotten, so a
 * retry under it runs again once the precondition holds.
 */
export function installIdempotency(
  app: FastifyInstance,
  deps: { db: Database; clock: Clock; options?: IdempotencyOptions },
): void {
  const { db, clock } = deps;
  app.decorateRequest('idempotencyKey', null);
  app.decorateRequest('idempotencyClaim', null);
  app.decorateRequest('idempotencyDeferred', null);

  addRouteHook(app, 'preValidation', isPost, async (request) => {
    if (request.method !== 'POST') return;
    const header = request.headers[IDEMPOTENCY_KEY_HEADER];
    const key = Array.isArray(header) ? header[0] : header;
    if (!key && request.routeOptions.config?.idempotencyKeyOptional) return;
    if (!key)
      throw new MilletError(
        'IDEMPOTENCY_KEY_REQUIRED',
        'Every POST needs an Idempotency-Key header (a UUID is a good choice)',
      );
    if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
      throw new MilletError('VALIDATION_FAILED', 'Idempotency-Key must be 1–255 visible ASCII characters', {
        errors: [
          {
            location: 'headers',
            path: IDEMPOTENCY_KEY_HEADER,
            pointer: '#',
            detail: 'must be 1–255 visible ASCII characters',
          },
        ],
      });
    }
    request.idempotencyKey = key;
  });

  /**
   * Claims the request's key, or answers it: a replay is sent (false: the handler must not run),
   * a reuse or a request in flight is thrown.
   */
  const claim = async (
    request: FastifyRequest,
    reply: FastifyReply,
    claimed: { principal: string; fingerprint: string; key: string },
  ): Promise<boolean> => {
    const { principal, fingerprint, key } = claimed;
    const outcome = await claimIdempotencyKey(db, {
      principal,
      key,
      fingerprint,
      method: request.method,
      path: request.url,
      now: clock.now(),
      ttlMs: deps.options?.ttlMs,
      leaseMs: deps.options?.leaseMs,
    });
    switch (outcome.kind) {
      case 'claimed':
        request.idempotencyClaim = { principal, key, claimToken: outcome.claimToken };
        return true;
      case 'replay':
        request.log.info({ idempotencyKey: key }, 'idempotent replay');
        await sendStored(reply, outcome.response, true);
        return false;
      case 'in_progress':
        throw new MilletError(
          'IDEMPOTENCY_KEY_IN_PROGRESS',
          'A request with this Idempotency-Key is still being processed; retry shortly',
        );
      case 'mismatch':
        throw new MilletError(
          'IDEMPOTENCY_KEY_REUSED',
          `This Idempotency-Key was already used for a different request (${outcome.method} ${outcome.path}); use a new key for a new request`,
        );
    }
  };

  // Routes that keep their own idempotency (flash-sale attempts) need neither the claim nor the record.
  const claims = (route: RouteOptions) => isPost(route) && !route.config?.ownIdempotency;

  /** Requests refused before any effect: onError sees the error, onSend (which does not) forgets the key. */
  const refusedBeforeAnyEffect = new WeakSet<FastifyRequest>();
  addRouteHook(app, 'onError', claims, async (request, _reply, error) => {
    if (isMilletError(error) && error.beforeAnyEffect) refusedBeforeAnyEffect.add(request);
  });
  addRouteHook(app, 'preHandler', claims, async (request, reply) => {
    const key = request.idempotencyKey;
    if (!key) return;
    const principal = principalOf(request);
    const fingerprintBody = request.routeOptions.config?.idempotencyFingerprint;
    const body = fingerprintBody ? fingerprintBody(request.body) : request.body;
    const fingerprint = createHash('sha256')
      .update(canonicalJson({ method: request.method, path: request.url, body: bodyForFingerprint(body) }))
      .digest('hex');
    // Without a login there is no client to scope by: every anonymous caller would share one
    // namespace, so a stranger picking the same key got 422 for their own request or a replay of
    // someone else's. Keyed by the request itself, a replay only ever answers an identical request.
    const claimed = {
      principal: principal === 'anonymous' ? `anonymous:${fingerprint}` : principal,
      fingerprint,
      key,
    };
    if (request.routeOptions.config?.idempotencyInBatch) {
      // The handler claims the key in its ledger batch, or calls claim() to take the ordinary path.
      request.idempotencyDeferred = {
        batched: () =>
          batchedIdempotencyKey({
            ...claimed,
            method: request.method,
            path: request.url,
            now: clock.now(),
            ttlMs: deps.options?.ttlMs,
          }),
        claim: () => claim(request, reply, claimed),
      };
      return;
    }
    if (!(await claim(request, reply, claimed))) return reply;
  });

  addRouteHook(app, 'onSend', claims, async (request, reply, payload) => {
    const claim = request.idempotencyClaim;
    if (!claim) return payload;
    request.idempotencyClaim = null;
    try {
      // 429: the request was refused before it ran, so a retry after the wait must run it.
      const forgetSuccess = request.routeOptions.config?.idempotencyForgetsSuccess && reply.statusCode < 300;
      if (
        reply.statusCode >= 500 ||
        reply.statusCode === 429 ||
        forgetSuccess ||
        refusedBeforeAnyEffect.has(request)
      ) {
        await releaseIdempotencyKey(db, claim);
      } else {
        const contentType = String(reply.getHeader('content-type') ?? 'application/json');
        const body =
          typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : '';
        const stored: StoredResponse = {
          status: reply.statusCode,
          contentType,
          body: redact(body, request.routeOptions.config?.idempotencyRedact),
        };
        await completeIdempotencyKey(db, claim, stored, clock.now());
      }
    } catch (error) {
      // The response still goes out: its effect has happened. The claim stays in flight until its
      // lease runs out, and the retry that takes it over maps to the same ledger command id.
      request.log.error({ err: error }, 'could not record the idempotent response');
    }
    return payload;
  });
}
