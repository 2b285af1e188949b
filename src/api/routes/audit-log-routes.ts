import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AuditEntry, AuditLog } from '../audit-log.ts';
import { pageOf, pageQuery, timestampOutput } from '../schemas.ts';

const auditEntryOutput = z.object({
  id: z.string(),
  occurred_at: timestampOutput,
  actor_kind: z.enum(['operator', 'merchant', 'partner']),
  actor_id: z
    .string()
    .meta({ description: 'The operator key id, the merchant id, or the marketplace partner id' }),
  actor_name: z
    .string()
    .nullable()
    .meta({ description: "The operator key's name, or the merchant key used" }),
  method: z.string(),
  route: z.string().meta({ description: 'The route pattern, e.g. /v1/operator/merchants/:id/status' }),
  path: z.string(),
  params: z.record(z.string(), z.string()),
  resource_id: z.string().nullable(),
  status: z.number().int().meta({ description: 'The HTTP status answered: refusals are recorded too' }),
  replayed: z.boolean().meta({ description: 'An idempotent retry answered with the stored response' }),
  request_id: z.string(),
});

const entryJson = (e: AuditEntry): z.input<typeof auditEntryOutput> => ({
  id: e.id,
  occurred_at: e.occurredAt.toISOString(),
  actor_kind: e.actorKind,
  actor_id: e.actorId,
  actor_name: e.actorName,
  method: e.method,
  route: e.route,
  path: e.path,
  params: e.params,
  resource_id: e.resourceId,
  status: e.status,
  replayed: e.replayed,
  request_id: e.requestId,
});

/** Read only, on purpose: the audit log has no route that changes or deletes an entry. */
export const auditLogRoutes: FastifyPluginAsyncZod<{ auditLog: AuditLog }> = async (app, { auditLog }) => {
  app.get(
    '/audit-log',
    {
      config: { scope: 'operators:admin' },
      schema: {
        tags: ['operators'],
        summary: 'The append-only audit log of operator, merchant and partner actions, newest first',
        querystring: z.object({
          ...pageQuery,
          actor_kind: z.enum(['operator', 'merchant', 'partner']).optional(),
          actor_id: z.string().max(100).optional(),
        }),
        response: { 200: pageOf(auditEntryOutput) },
      },
    },
    async (request) => {
      const page = await auditLog.list({
        actorKind: request.query.actor_kind,
        actorId: request.query.actor_id,
        cursor: request.query.cursor,
        limit: request.query.limit,
      });
      return { items: page.items.map(entryJson), next_cursor: page.nextCursor };
    },
  );
};
