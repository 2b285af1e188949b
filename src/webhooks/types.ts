/** The webhooks module's records, as its public functions return them. */

export interface WebhookEndpoint {
  id: string;
  /** Who the endpoint belongs to (a merchant id today). */
  ownerId: string;
  url: string;
  description: string | null;
  /** Event types sent to it; empty means every type. */
  eventTypes: string[];
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** The one moment an endpoint's secret is handed out. */
export interface CreatedWebhookEndpoint {
  endpoint: WebhookEndpoint;
  /** `whsec_…`: the merchant verifies with it; shown once. */
  secret: string;
}

export interface CreateEndpointCommand {
  ownerId: string;
  url: string;
  eventTypes?: readonly string[];
  description?: string | null;
}

/** An event for an owner: delivered to each of its enabled endpoints that take the type, and to `url`. */
export interface WebhookEvent {
  ownerId: string;
  /** Such as `payment.succeeded`: letters, digits, `.`, `_`, `-`, `:`. */
  eventType: string;
  payload: Record<string, unknown>;
  /** A per-event notify URL (a payment order's); signed with the owner's signing secret. */
  url?: string | null;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface WebhookDelivery {
  id: string;
  /** The `webhook-id` header: the same on every attempt, and for every endpoint of one event. */
  messageId: string;
  ownerId: string;
  /** Null for a delivery to the event's notify URL. */
  endpointId: string | null;
  url: string;
  eventType: string;
  /** The exact JSON text sent: `{"type", "timestamp", "data"}`. */
  body: string;
  status: DeliveryStatus;
  attempts: number;
  maxAttempts: number;
  /** When the next attempt is due (business time); null once succeeded or failed. */
  nextAttemptAt: Date | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
  succeededAt: Date | null;
}

export interface WebhookAttempt {
  id: string;
  deliveryId: string;
  /** 1-based. */
  attempt: number;
  trigger: 'scheduled' | 'redeliver';
  startedAt: Date;
  /** Null while it runs; `abandoned` when its worker stopped before it finished. */
  outcome: 'succeeded' | 'failed' | 'abandoned' | null;
  durationMs: number | null;
  statusCode: number | null;
  error: string | null;
  /** The first 4 KiB of the response body. */
  responseBody: string | null;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface PageQuery {
  cursor?: string | undefined;
  limit?: number | undefined;
}
