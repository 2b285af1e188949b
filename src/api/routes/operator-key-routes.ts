import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { operatorScopes, type OperatorKey, type OperatorKeyStore } from '../operator-keys.ts';
import { idParams, pageOf, pageQuery, timestampOutput } from '../schemas.ts';

const operatorKeyOutput = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(z.enum(operatorScopes)),
  display: z
    .string()
    .meta({ description: 'How to show the key to people: its prefix and last four characters' }),
  prefix: z.string(),
  last4: z.string(),
  created_at: timestampOutput,
  created_by: z.string().nullable(),
  revoked_at: timestampOutput.nullable(),
});

const createdOperatorKeyOutput = operatorKeyOutput.extend({
  key: z.string().nullable().meta({
    description: 'The key itself, shown this once; null when an idempotent retry replays the creation',
  }),
});

function operatorKeyJson(key: OperatorKey): z.input<typeof operatorKeyOutput> {
  return {
    id: key.id,
    name: key.name,
    scopes: key.scopes,
    display: `${key.prefix}…${key.last4}`,
    prefix: key.prefix,
    last4: key.last4,
    created_at: key.createdAt.toISOString(),
    created_by: key.createdBy,
    revoked_at: key.revokedAt ? key.revokedAt.toISOString() : null,
  };
}

export const operatorKeyRoutes: FastifyPluginAsyncZod<{ operatorKeys: OperatorKeyStore }> = async (
  app,
  { operatorKeys },
) => {
  app.post(
    '/api-keys',
    {
      // The stored idempotent response must not hold the secret: a replay shows key: null.
      config: { scope: 'operators:admin', idempotencyRedact: ['key'] },
      schema: {
        tags: ['operators'],
        summary: 'Create an operator API key; the response carries the key, shown once',
        body: z.object({
          name: z.string().trim().min(1).max(100),
          scopes: z.array(z.enum(operatorScopes)).min(1),
        }),
        response: { 201: createdOperatorKeyOutput },
      },
    },
    async (request, reply) => {
      const created = await operatorKeys.create({ ...request.body, createdBy: request.operator?.id ?? null });
      return reply.code(201).send({ ...operatorKeyJson(created.key), key: created.plaintext });
    },
  );

  app.get(
    '/api-keys',
    {
      config: { scope: 'operators:admin' },
      schema: {
        tags: ['operators'],
        summary: 'List operator API keys (never their secrets)',
        querystring: z.object(pageQuery),
        response: { 200: pageOf(operatorKeyOutput) },
      },
    },
    async (request) => {
      const page = await operatorKeys.list(request.query);
      return { items: page.items.map(operatorKeyJson), next_cursor: page.nextCursor };
    },
  );

  app.post(
    '/api-keys/:id/revoke',
    {
      config: { scope: 'operators:admin' },
      schema: {
        tags: ['operators'],
        summary: 'Revoke an operator API key; it stops working at once',
        params: idParams,
        response: { 200: operatorKeyOutput },
      },
    },
    async (request) => operatorKeyJson(await operatorKeys.revoke(request.params.id)),
  );
};
