import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MilletError } from '../../core/index.ts';
import type { Database } from '../../db/index.ts';

const READY_TIMEOUT_MS = 2_000;

const healthStatus = z.object({ status: z.literal('ok') });
const readyStatus = z.object({ status: z.literal('ok'), database: z.literal('ok') });

async function databaseAnswers(db: Database): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), READY_TIMEOUT_MS);
  });
  try {
    await Promise.race([db.query('SELECT 1'), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Liveness says the process serves; readiness says it can do its job (the database answers). */
export const healthRoutes: FastifyPluginAsyncZod<{ db: Database }> = async (app, { db }) => {
  app.get(
    '/health/live',
    { schema: { tags: ['health'], summary: 'The process is serving', response: { 200: healthStatus } } },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/health/ready',
    {
      schema: {
        tags: ['health'],
        summary: 'The database answers; 503 problem otherwise',
        response: { 200: readyStatus },
      },
    },
    async (request) => {
      try {
        await databaseAnswers(db);
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check failed');
        throw new MilletError('DATABASE_UNAVAILABLE', 'The database does not answer');
      }
      return { status: 'ok' as const, database: 'ok' as const };
    },
  );
};
