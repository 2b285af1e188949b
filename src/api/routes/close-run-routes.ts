import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CloseRunView, EndOfDayClose } from '../../jobs/index.ts';
import { timestampOutput } from '../schemas.ts';

const runOutput = z.object({
  business_date: z.string(),
  status: z.enum(['running', 'completed', 'failed']),
  started_at: timestampOutput,
  finished_at: timestampOutput.nullable(),
  error: z.string().nullable(),
  steps: z.array(
    z.object({
      step: z.string(),
      status: z.enum(['pending', 'running', 'completed', 'failed']),
      done: z.string().meta({ description: 'Items the step has processed (an integer as a string)' }),
      total: z.string().nullable(),
      error: z.string().nullable(),
    }),
  ),
});

const runJson = (run: CloseRunView): z.input<typeof runOutput> => ({
  business_date: run.businessDate,
  status: run.status,
  started_at: run.startedAt.toISOString(),
  finished_at: run.finishedAt?.toISOString() ?? null,
  error: run.error,
  steps: run.steps.map((s) => ({
    step: s.step,
    status: s.status,
    done: s.done.toString(),
    total: s.total === null ? null : s.total.toString(),
    error: s.error,
  })),
});

const tags = ['jobs'];

/** The end-of-day close for operators under /v1/operator/close-runs: runs with progress, start one. */
export const closeRunRoutes: FastifyPluginAsyncZod<{ endOfDay: EndOfDayClose }> = async (
  app,
  { endOfDay },
) => {
  app.get(
    '/',
    {
      config: { scope: 'ledger:read' },
      schema: {
        tags,
        summary: 'The latest end-of-day close runs, newest first, with each step’s progress',
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(366).optional() }),
        response: {
          200: z.object({ items: z.array(runOutput), last_closed_date: z.string().nullable() }),
        },
      },
    },
    async (request) => ({
      items: (await endOfDay.listRuns(request.query.limit)).map(runJson),
      last_closed_date: await endOfDay.lastClosedDate(),
    }),
  );

  app.post(
    '/',
    {
      config: { scope: 'ledger:write' },
      schema: {
        tags,
        summary: 'Close a business date (default: yesterday, Asia/Shanghai); answers when it is done',
        description:
          'Dates close in order; closing a completed date again returns its run. A failed close resumes at the step that stopped. ' +
          'fast_forward closes a date that has not ended yet (demos). Poll GET /v1/operator/close-runs for progress meanwhile.',
        body: z.object({
          business_date: z
            .string()
            .regex(/^\d{4}-\d{2}-\d{2}$/)
            .optional(),
          fast_forward: z.boolean().optional(),
        }),
        response: { 200: runOutput },
      },
    },
    async (request) =>
      runJson(
        await endOfDay.close(request.body.business_date, { fastForward: request.body.fast_forward ?? false }),
      ),
  );
};
