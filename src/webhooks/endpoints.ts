import { decodeIdCursor, encodeIdCursor, isUuid, MilletError, newId, type Clock } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import type { SecretBox } from './secret-box.ts';
import { generateWebhookSecret } from './signature.ts';
import type {
  CreateEndpointCommand,
  CreatedWebhookEndpoint,
  Page,
  PageQuery,
  WebhookEndpoint,
} from './types.ts';
import { checkWebhookUrl, type WebhookUrlPolicy } from './url-policy.ts';

interface EndpointRow {
  id: string;
  owner_id: string;
  url: string;
  description: string | null;
  event_types: string[];
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

const columns = 'id, owner_id, url, description, event_types, enabled, created_at, updated_at';

const endpointFromRow = (row: EndpointRow): WebhookEndpoint => ({
  id: row.id,
  ownerId: row.owner_id,
  url: row.url,
  description: row.description,
  eventTypes: row.event_types,
  enabled: row.enabled,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export const endpointSecretContext = (id: string) => `webhook_endpoints.secret:${id}`;
export const ownerSecretContext = (ownerId: string) => `webhook_owner_secrets.secret:${ownerId}`;

const EVENT_TYPE = /^[A-Za-z0-9_.:-]{1,100}$/;

export function checkOwnerId(ownerId: string): string {
  if (ownerId.length === 0 || ownerId.length > 100 || ownerId.trim() !== ownerId)
    throw new MilletError('VALIDATION_FAILED', 'owner_id must be 1–100 characters, no surrounding spaces', {
      field: 'owner_id',
    });
  return ownerId;
}

export function checkEventType(eventType: string, field = 'event_type'): string {
  if (!EVENT_TYPE.test(eventType))
    throw new MilletError(
      'VALIDATION_FAILED',
      'An event type is 1–100 letters, digits, ".", "_", "-" or ":" (such as payment.succeeded)',
      { field },
    );
  return eventType;
}

/** Enabled endpoints an owner may have, unless `createWebhooks` is told otherwise. */
export const DEFAULT_MAX_ENDPOINTS_PER_OWNER = 20;

/** Endpoints (subscriptions) and the owners' signing secrets for notify URLs. */
export class EndpointStore {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #box: SecretBox;
  readonly #urlPolicy: WebhookUrlPolicy;
  readonly #maxPerOwner: number;

  constructor(
    db: Database,
    clock: Clock,
    box: SecretBox,
    urlPolicy: WebhookUrlPolicy,
    maxPerOwner = DEFAULT_MAX_ENDPOINTS_PER_OWNER,
  ) {
    this.#db = db;
    this.#clock = clock;
    this.#box = box;
    this.#urlPolicy = urlPolicy;
    this.#maxPerOwner = maxPerOwner;
  }

  /**
   * Refuses one more enabled endpoint for an owner at the cap. Every event is written once per
   * enabled endpoint inside the payment's own transaction and then POSTed: without a cap a
   * merchant could add endpoints without end and make each of its payments write, and send,
   * thousands of copies. The gate row serialises the adds of one owner.
   */
  async #checkRoomFor(tx: Queryable, ownerId: string): Promise<void> {
    await tx.query(
      `INSERT INTO webhook_endpoint_owner_gates (owner_id) VALUES ($1)
       ON CONFLICT (owner_id) DO UPDATE SET owner_id = EXCLUDED.owner_id`,
      [ownerId],
    );
    const result = await tx.query<{ n: bigint }>(
      'SELECT count(*)::int8 AS n FROM webhook_endpoints WHERE owner_id = $1 AND enabled',
      [ownerId],
    );
    if (Number(result.rows[0]!.n) >= this.#maxPerOwner)
      throw new MilletError(
        'WEBHOOK_ENDPOINT_LIMIT_EXCEEDED',
        `Owner ${ownerId} already has ${this.#maxPerOwner} enabled webhook endpoints, the most allowed`,
        { ownerId, limit: this.#maxPerOwner },
      );
  }

  async create(command: CreateEndpointCommand): Promise<CreatedWebhookEndpoint> {
    const ownerId = checkOwnerId(command.ownerId);
    const url = checkWebhookUrl(command.url, 'url', this.#urlPolicy);
    const eventTypes = [...new Set((command.eventTypes ?? []).map((t) => checkEventType(t, 'event_types')))];
    if (eventTypes.length > 100)
      throw new MilletError('VALIDATION_FAILED', 'At most 100 event types', { field: 'event_types' });
    const description = command.description?.trim() || null;
    if (description && description.length > 200)
      throw new MilletError('VALIDATION_FAILED', 'description is at most 200 characters', {
        field: 'description',
      });
    const id = newId();
    const secret = generateWebhookSecret();
    const now = this.#clock.now();
    const sealed = this.#box.seal(secret, endpointSecretContext(id));
    const endpoint = await this.#db.transaction(async (tx) => {
      await this.#checkRoomFor(tx, ownerId);
      const result = await tx.query<EndpointRow>(
        `INSERT INTO webhook_endpoints
           (id, owner_id, url, description, event_types, secret_ciphertext, enabled, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, true, $7, $7)
         RETURNING ${columns}`,
        [id, ownerId, url, description, JSON.stringify(eventTypes.sort()), sealed, now],
      );
      return endpointFromRow(result.rows[0]!);
    });
    return { endpoint, secret };
  }

  async get(id: string): Promise<WebhookEndpoint> {
    const result = isUuid(id)
      ? await this.#db.query<EndpointRow>(`SELECT ${columns} FROM webhook_endpoints WHERE id = $1`, [id])
      : { rows: [] };
    if (!result.rows[0]) throw notFound(id);
    return endpointFromRow(result.rows[0]);
  }

  async list(query: PageQuery & { ownerId?: string | undefined } = {}): Promise<Page<WebhookEndpoint>> {
    const limit = query.limit ?? 50;
    const after = query.cursor ? decodeIdCursor(query.cursor) : '00000000-0000-0000-0000-000000000000';
    const result = await this.#db.query<EndpointRow>(
      `SELECT ${columns} FROM webhook_endpoints
        WHERE id > $1 AND ($2::text IS NULL OR owner_id = $2)
        ORDER BY id LIMIT $3`,
      [after, query.ownerId ?? null, limit + 1],
    );
    const items = result.rows.slice(0, limit).map(endpointFromRow);
    return { items, nextCursor: result.rows.length > limit ? encodeIdCursor(items.at(-1)!.id) : null };
  }

  /**
   * Enables or disables an endpoint. Disabling also fails its pending deliveries (last_error says
   * why), so nothing waits on an endpoint that will not be called; redeliver still works.
   */
  async setEnabled(id: string, enabled: boolean): Promise<WebhookEndpoint> {
    if (!isUuid(id)) throw notFound(id);
    return this.#db.transaction(async (tx) => {
      const now = this.#clock.now();
      if (enabled) {
        const current = await tx.query<{ owner_id: string; enabled: boolean }>(
          'SELECT owner_id, enabled FROM webhook_endpoints WHERE id = $1',
          [id],
        );
        if (current.rows[0] && !current.rows[0].enabled)
          await this.#checkRoomFor(tx, current.rows[0].owner_id);
      }
      const result = await tx.query<EndpointRow>(
        `UPDATE webhook_endpoints SET enabled = $2,
                updated_at = CASE WHEN enabled = $2 THEN updated_at ELSE $3 END
          WHERE id = $1 RETURNING ${columns}`,
        [id, enabled, now],
      );
      if (!result.rows[0]) throw notFound(id);
      if (!enabled)
        await tx.query(
          `UPDATE webhook_deliveries
              SET status = 'failed', next_attempt_at = NULL, last_error = 'endpoint disabled', updated_at = $2
            WHERE endpoint_id = $1 AND status = 'pending'`,
          [id, now],
        );
      return endpointFromRow(result.rows[0]);
    });
  }

