import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { WebhookAttempt, WebhookDelivery, WebhookEndpoint, Webhooks } from '../../webhooks/index.ts';
import { idParams, pageOf, pageQuery, timestampOutput } from '../schemas.ts';

/**
 * Operator routes for webhooks under /v1/operator/webhooks (scope `webhooks:admin`). Owners are
 * merchant ids; merchant-facing variants of these routes can wrap the same module functions.
 */
export const endpointOutput = z.object({
  id: z.string(),
  owner_id: z.string(),
  url: z.string(),
  description: z.string().nullable(),
  event_types: z.array(z.string()).meta({ description: 'Empty: every event type' }),
  enabled: z.boolean(),
  created_at: timestampOutput,
  updated_at: timestampOutput,
});

const deliveryOutput = z.object({
  id: z.string(),
  message_id: z.string().meta({ description: 'The webhook-id header' }),
  owner_id: z.string(),
  endpoint_id: z.string().nullable().meta({ description: 'Null for a per-event notify URL' }),
  url: z.string(),
  event_type: z.string(),
  body: z.string().meta({ description: 'The exact JSON text sent' }),
  status: z.enum(['pending', 'succeeded', 'failed']),
  attempts: z.number().int(),
  max_attempts: z.number().int(),
  next_attempt_at: timestampOutput.nullable(),
  last_status_code: z.number().int().nullable(),
  last_error: z.string().nullable(),
  created_at: timestampOutput,
  updated_at: timestampOutput,
  succeeded_at: timestampOutput.nullable(),
});

const attemptOutput = z.object({
  id: z.string(),
  delivery_id: z.string(),
  attempt: z.number().int(),
  trigger: z.enum(['scheduled', 'redeliver']),
  started_at: timestampOutput,
  outcome: z.enum(['succeeded', 'failed', 'abandoned']).nullable(),
  duration_ms: z.number().int().nullable(),
  status_code: z.number().int().nullable(),
  error: z.string().nullable(),
  response_body: z.string().nullable().meta({ description: 'The first 4 KiB of the response' }),
});

const iso = (date: Date | null) => (date ? date.toISOString() : null);

export const endpointJson = (e: WebhookEndpoint): z.input<typeof endpointOutput> => ({
  id: e.id,
  owner_id: e.ownerId,
  url: e.url,
  description: e.description,
  event_types: e.eventTypes,
  enabled: e.enabled,
  created_at: e.createdAt.toISOString(),
  updated_at: e.updatedAt.toISOString(),
});

const deliveryJson = (d: WebhookDelivery): z.input<typeof deliveryOutput> => ({
  id: d.id,
  message_id: d.messageId,
  owner_id: d.ownerId,
  endpoint_id: d.endpointId,
  url: d.url,
  event_type: d.eventType,
  body: d.body,
  status: d.status,
  attempts: d.attempts,
  max_attempts: d.maxAttempts,
  next_attempt_at: iso(d.nextAttemptAt),
  last_status_code: d.lastStatusCode,
  last_error: d.lastError,
  created_at: d.createdAt.toISOString(),
  updated_at: d.updatedAt.toISOString(),
  succeeded_at: iso(d.succeededAt),
});

const attemptJson = (a: WebhookAttempt): z.input<typeof attemptOutput> => ({
  id: a.id,
  delivery_id: a.deliveryId,
  attempt: a.attempt,
  trigger: a.trigger,
  started_at: a.startedAt.toISOString(),
  outcome: a.outcome,
  duration_ms: a.durationMs,
  status_code: a.statusCode,
  error: a.error,
  response_body: a.responseBody,
});

const secretOutput = z.string().nullable().meta({
  description: 'whsec_… shown this once; null when an idempotent retry replays the creation',
});

const tags = ['webhooks'];
const config = { scope: 'webhooks:admin' as const };

