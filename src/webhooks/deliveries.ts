import { decodeIdCursor, encodeIdCursor, isUuid, MilletError, newId, type Clock } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import { checkEventType, checkOwnerId, type EndpointStore } from './endpoints.ts';
import type {
  DeliveryStatus,
  Page,
  PageQuery,
  WebhookAttempt,
  WebhookDelivery,
  WebhookEvent,
} from './types.ts';
import { checkWebhookUrl, type WebhookUrlPolicy } from './url-policy.ts';

export interface DeliveryRow {
  id: string;
  message_id: string;
  owner_id: string;
  endpoint_id: string | null;
  url: string;
  event_type: string;
  body: string;
  status: DeliveryStatus;
  attempts: number;
  max_attempts: number;
  next_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  succeeded_at: Date | null;
}

export const deliveryColumns =
  'id, message_id, owner_id, endpoint_id, url, event_type, body, status, attempts, max_attempts, ' +
  'next_attempt_at, last_status_code, last_error, created_at, updated_at, succeeded_at';

export const deliveryFromRow = (row: DeliveryRow): WebhookDelivery => ({
  id: row.id,
  messageId: row.message_id,
  ownerId: row.owner_id,
  endpointId: row.endpoint_id,
  url: row.url,
  eventType: row.event_type,
  body: row.body,
  status: row.status,
  attempts: Number(row.attempts),
  maxAttempts: Number(row.max_attempts),
  nextAttemptAt: row.next_attempt_at,
  lastStatusCode: row.last_status_code,
  lastError: row.last_error,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  succeededAt: row.succeeded_at,
});

interface AttemptRow {
  id: string;
  delivery_id: string;
  attempt: number;
  trigger: WebhookAttempt['trigger'];
  started_at: Date;
  outcome: WebhookAttempt['outcome'];
  duration_ms: number | null;
  status_code: number | null;
  error: string | null;
  response_body: string | null;
}

const attemptColumns =
  'id, delivery_id, attempt, trigger, started_at, outcome, duration_ms, status_code, error, response_body';

const attemptFromRow = (row: AttemptRow): WebhookAttempt => ({
  id: row.id,
  deliveryId: row.delivery_id,
  attempt: row.attempt,
  trigger: row.trigger,
  startedAt: row.started_at,
  outcome: row.outcome,
  durationMs: row.duration_ms,
  statusCode: row.status_code,
  error: row.error,
  responseBody: row.response_body,
});

/** Largest event body, in bytes of JSON. */
export const MAX_BODY_BYTES = 256 * 1024;

export interface DeliveryQuery extends PageQuery {
  ownerId?: string | undefined;
  endpointId?: string | undefined;
  status?: DeliveryStatus | undefined;
}

/** An event's owner, type and exact body text, or VALIDATION_FAILED. */
function checkedEvent(event: WebhookEvent, now: Date): { ownerId: string; eventType: string; body: string } {
  const ownerId = checkOwnerId(event.ownerId);
  const eventType = checkEventType(event.eventType);
  if (typeof event.payload !== 'object' || event.payload === null || Array.isArray(event.payload))
    throw new MilletError('VALIDATION_FAILED', 'The event payload must be a JSON object', {
      field: 'payload',
    });
  const body = JSON.stringify({ type: eventType, timestamp: now.toISOString(), data: event.payload });
  if (Buffer.byteLength(body) > MAX_BODY_BYTES)
    throw new MilletError('VALIDATION_FAILED', `The event body exceeds ${MAX_BODY_BYTES} bytes`, {
      field: 'payload',
    });
  return { ownerId, eventType, body };
}

/** The URL if the webhooks module would call it, otherwise null. */
function allowedUrl(url: string | null | undefined, policy: WebhookUrlPolicy): string | null {
  if (!url) return null;
  try {
    return checkWebhookUrl(url, 'url', policy);
  } catch {
    return null;
  }
}