  /** The owner's enabled endpoints that take this event type. */
  async matching(tx: Queryable, ownerId: string, eventType: string): Promise<WebhookEndpoint[]> {
    const result = await tx.query<EndpointRow>(
      `SELECT ${columns} FROM webhook_endpoints
        WHERE owner_id = $1 AND enabled AND (event_types = '[]'::jsonb OR event_types ? $2)
        ORDER BY id`,
      [ownerId, eventType],
    );
    return result.rows.map(endpointFromRow);
  }

  /** The enabled endpoints of these owners, each with the event types it takes ([] = all). */
  async enabledOf(tx: Queryable, ownerIds: readonly string[]): Promise<WebhookEndpoint[]> {
    const result = await tx.query<EndpointRow>(
      `SELECT ${columns} FROM webhook_endpoints WHERE owner_id = ANY($1::text[]) AND enabled ORDER BY id`,
      [ownerIds],
    );
    return result.rows.map(endpointFromRow);
  }

  /** Which of these owners have a signing secret for notify URLs. */
  async ownersWithSecret(tx: Queryable, ownerIds: readonly string[]): Promise<Set<string>> {
    const result = await tx.query<{ owner_id: string }>(
      'SELECT owner_id FROM webhook_owner_secrets WHERE owner_id = ANY($1::text[])',
      [ownerIds],
    );
    return new Set(result.rows.map((r) => r.owner_id));
  }

