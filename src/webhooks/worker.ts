import type { Logger } from 'pino';
import { isUuid, newId, type Clock } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import { deliveryColumns, deliveryFromRow, deliveryNotFound, type DeliveryRow } from './deliveries.ts';
import type { EndpointStore } from './endpoints.ts';
import type { ResolveHost } from './delivery-target.ts';
import { postWebhook, type PostResult } from './http-post.ts';
import type { PinnedAgents } from './pinned-agents.ts';
import { retryDelayMs } from './retry-schedule.ts';
import { signWebhook } from './signature.ts';
import type { WebhookAttempt, WebhookDelivery } from './types.ts';
import type { WebhookUrlPolicy } from './url-policy.ts';

const notSent = (error: string): PostResult => ({
  ok: false,
  statusCode: null,
  durationMs: 0,
  error,
  responseBody: null,
});

/** A delivery this worker owns for one attempt: `attempt` is the fencing token. */
export interface Claim {
  delivery: WebhookDelivery;
  attempt: number;
  attemptId: string;
  trigger: WebhookAttempt['trigger'];
  /**
   * Scheduled attempts of the delivery so far, this one included when it is scheduled: the retry
   * schedule's position and what `maxAttempts` bounds. A redeliver is not counted.
   */
  scheduled: number;
  /**
   * A redeliver of a delivery that was retrying: when its next scheduled attempt was due, where a
   * failure of the redeliver leaves it. Null for a redeliver of a succeeded or failed delivery.
   */
  resumeAt?: Date | null;
}

export interface WorkerOptions {
  db: Database;
  clock: Clock;
  endpoints: EndpointStore;
  /** Checked again at each attempt, against the URL and every address its host resolves to. */
  urlPolicy: WebhookUrlPolicy;
  resolveHost: ResolveHost;
  agents: PinnedAgents;
  timeoutMs: number;
  /** How long a claimed delivery stays invisible to other workers (business time). */
  leaseMs: number;
  retryDelaysMs: readonly number[];
  random: () => number;
  logger?: Logger | undefined;
}

const claimedColumns = deliveryColumns
  .split(', ')
  .map((column) => `d.${column}`)
  .join(', ');

/**
 * Claims due deliveries in the caller's (short) transaction: `FOR UPDATE SKIP LOCKED` lets several
 * processes claim side by side without waiting on each other, and the claim moves
 * `next_attempt_at` to the end of a lease, so once committed no one else sees the delivery as due.
 * A worker that dies mid-attempt leaves the lease to run out; the next claim marks its attempt
 * abandoned and tries again (at-least-once, never two live attempts with one number).
 *
 * `force` (a redeliver) claims the delivery whether or not it is due. An attempt still inside its
 * lease is then left running: its worker records its own outcome on its own row. Before, the
 * forced claim marked it abandoned, so while it ran the log said its worker had stopped (and an
 * attempt whose late outcome was not written stayed so). A forced claim also takes a delivery that
 * succeeded, which stays `succeeded` (and without a lease) while the extra attempt runs: no outcome
 * of that attempt can undo the delivery.
 */
export async function claimDeliveries(
  tx: Queryable,
  now: Date,
  leaseUntil: Date,
  filter: { ids?: readonly string[] | undefined; limit: number; force?: boolean },
  trigger: Claim['trigger'],
): Promise<Claim[]> {
  // Two shapes rather than one `OR`, so the scheduled claim keeps using the partial due index.
  const due = filter.force ? 'true' : `status = 'pending' AND next_attempt_at <= $1`;
  const claimed = await tx.query<DeliveryRow & { lease_ran_out: boolean; scheduled_before: number }>(
    `WITH due AS (
       SELECT id, coalesce(next_attempt_at <= $1, false) AS lease_ran_out FROM webhook_deliveries
        WHERE ${due} AND ($3::uuid[] IS NULL OR id = ANY($3::uuid[]))
        ORDER BY next_attempt_at
        LIMIT $4
        FOR UPDATE SKIP LOCKED
     )
     UPDATE webhook_deliveries d SET attempts = d.attempts + 1,
            next_attempt_at = CASE WHEN d.status = 'pending' THEN $2::timestamptz END, updated_at = $1
       FROM due WHERE d.id = due.id
     RETURNING ${claimedColumns}, due.lease_ran_out,
       (SELECT count(*) FROM webhook_attempts a
         WHERE a.delivery_id = d.id AND a.trigger = 'scheduled')::int AS scheduled_before`,
    [now, leaseUntil, filter.ids ?? null, filter.limit],
  );
  if (claimed.rows.length === 0) return [];
  const claims = claimed.rows.map((row) => ({
    delivery: deliveryFromRow(row),
    attempt: Number(row.attempts),
    attemptId: newId(),
    trigger,
    scheduled: Number(row.scheduled_before) + (trigger === 'scheduled' ? 1 : 0),
  }));
  const ids = claims.map((c) => c.delivery.id);
  // A running attempt is abandoned once its delivery's lease ran out; a delivery that is not
  // pending (succeeded, failed) keeps no lease, so there an attempt older than one lease is.
  const startedOneLeaseAgo = new Date(2 * now.getTime() - leaseUntil.getTime());
  await tx.query(
    `UPDATE webhook_attempts a SET outcome = 'abandoned', error = 'the worker stopped before the attempt finished'
       FROM unnest($1::uuid[], $2::boolean[]) AS c (delivery_id, lease_ran_out)
      WHERE a.delivery_id = c.delivery_id AND a.outcome IS NULL
        AND (c.lease_ran_out OR a.started_at <= $3)`,
    [ids, claimed.rows.map((row) => row.lease_ran_out), startedOneLeaseAgo],
  );
  await tx.query(
    `INSERT INTO webhook_attempts (id, delivery_id, attempt, trigger, started_at)
     SELECT t.id, t.delivery_id, t.attempt, $4, $5
       FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS t (id, delivery_id, attempt)`,
    [claims.map((c) => c.attemptId), ids, claims.map((c) => c.attempt), trigger, now],
  );
  return claims;
}

