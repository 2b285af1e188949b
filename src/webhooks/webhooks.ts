import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Clock } from '../core/index.ts';
import { loadMigrations, type Database, type Migration, type Queryable } from '../db/index.ts';
import { DeliveryStore, type DeliveryQuery } from './deliveries.ts';
import { EndpointStore } from './endpoints.ts';
import type { LookupFunction } from 'node:net';
import { policyLookup, resolveWithDns, type ResolveHost } from './delivery-target.ts';
import { PinnedAgents } from './pinned-agents.ts';
import { defaultRetryDelaysMs } from './retry-schedule.ts';
import { createSecretBox } from './secret-box.ts';
import type {
  CreateEndpointCommand,
  CreatedWebhookEndpoint,
  Page,
  PageQuery,
  WebhookAttempt,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEvent,
} from './types.ts';
import { checkWebhookUrl, type WebhookUrlPolicy } from './url-policy.ts';
import { DeliveryWorker } from './worker.ts';

export const webhooksMigrations: Migration[] = loadMigrations(
  'webhooks',
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
);

export interface WebhooksOptions {
  db: Database;
  clock: Clock;
  /** 32 bytes; secrets are sealed under a key derived from it (the app passes the PII master key). */
  encryptionKey: Uint8Array;
  logger?: Logger;
  /** Per attempt, body included (default 5 s). */
  timeoutMs?: number;
  /** Waits after each failed attempt (default {@link defaultRetryDelaysMs}); attempts = length + 1. */
  retryDelaysMs?: readonly number[];
  /** How long a claimed delivery is hidden from other workers (default 2 min, business time). */
  leaseMs?: number;
  /** Deliveries claimed, and attempted concurrently, at a time by the job (default 50). */
  batchSize?: number;
  /** Attempt new deliveries at once in the background (default true); the job catches the rest. */
  immediate?: boolean;
  /**
   * Let webhooks go to this machine's loopback (127.0.0.1, [::1], localhost), plain http included:
   * for development, tests and the embedded demo (default false; the app passes
   * MILLET_WEBHOOKS_ALLOW_LOOPBACK). Private and link-local addresses are refused either way.
   */
  allowLoopback?: boolean;
  /**
   * Enabled endpoints one owner may have (default 20): adding or enabling one more is
   * WEBHOOK_ENDPOINT_LIMIT_EXCEEDED.
   */
  maxEndpointsPerOwner?: number;
  /** For tests; default node:dns `lookup` with `all: true`. */
  resolveHost?: ResolveHost;
  /** For tests; default Math.random (the retry jitter). */
  random?: () => number;
}

/** The webhooks module's public API. */
export interface Webhooks {
  /**
   * The URL, normalised, if this instance's policy lets a request go to it; otherwise
   * WEBHOOK_URL_INVALID naming `field` (default `url`). For URLs other modules take now and call
   * later (a payment order's notify_url, a marketplace partner's endpoint), so they are refused
   * when given, under the policy this instance was created with.
   */
  checkUrl(url: string, field?: string): string;
  /**
   * A `lookup` for connections other modules open to such URLs (undici's `connect.lookup`): it
   * resolves the host at connect time and refuses, with an AddressRefusedError
   * (`addressRefusal`), a name that now resolves to an address this instance's policy refuses, so
   * a URL checked when it was given cannot be rebound to this machine or the private network
   * later. Not called for IP literals: check the URL with `checkUrl` at the request too.
   */
  connectLookup(): LookupFunction;
  /** WEBHOOK_ENDPOINT_LIMIT_EXCEEDED when the owner already has the most enabled endpoints allowed. */
  createEndpoint(command: CreateEndpointCommand): Promise<CreatedWebhookEndpoint>;
  getEndpoint(id: string): Promise<WebhookEndpoint>;
  listEndpoints(query?: PageQuery & { ownerId?: string | undefined }): Promise<Page<WebhookEndpoint>>;
  /** Disabling fails the endpoint's pending deliveries; enabling one counts towards the owner's cap. */
  setEndpointEnabled(id: string, enabled: boolean): Promise<WebhookEndpoint>;
  /** Creates or replaces the owner's signing secret for notify-URL deliveries; shown once. */
  rotateOwnerSecret(ownerId: string): Promise<{ secret: string; previousExpiresAt: Date | null }>;
  /**
   * Records the event's deliveries (the outbox) and returns them; never waits for the HTTP calls.
   * With `tx` the deliveries commit with the caller's transaction, and the job sends them.
   */
  enqueue(event: WebhookEvent, tx?: Queryable): Promise<WebhookDelivery[]>;
  /**
   * Many events in the caller's transaction, in a few statements; a `url` that is not allowed or
   * cannot be signed is skipped (the owner's endpoints still get the event). The job sends them.
   */
  enqueueMany(events: readonly WebhookEvent[], tx: Queryable): Promise<number>;
  getDelivery(id: string): Promise<WebhookDelivery>;
  listDeliveries(query?: DeliveryQuery): Promise<Page<WebhookDelivery>>;
  listAttempts(deliveryId: string): Promise<WebhookAttempt[]>;
  /** A new attempt now, awaited (up to the timeout); one more even after success or failure. */
  redeliver(id: string): Promise<{ delivery: WebhookDelivery; attempt: WebhookAttempt }>;
  /** Attempts the deliveries that are due; the `webhooks.deliver` job. Returns how many. */
  deliverDue(limit?: number): Promise<number>;
  /**
   * Waits for background attempts started by enqueue and closes the kept connections; attempts
   * after it open new ones.
   */
  close(): Promise<void>;
}