export const webhookRoutes: FastifyPluginAsyncZod<{ webhooks: Webhooks }> = async (app, { webhooks }) => {
  app.post(
    '/endpoints',
    {
      config: { ...config, idempotencyRedact: ['secret'] },
      schema: {
        tags,
        summary: 'Create a webhook endpoint; the response carries its signing secret, shown once',
        description:
          'The URL must be https; plain http is accepted only for 127.0.0.1 and localhost (development).',
        body: z.object({
          owner_id: z.string().min(1).max(100),
          url: z.string().min(1).max(2000),
          event_types: z.array(z.string()).max(100).optional(),
          description: z.string().max(200).nullable().optional(),
        }),
        response: { 201: endpointOutput.extend({ secret: secretOutput }) },
      },
    },
    async (request, reply) => {
      const { owner_id, url, event_types, description } = request.body;
      const created = await webhooks.createEndpoint({
        ownerId: owner_id,
        url,
        eventTypes: event_types,
        description,
      });
      return reply.code(201).send({ ...endpointJson(created.endpoint), secret: created.secret });
    },
  );

  app.get(
    '/endpoints',
    {
      config,
      schema: {
        tags,
        summary: 'List webhook endpoints (never their secrets)',
        querystring: z.object({ ...pageQuery, owner_id: z.string().max(100).optional() }),
        response: { 200: pageOf(endpointOutput) },
      },
    },
    async (request) => {
      const { owner_id, ...page } = request.query;
      const result = await webhooks.listEndpoints({ ...page, ownerId: owner_id });
      return { items: result.items.map(endpointJson), next_cursor: result.nextCursor };
    },
  );

  app.get(
    '/endpoints/:id',
    {
      config,
      schema: { tags, summary: 'One webhook endpoint', params: idParams, response: { 200: endpointOutput } },
    },
    async (request) => endpointJson(await webhooks.getEndpoint(request.params.id)),
  );

  for (const [action, enabled] of [
    ['disable', false],
    ['enable', true],
  ] as const)
    app.post(
      `/endpoints/:id/${action}`,
      {
        config,
        schema: {
          tags,
          summary: enabled
            ? 'Enable a webhook endpoint'
            : 'Disable a webhook endpoint; its pending deliveries are marked failed',
          params: idParams,
          response: { 200: endpointOutput },
        },
      },
      async (request) => endpointJson(await webhooks.setEndpointEnabled(request.params.id, enabled)),
    );

  app.post(
    '/owners/:owner_id/signing-secret',
    {
      config: { ...config, idempotencyRedact: ['secret'] },
      schema: {
        tags,
        summary: "Create or rotate an owner's signing secret for per-event notify URLs; shown once",
        description:
          'After a rotation the previous secret keeps signing too (a second v1 signature) for 24 h.',
        params: z.object({ owner_id: z.string().min(1).max(100) }),
        response: {
          201: z.object({
            owner_id: z.string(),
            secret: secretOutput,
            previous_expires_at: timestampOutput.nullable(),
          }),
        },
      },
    },
    async (request, reply) => {
      const rotated = await webhooks.rotateOwnerSecret(request.params.owner_id);
      return reply.code(201).send({
        owner_id: request.params.owner_id,
        secret: rotated.secret,
        previous_expires_at: iso(rotated.previousExpiresAt),
      });
    },
  );

  app.post(
    '/events',
    {
      config,
      schema: {
        tags,
        summary: "Send an event to an owner's endpoints (and a notify URL); for tests and support",
        body: z.object({
          owner_id: z.string().min(1).max(100),
          event_type: z.string().min(1).max(100),
          payload: z.record(z.string(), z.unknown()),
          url: z.string().max(2000).nullable().optional(),
        }),
        response: { 202: z.object({ items: z.array(deliveryOutput) }) },
      },
    },
    async (request, reply) => {
      const { owner_id, event_type, payload, url } = request.body;
      const created = await webhooks.enqueue({ ownerId: owner_id, eventType: event_type, payload, url });
      return reply.code(202).send({ items: created.map(deliveryJson) });
    },
  );

  app.get(
    '/deliveries',
    {
      config,
      schema: {
        tags,
        summary: 'List webhook deliveries, newest first',
        querystring: z.object({
          ...pageQuery,
          owner_id: z.string().max(100).optional(),
          endpoint_id: z.string().max(100).optional(),
          status: z.enum(['pending', 'succeeded', 'failed']).optional(),
        }),
        response: { 200: pageOf(deliveryOutput) },
      },
    },
    async (request) => {
      const { owner_id, endpoint_id, status, ...page } = request.query;
      const result = await webhooks.listDeliveries({
        ...page,
        ownerId: owner_id,
        endpointId: endpoint_id,
        status,
      });
      return { items: result.items.map(deliveryJson), next_cursor: result.nextCursor };
    },
  );

  app.get(
    '/deliveries/:id',
    {
      config,
      schema: {
        tags,
        summary: 'One webhook delivery with its attempts',
        params: idParams,
        response: { 200: deliveryOutput.extend({ attempt_log: z.array(attemptOutput) }) },
      },
    },
    async (request) => {
      const delivery = await webhooks.getDelivery(request.params.id);
      const attempts = await webhooks.listAttempts(delivery.id);
      return { ...deliveryJson(delivery), attempt_log: attempts.map(attemptJson) };
    },
  );

  app.get(
    '/deliveries/:id/attempts',
    {
      config,
      schema: {
        tags,
        summary: "A delivery's attempts, first first",
        params: idParams,
        response: { 200: z.object({ items: z.array(attemptOutput) }) },
      },
    },
    async (request) => ({ items: (await webhooks.listAttempts(request.params.id)).map(attemptJson) }),
  );

  app.post(
    '/deliveries/:id/redeliver',
    {
      config,
      schema: {
        tags,
        summary: 'Attempt a delivery again now; answers with the attempt (waits for it, up to 5 s)',
        params: idParams,
        response: { 200: z.object({ delivery: deliveryOutput, attempt: attemptOutput }) },
      },
    },
    async (request) => {
      const result = await webhooks.redeliver(request.params.id);
      return { delivery: deliveryJson(result.delivery), attempt: attemptJson(result.attempt) };
    },
  );
};