/** The outbox: writing deliveries for an event, and reading deliveries and their attempts. */
export class DeliveryStore {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #endpoints: EndpointStore;
  readonly #maxAttempts: number;
  readonly #urlPolicy: WebhookUrlPolicy;

  constructor(
    db: Database,
    clock: Clock,
    endpoints: EndpointStore,
    maxAttempts: number,
    urlPolicy: WebhookUrlPolicy,
  ) {
    this.#db = db;
    this.#clock = clock;
    this.#endpoints = endpoints;
    this.#maxAttempts = maxAttempts;
    this.#urlPolicy = urlPolicy;
  }

  /**
   * Writes one delivery per matching enabled endpoint, and one to `event.url` when given, all due
   * now and sharing one message id. With `tx` the rows commit (or not) with the caller's own
   * writes: the transactional outbox.
   */
  async enqueue(event: WebhookEvent, tx: Queryable = this.#db): Promise<WebhookDelivery[]> {
    const now = this.#clock.now();
    const { ownerId, eventType, body } = checkedEvent(event, now);
    const notifyUrl = event.url ? checkWebhookUrl(event.url, 'url', this.#urlPolicy) : null;
    if (notifyUrl && !(await this.#endpoints.hasOwnerSecret(tx, ownerId)))
      throw new MilletError(
        'WEBHOOK_SIGNING_SECRET_MISSING',
        `Owner ${ownerId} has no signing secret for notify URLs: rotate one first`,
        { ownerId },
      );
    const targets: Array<{ endpointId: string | null; url: string }> = (
      await this.#endpoints.matching(tx, ownerId, eventType)
    ).map((endpoint) => ({ endpointId: endpoint.id, url: endpoint.url }));
    if (notifyUrl) targets.push({ endpointId: null, url: notifyUrl });
    if (targets.length === 0) return [];
    const messageId = `msg_${newId().replaceAll('-', '')}`;
    const result = await tx.query<DeliveryRow>(
      `INSERT INTO webhook_deliveries
         (id, message_id, owner_id, endpoint_id, url, event_type, body, status, attempts, max_attempts,
          next_attempt_at, created_at, updated_at)
       SELECT t.id, $1, $2, t.endpoint_id, t.url, $3, $4, 'pending', 0, $5, $6, $6, $6
         FROM unnest($7::uuid[], $8::uuid[], $9::text[]) AS t (id, endpoint_id, url)
       RETURNING ${deliveryColumns}`,
      [
        messageId,
        ownerId,
        eventType,
        body,
        this.#maxAttempts,
        now,
        targets.map(() => newId()),
        targets.map((t) => t.endpointId),
        targets.map((t) => t.url),
      ],
    );
    return result.rows.map(deliveryFromRow);
  }

  /**
   * `enqueue` for many events in a few statements (one read of the owners' endpoints, one of their
   * signing secrets when a URL is given, one insert), in the caller's transaction. Unlike
   * `enqueue`, an event's `url` that is not allowed or cannot be signed (no owner secret) is
   * skipped rather than refused: the owner's endpoints still get the event. Returns how many
   * deliveries it wrote.
   */
  async enqueueMany(events: readonly WebhookEvent[], tx: Queryable): Promise<number> {
    if (events.length === 0) return 0;
    const now = this.#clock.now();
    const checked = events.map((event) => ({
      ...checkedEvent(event, now),
      url: allowedUrl(event.url, this.#urlPolicy),
    }));
    const owners = [...new Set(checked.map((e) => e.ownerId))];
    const endpoints = await this.#endpoints.enabledOf(tx, owners);
    const withUrl = [...new Set(checked.filter((e) => e.url).map((e) => e.ownerId))];
    const signable = withUrl.length > 0 ? await this.#endpoints.ownersWithSecret(tx, withUrl) : new Set();
    const rows: Array<{
      messageId: string;
      event: (typeof checked)[number];
      endpointId: string | null;
      url: string;
    }> = [];
    for (const event of checked) {
      const messageId = `msg_${newId().replaceAll('-', '')}`;
      for (const endpoint of endpoints)
        if (
          endpoint.ownerId === event.ownerId &&
          (endpoint.eventTypes.length === 0 || endpoint.eventTypes.includes(event.eventType))
        )
          rows.push({ messageId, event, endpointId: endpoint.id, url: endpoint.url });
      if (event.url && signable.has(event.ownerId))
        rows.push({ messageId, event, endpointId: null, url: event.url });
    }
    if (rows.length === 0) return 0;
    await tx.query(
      `INSERT INTO webhook_deliveries
         (id, message_id, owner_id, endpoint_id, url, event_type, body, status, attempts, max_attempts,
          next_attempt_at, created_at, updated_at)
       SELECT t.id, t.message_id, t.owner_id, t.endpoint_id, t.url, t.event_type, t.body, 'pending', 0, $1, $2, $2, $2
         FROM unnest($3::uuid[], $4::text[], $5::text[], $6::uuid[], $7::text[], $8::text[], $9::text[])
           AS t (id, message_id, owner_id, endpoint_id, url, event_type, body)`,
      [
        this.#maxAttempts,
        now,
        rows.map(() => newId()),
        rows.map((r) => r.messageId),
        rows.map((r) => r.event.ownerId),
        rows.map((r) => r.endpointId),
        rows.map((r) => r.url),
        rows.map((r) => r.event.eventType),
        rows.map((r) => r.event.body),
      ],
    );
    return rows.length;
  }

  async get(id: string): Promise<WebhookDelivery> {
    const result = isUuid(id)
      ? await this.#db.query<DeliveryRow>(`SELECT ${deliveryColumns} FROM webhook_deliveries WHERE id = $1`, [
          id,
        ])
      : { rows: [] };
    if (!result.rows[0]) throw deliveryNotFound(id);
    return deliveryFromRow(result.rows[0]);
  }

  /** Newest first. */
  async list(query: DeliveryQuery = {}): Promise<Page<WebhookDelivery>> {
    const limit = query.limit ?? 50;
    const before = query.cursor ? decodeIdCursor(query.cursor) : 'ffffffff-ffff-ffff-ffff-ffffffffffff';
    // No endpoint has an id that is not a UUID: an empty page would hide the caller's typo.
    if (query.endpointId !== undefined && !isUuid(query.endpointId))
      throw new MilletError('VALIDATION_FAILED', 'endpoint_id must be a UUID', { field: 'endpoint_id' });
    const result = await this.#db.query<DeliveryRow>(
      `SELECT ${deliveryColumns} FROM webhook_deliveries
        WHERE id < $1 AND ($2::text IS NULL OR owner_id = $2) AND ($3::uuid IS NULL OR endpoint_id = $3)
          AND ($4::text IS NULL OR status = $4)
        ORDER BY id DESC LIMIT $5`,
      [before, query.ownerId ?? null, query.endpointId ?? null, query.status ?? null, limit + 1],
    );
    const items = result.rows.slice(0, limit).map(deliveryFromRow);
    return { items, nextCursor: result.rows.length > limit ? encodeIdCursor(items.at(-1)!.id) : null };
  }

  /** Every attempt of a delivery, first first. */
  async attempts(deliveryId: string): Promise<WebhookAttempt[]> {
    await this.get(deliveryId);
    const result = await this.#db.query<AttemptRow>(
      `SELECT ${attemptColumns} FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt`,
      [deliveryId],
    );
    return result.rows.map(attemptFromRow);
  }

  async attempt(id: string): Promise<WebhookAttempt> {
    const result = await this.#db.query<AttemptRow>(
      `SELECT ${attemptColumns} FROM webhook_attempts WHERE id = $1`,
      [id],
    );
    return attemptFromRow(result.rows[0]!);
  }
}

export function deliveryNotFound(id: string): MilletError {
  return new MilletError('WEBHOOK_DELIVERY_NOT_FOUND', `Webhook delivery ${id} does not exist`, {
    deliveryId: id,
  });
}