/** Attempts deliveries: claims, signs, POSTs, records the outcome and schedules the retry. */
export class DeliveryWorker {
  readonly #o: WorkerOptions;

  constructor(options: WorkerOptions) {
    this.#o = options;
  }

  /** Claims due deliveries (only `ids` when given) batch by batch and attempts them; returns how many. */
  async deliverDue(
    options: { ids?: readonly string[]; limit?: number; batchSize?: number } = {},
  ): Promise<number> {
    // Bounded so one job round takes at most limit / batchSize timeouts (4 × 5 s by default).
    const limit = options.limit ?? 200;
    const batchSize = options.batchSize ?? 50;
    let total = 0;
    while (total < limit) {
      const claims = await this.#o.db.transaction((tx) =>
        claimDeliveries(
          tx,
          this.#o.clock.now(),
          this.#leaseUntil(),
          { ids: options.ids, limit: Math.min(batchSize, limit - total) },
          'scheduled',
        ),
      );
      if (claims.length === 0) break;
      total += claims.length;
      await Promise.all(claims.map((claim) => this.attempt(claim)));
      if (options.ids) break;
    }
    return total;
  }

  /**
   * Makes a delivery due now, whatever its state, and attempts it at once; a delivery that had
   * succeeded or failed gets exactly one more attempt. One that succeeded stays `succeeded`
   * meanwhile and after, whatever this attempt's outcome: the receiver has the message (before, a
   * failure of the extra attempt turned it `failed`). Returns the attempt's id.
   *
   * A redeliver of a delivery still retrying does not use up its schedule: its attempt is logged
   * with its own outcome, but a failure leaves the delivery pending with its next scheduled attempt
   * as due as before, and the schedule's budget counts scheduled attempts only. Before, it counted
   * as one of them: a merchant's retry between scheduled attempts 7 and 8 failed the delivery.
   */
  async redeliver(id: string): Promise<string> {
    if (!isUuid(id)) throw deliveryNotFound(id);
    const claim = await this.#o.db.transaction(async (tx) => {
      const now = this.#o.clock.now();
      // next_attempt_at is left for the claim: it tells whether a running attempt's lease ran out.
      const updated = await tx.query<{ was: WebhookDelivery['status']; was_due: Date | null }>(
        `WITH old AS (SELECT id, status, next_attempt_at FROM webhook_deliveries WHERE id = $1 FOR UPDATE)
         UPDATE webhook_deliveries d
            SET status = CASE WHEN old.status = 'succeeded' THEN old.status ELSE 'pending' END, updated_at = $2
           FROM old WHERE d.id = old.id
         RETURNING old.status AS was, old.next_attempt_at AS was_due`,
        [id, now],
      );
      const before = updated.rows[0];
      if (!before) throw deliveryNotFound(id);
      const claims = await claimDeliveries(
        tx,
        now,
        this.#leaseUntil(),
        { ids: [id], limit: 1, force: true },
        'redeliver',
      );
      return { ...claims[0]!, resumeAt: before.was === 'pending' ? (before.was_due ?? now) : null };
    });
    await this.attempt(claim);
    return claim.attemptId;
  }

  /** One attempt of a claimed delivery; never throws (a failure to record is logged, the lease retries it). */
  async attempt(claim: Claim): Promise<void> {
    const { delivery } = claim;
    let result: PostResult & { final?: boolean };
    try {
      // Disabling an endpoint fails its pending deliveries, but a delivery enqueued in a
      // transaction that read the endpoint before the disable committed arrives after it. Before,
      // such a delivery was sent (and retried) to the disabled endpoint. An operator's redeliver
      // still sends, as documented.
      if (
        claim.trigger === 'scheduled' &&
        delivery.endpointId !== null &&
        !(await this.#o.endpoints.isEnabled(delivery.endpointId))
      )
        result = { ...notSent('endpoint disabled'), final: true };
      else result = await this.#send(delivery);
    } catch (error) {
      // Signing failed (a secret that does not decrypt): recorded like any failed attempt.
      result = notSent(`not sent: ${String(error)}`);
    }
    try {
      await this.#record(claim, result);
    } catch (error) {
      this.#o.logger?.error({ err: error, deliveryId: delivery.id }, 'webhook attempt not recorded');
    }
  }

  async #send(delivery: WebhookDelivery): Promise<PostResult> {
    const secrets = await this.#o.endpoints.signingSecrets(delivery);
    if (secrets.length === 0) return notSent('no signing secret');
    const timestamp = Math.floor(this.#o.clock.now().getTime() / 1000);
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'Millet-Webhooks/1',
      'webhook-id': delivery.messageId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': secrets
        .map((secret) => signWebhook(secret, delivery.messageId, timestamp, delivery.body))
        .join(' '),
    };
    return postWebhook(delivery.url, headers, delivery.body, {
      timeoutMs: this.#o.timeoutMs,
      policy: this.#o.urlPolicy,
      resolveHost: this.#o.resolveHost,
      agents: this.#o.agents,
    });
  }

  async #record(claim: Claim, result: PostResult & { final?: boolean }): Promise<void> {
    const now = this.#o.clock.now();
    let status: WebhookDelivery['status'] = 'succeeded';
    let next: Date | null = null;
    if (!result.ok && claim.trigger === 'redeliver') {
      // Outside the schedule: a retrying delivery goes back to it, a failed one stays failed.
      status = claim.resumeAt ? 'pending' : 'failed';
      next = claim.resumeAt ?? null;
    } else if (!result.ok) {
      const delay =
        !result.final && claim.scheduled < claim.delivery.maxAttempts
          ? retryDelayMs(this.#o.retryDelaysMs, claim.scheduled, this.#o.random)
          : undefined;
      status = delay === undefined ? 'failed' : 'pending';
      next = delay === undefined ? null : new Date(now.getTime() + delay);
    }
    const gaveUp = await this.#o.db.transaction(async (tx) => {
      await tx.query(
        `UPDATE webhook_attempts
            SET outcome = $2, duration_ms = $3, status_code = $4, error = $5, response_body = $6
          WHERE id = $1`,
        [
          claim.attemptId,
          result.ok ? 'succeeded' : 'failed',
          result.durationMs,
          result.statusCode,
          result.error,
          result.responseBody,
        ],
      );
      // A delivery is delivered once any of its attempts succeeded, so a success is never fenced: an
      // older attempt (still running when a redeliver began one more, or taken for abandoned) that
      // succeeds late makes the delivery succeeded. Before, the newest attempt's outcome won, and a
      // failure of it left the delivery retrying or failed although the receiver had the message.
      // A failure is fenced by the attempt number and only moves a delivery not delivered yet.
      if (status === 'succeeded') {
        await tx.query(
          `UPDATE webhook_deliveries
              SET status = 'succeeded', next_attempt_at = NULL, last_status_code = $2, last_error = NULL,
                  updated_at = $3, succeeded_at = $3
            WHERE id = $1`,
          [claim.delivery.id, result.statusCode, now],
        );
        return false;
      }
      const moved = await tx.query(
        `UPDATE webhook_deliveries
            SET status = $3::text, next_attempt_at = $4, last_status_code = $5, last_error = $6, updated_at = $7
          WHERE id = $1 AND attempts = $2 AND status = 'pending'`,
        [claim.delivery.id, claim.attempt, status, next, result.statusCode, result.error, now],
      );
      return status === 'failed' && moved.rowCount > 0;
    });
    // Only when this failure failed the delivery: not a fenced-out older attempt's, nor a failed
    // redeliver of a delivered one (the alert would say a delivered message was lost).
    if (gaveUp)
      this.#o.logger?.warn(
        { deliveryId: claim.delivery.id, attempts: claim.attempt, error: result.error },
        'webhook delivery failed for good',
      );
  }

  #leaseUntil(): Date {
    return new Date(this.#o.clock.now().getTime() + this.#o.leaseMs);
  }
}