export function createWebhooks(options: WebhooksOptions): Webhooks {
  const { db, clock, logger } = options;
  const retryDelaysMs = options.retryDelaysMs ?? defaultRetryDelaysMs;
  const urlPolicy: WebhookUrlPolicy = { allowLoopback: options.allowLoopback ?? false };
  const endpoints = new EndpointStore(
    db,
    clock,
    createSecretBox(options.encryptionKey),
    urlPolicy,
    options.maxEndpointsPerOwner,
  );
  const deliveries = new DeliveryStore(db, clock, endpoints, retryDelaysMs.length + 1, urlPolicy);
  const agents = new PinnedAgents();
  const resolveHost = options.resolveHost ?? resolveWithDns;
  const connectLookup = policyLookup(urlPolicy, resolveHost);
  const worker = new DeliveryWorker({
    db,
    clock,
    endpoints,
    urlPolicy,
    resolveHost,
    agents,
    timeoutMs: options.timeoutMs ?? 5_000,
    leaseMs: options.leaseMs ?? 2 * 60_000,
    retryDelaysMs,
    random: options.random ?? Math.random,
    logger,
  });
  const background = new Set<Promise<unknown>>();
  const inBackground = (work: Promise<unknown>) => {
    const tracked = work
      .catch((error: unknown) => logger?.error({ err: error }, 'background webhook attempt failed'))
      .finally(() => background.delete(tracked));
    background.add(tracked);
  };

  return {
    checkUrl: (url, field = 'url') => checkWebhookUrl(url, field, urlPolicy),
    connectLookup: () => connectLookup,
    createEndpoint: (command) => endpoints.create(command),
    getEndpoint: (id) => endpoints.get(id),
    listEndpoints: (query) => endpoints.list(query),
    setEndpointEnabled: (id, enabled) => endpoints.setEnabled(id, enabled),
    rotateOwnerSecret: (ownerId) => endpoints.rotateOwnerSecret(ownerId),
    async enqueue(event, tx) {
      const created = await deliveries.enqueue(event, tx);
      // Inside the caller's transaction the rows are not visible yet: the job sends them.
      if (!tx && created.length > 0 && options.immediate !== false)
        inBackground(worker.deliverDue({ ids: created.map((d) => d.id) }));
      return created;
    },
    enqueueMany: (events, tx) => deliveries.enqueueMany(events, tx),
    getDelivery: (id) => deliveries.get(id),
    listDeliveries: (query) => deliveries.list(query),
    listAttempts: (deliveryId) => deliveries.attempts(deliveryId),
    async redeliver(id) {
      const attemptId = await worker.redeliver(id);
      return { delivery: await deliveries.get(id), attempt: await deliveries.attempt(attemptId) };
    },
    deliverDue: (limit) => worker.deliverDue({ limit, batchSize: options.batchSize }),
    async close() {
      while (background.size > 0) await Promise.all([...background]);
      await agents.close();
    },
  };
}