  /**
   * Creates the owner's signing secret for notify-URL deliveries, or replaces it. The previous
   * secret keeps signing beside the new one (two `v1,` signatures) for `overlapMs`, so the owner
   * can switch without losing webhooks. Returns the new secret: shown once.
   */
  async rotateOwnerSecret(
    ownerId: string,
    overlapMs = 24 * 60 * 60_000,
  ): Promise<{ secret: string; previousExpiresAt: Date | null }> {
    checkOwnerId(ownerId);
    const secret = generateWebhookSecret();
    const now = this.#clock.now();
    return this.#db.transaction(async (tx) => {
      // The previous secret, if still in its overlap, keeps signing until its own expiry: a
      // second rotation (say, after the first one's answer was lost) must not drop it at once.
      const current = await tx.query<{
        previous_secret_ciphertext: string | null;
        previous_expires_at: Date | null;
      }>(
        `SELECT previous_secret_ciphertext, previous_expires_at FROM webhook_owner_secrets
          WHERE owner_id = $1 FOR UPDATE`,
        [ownerId],
      );
      const previous = current.rows[0];
      await tx.query('DELETE FROM webhook_owner_retired_secrets WHERE owner_id = $1 AND expires_at <= $2', [
        ownerId,
        now,
      ]);
      if (
        previous?.previous_secret_ciphertext &&
        previous.previous_expires_at &&
        previous.previous_expires_at > now
      )
        await tx.query(
          `INSERT INTO webhook_owner_retired_secrets (id, owner_id, secret_ciphertext, expires_at)
           VALUES ($1, $2, $3, $4)`,
          [newId(), ownerId, previous.previous_secret_ciphertext, previous.previous_expires_at],
        );
      const result = await tx.query<{ previous_expires_at: Date | null }>(
        `INSERT INTO webhook_owner_secrets (owner_id, secret_ciphertext, created_at, rotated_at)
         VALUES ($1, $2, $3, $3)
         ON CONFLICT (owner_id) DO UPDATE SET
           previous_secret_ciphertext = webhook_owner_secrets.secret_ciphertext,
           previous_expires_at = $4,
           secret_ciphertext = EXCLUDED.secret_ciphertext,
           rotated_at = EXCLUDED.rotated_at
         RETURNING previous_expires_at`,
        [
          ownerId,
          this.#box.seal(secret, ownerSecretContext(ownerId)),
          now,
          new Date(now.getTime() + overlapMs),
        ],
      );
      return { secret, previousExpiresAt: result.rows[0]!.previous_expires_at };
    });
  }

  async hasOwnerSecret(tx: Queryable, ownerId: string): Promise<boolean> {
    const result = await tx.query('SELECT 1 FROM webhook_owner_secrets WHERE owner_id = $1', [ownerId]);
    return result.rows.length > 0;
  }

  /** Whether the endpoint exists and is enabled now (an attempt checks before it sends). */
  async isEnabled(id: string): Promise<boolean> {
    const result = await this.#db.query<{ enabled: boolean }>(
      'SELECT enabled FROM webhook_endpoints WHERE id = $1',
      [id],
    );
    return result.rows[0]?.enabled === true;
  }

  /** The secrets that sign a delivery now: the endpoint's, or the owner's (and a previous one in overlap). */
  async signingSecrets(delivery: { endpointId: string | null; ownerId: string }): Promise<string[]> {
    if (delivery.endpointId) {
      const result = await this.#db.query<{ secret_ciphertext: string }>(
        'SELECT secret_ciphertext FROM webhook_endpoints WHERE id = $1',
        [delivery.endpointId],
      );
      const row = result.rows[0];
      return row ? [this.#box.open(row.secret_ciphertext, endpointSecretContext(delivery.endpointId))] : [];
    }
    const result = await this.#db.query<{
      secret_ciphertext: string;
      previous_secret_ciphertext: string | null;
      previous_expires_at: Date | null;
    }>(
      `SELECT secret_ciphertext, previous_secret_ciphertext, previous_expires_at
         FROM webhook_owner_secrets WHERE owner_id = $1`,
      [delivery.ownerId],
    );
    const row = result.rows[0];
    if (!row) return [];
    const context = ownerSecretContext(delivery.ownerId);
    const secrets = [this.#box.open(row.secret_ciphertext, context)];
    const now = this.#clock.now();
    if (row.previous_secret_ciphertext && row.previous_expires_at && row.previous_expires_at > now)
      secrets.push(this.#box.open(row.previous_secret_ciphertext, context));
    const retired = await this.#db.query<{ secret_ciphertext: string }>(
      `SELECT secret_ciphertext FROM webhook_owner_retired_secrets
        WHERE owner_id = $1 AND expires_at > $2 ORDER BY expires_at DESC`,
      [delivery.ownerId, now],
    );
    for (const r of retired.rows) secrets.push(this.#box.open(r.secret_ciphertext, context));
    return secrets;
  }
}

function notFound(id: string): MilletError {
  return new MilletError('WEBHOOK_ENDPOINT_NOT_FOUND', `Webhook endpoint ${id} does not exist`, {
    endpointId: id,
  });
}
