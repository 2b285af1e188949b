import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { divRound, formatBasisPoints, formatMinorUnits } from '../../core/index.ts';
import type {
  InstalmentPlan,
  Movement,
  OfferView,
  Paylater,
  PaylaterLine,
  PaylaterProduct,
  PaylaterStatement,
} from '../../paylater/index.ts';
import { commandIdFor } from '../idempotency-hooks.ts';
import {
  amountInput,
  amountOutput,
  idParams,
  optionalCommandId,
  pageOf,
  pageQuery,
  timestampOutput,
} from '../schemas.ts';

const tags = ['paylater'];
const ppmInput = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,6})$/)
  .transform((t) => BigInt(t))
  .meta({ description: 'A daily rate in millionths as a string ("400" = 0.04 % a day)', example: '400' });

const productOutput = z.object({
  id: z.string(),
  code: z.string(),
  version: z.number().int(),
  name: z.string(),
  mode: z.enum(['statement', 'daily']),
  statement_day: z.number().int(),
  due_days: z.number().int(),
  daily_rate_ppm: z.string(),
  revolving_rate_ppm: z.string(),
  penalty_multiplier_bp: z.number().int(),
  min_payment_bp: z.number().int(),
  suspend_after_days: z.number().int(),
  instalment_fees_bp: z.record(z.string(), z.number().int()),
  created_at: timestampOutput,
});

const productJson = (p: PaylaterProduct) => ({
  id: p.id,
  code: p.code,
  version: p.version,
  name: p.name,
  mode: p.mode,
  statement_day: p.statementDay,
  due_days: p.dueDays,
  daily_rate_ppm: p.dailyRatePpm.toString(),
  revolving_rate_ppm: p.revolvingRatePpm.toString(),
  penalty_multiplier_bp: p.penaltyMultiplierBp,
  min_payment_bp: p.minPaymentBp,
  suspend_after_days: p.suspendAfterDays,
  instalment_fees_bp: p.instalmentFees,
  created_at: p.createdAt.toISOString(),
});

const statementOutput = z.object({
  id: z.string(),
  statement_date: z.string(),
  due_date: z.string(),
  status: z.enum(['open', 'paid', 'overdue']),
  total_due: amountOutput,
  unpaid: amountOutput,
  min_payment: amountOutput,
  principal: amountOutput,
  converted_principal: amountOutput.meta({ description: 'Principal turned into instalments' }),
  instalment_principal: amountOutput.meta({
    description: 'Of the principal, instalment months billed (already in a plan; not convertible again)',
  }),
  convertible_principal: amountOutput.meta({
    description:
      'Its purchases still unpaid: what turning it into instalments would split (up to its due date)',
  }),
  fees: amountOutput,
  interest: amountOutput,
  penalty: amountOutput,
  paid: amountOutput,
  carried: amountOutput.meta({ description: 'Older statements still unpaid when this one was issued' }),
  min_paid_on: z.string().nullable(),
  paid_on: z.string().nullable(),
});

const statementJson = (s: PaylaterStatement) => ({
  id: s.id,
  statement_date: s.statementDate,
  due_date: s.dueDate,
  status: s.status,
  total_due: s.totalDue.toString(),
  unpaid: s.unpaid.toString(),
  min_payment: s.minPayment.toString(),
  principal: s.principal.toString(),
  converted_principal: s.convertedPrincipal.toString(),
  instalment_principal: s.instalmentPrincipal.toString(),
  convertible_principal: s.convertiblePrincipal.toString(),
  fees: s.fees.toString(),
  interest: s.interest.toString(),
  penalty: s.penalty.toString(),
  paid: s.paid.toString(),
  carried: s.carried.toString(),
  min_paid_on: s.minPaidOn,
  paid_on: s.paidOn,
});

const lineOutput = z.object({
  id: z.string(),
  product_id: z.string(),
  mode: z.enum(['statement', 'daily']),
  status: z.enum(['active', 'suspended']),
  limit: amountOutput,
  available: amountOutput,
  used: amountOutput.meta({ description: 'Principal owed: billed, unbilled and future instalments' }),
  unbilled: amountOutput,
  instalment_principal: amountOutput,
  accrued_interest: amountOutput.meta({ description: 'Daily mode: interest since the last statement' }),
  total_owed: amountOutput.meta({
    description:
      'Everything that would pay the line off now (statements, unbilled, instalments not billed yet; their future fees waived): a repayment of exactly this clears the line',
  }),
  auto_repay: z.boolean(),
  statement_day: z
    .number()
    .int()
    .meta({ description: 'Day of month billed (daily mode: the repayment date)' }),
  score: z.number().int(),
  bill: statementOutput.nullable().meta({ description: 'The latest statement' }),
  opened_at: timestampOutput,
});

const lineJson = (l: PaylaterLine) => ({
  id: l.id,
  product_id: l.productId,
  mode: l.mode,
  status: l.status,
  limit: l.limit.toString(),
  available: l.available.toString(),
  used: l.used.toString(),
  unbilled: l.unbilled.toString(),
  instalment_principal: l.instalmentPrincipal.toString(),
  accrued_interest: l.accruedInterest.toString(),
  total_owed: l.totalOwed.toString(),
  auto_repay: l.autoRepay,
  statement_day: l.statementDay,
  score: l.score,
  bill: l.bill && statementJson(l.bill),
  opened_at: l.openedAt.toISOString(),
});

// The APR comes first and in the headline; the fee rate is secondary (PBoC Announcement [2021] No. 3).
const offerOutput = z.object({
  apr_percent: z.string().meta({ description: 'Annual percentage rate: the IRR of the payments, ×12' }),
  headline: z.string().meta({ example: 'APR 13.72% · 3 × 378.89' }),
  terms: z.number().int(),
  principal: amountOutput,
  fee: amountOutput,
  fee_payer: z.enum(['user', 'merchant']),
  first_payment: amountOutput,
  later_payment: amountOutput,
  fee_rate_percent: z
    .string()
    .meta({ description: 'The whole fee as a share of the principal (not an annual rate)' }),
});

const offerJson = (o: OfferView) => ({
  apr_percent: o.apr.percent,
  headline: `APR ${formatBasisPoints(divRound(o.apr.percentE4, 100n, 'half_even'))}% · ${o.terms} × ${formatMinorUnits(o.laterPayment, 'CNY')}`,
  terms: o.terms,
  principal: o.principal.toString(),
  fee: o.fee.toString(),
  fee_payer: o.feePayer,
  first_payment: o.firstPayment.toString(),
  later_payment: o.laterPayment.toString(),
  fee_rate_percent: o.feePayer === 'user' ? formatBasisPoints(o.feeRateBp) : '0.00',
});

const planOutput = z.object({
  id: z.string(),
  apr_percent: z.string(),
  source: z.enum(['checkout', 'statement']),
  source_id: z.string(),
  terms: z.number().int(),
  principal: amountOutput,
  fee: amountOutput,
  fee_payer: z.enum(['user', 'merchant']),
  periods: z.array(
    z.object({
      period: z.number().int(),
      principal: amountOutput,
      fee: amountOutput,
      settled_principal: amountOutput,
      billed: z.boolean(),
    }),
  ),
});

const planJson = (p: InstalmentPlan) => ({
  id: p.id,
  apr_percent: p.aprPercent,
  source: p.source,
  source_id: p.sourceId,
  terms: p.terms,
  principal: p.principal.toString(),
  fee: p.fee.toString(),
  fee_payer: p.feePayer,
  periods: p.periods.map((x) => ({
    period: x.period,
    principal: x.principal.toString(),
    fee: x.fee.toString(),
    settled_principal: x.settledPrincipal.toString(),
    billed: x.statementId !== null,
  })),
});

const movementOutput = z.object({
  id: z.string(),
  kind: z.enum(['repayment', 'auto_repayment', 'settlement', 'refund']),
  amount: amountOutput,
  principal: amountOutput,
  charges: amountOutput.meta({ description: 'Penalties, fees and interest paid' }),
  status: z.enum(['pending', 'succeeded', 'failed']),
  business_date: z.string(),
});

const movementJson = (m: Movement) => ({
  id: m.id,
  kind: m.kind,
  amount: m.amount.toString(),
  principal: m.principal.toString(),
  charges: m.charges.toString(),
  status: m.status,
  business_date: m.businessDate,
});

/** Operator routes under /v1/operator/paylater (scope `paylater:admin`). */
export const paylaterOperatorRoutes: FastifyPluginAsyncZod<{ paylater: Paylater }> = async (
  app,
  { paylater },
) => {
  const config = { scope: 'paylater:admin' as const };

  app.post(
    '/products',
    {
      config,
      schema: {
        tags,
        summary: 'Create a pay-later product, or a new version of one (same code)',
        description:
          'Statement mode (Huabei): statement on statement_day, due due_days later, interest-free when paid in full by then. Daily mode (Fenfu): interest from the day of use at daily_rate_ppm. Rates whose ×365 or whose instalment APR exceeds 24% are refused (APR_ABOVE_CAP).',
        body: z.object({
          id: optionalCommandId,
          code: z.string().min(2).max(32),
          name: z.string().min(1).max(100),
          mode: z.enum(['statement', 'daily']),
          statement_day: z.number().int().min(1).max(31),
          due_days: z.number().int().min(1).max(28),
          daily_rate_ppm: ppmInput,
          revolving_rate_ppm: ppmInput,
          penalty_multiplier_bp: z.number().int().min(10_000).max(50_000),
          min_payment_bp: z.number().int().min(1).max(10_000),
          suspend_after_days: z.number().int().min(1).max(365),
          instalment_fees_bp: z.record(
            z.string().regex(/^[1-9][0-9]?$/),
            z.number().int().min(0).max(10_000),
          ),
        }),
        response: { 201: productOutput },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const product = await paylater.createProduct({
        id: commandIdFor(request, b.id),
        code: b.code,
        name: b.name,
        mode: b.mode,
        statementDay: b.statement_day,
        dueDays: b.due_days,
        dailyRatePpm: b.daily_rate_ppm,
        revolvingRatePpm: b.revolving_rate_ppm,
        penaltyMultiplierBp: b.penalty_multiplier_bp,
        minPaymentBp: b.min_payment_bp,
        suspendAfterDays: b.suspend_after_days,
        instalmentFees: b.instalment_fees_bp,
      });
      return reply.code(201).send(productJson(product));
    },
  );

  app.get(
    '/products',
    {
      config,
      schema: {
        tags,
        summary: 'Every product version',
        response: { 200: z.object({ items: z.array(productOutput) }) },
      },
    },
    async () => ({ items: (await paylater.listProducts()).map(productJson) }),
  );

  const bandsOutput = z.object({
    version: z.number().int(),
    bands: z.array(z.object({ min_score: z.number().int(), limit: amountOutput })),
  });
  const bandsJson = (t: Awaited<ReturnType<Paylater['limitBands']>>) => ({
    version: t.version,
    bands: t.bands.map((b) => ({ min_score: b.minScore, limit: b.limit.toString() })),
  });
  app.post(
    '/limit-bands',
    {
      config,
      schema: {
        tags,
        summary: 'Set the score-band → limit table (a new version; lines opened from now use it)',
        body: z.object({
          bands: z
            .array(z.object({ min_score: z.number().int().min(350).max(950), limit: amountInput }))
            .min(1)
            .max(50),
        }),
        response: { 201: bandsOutput },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          bandsJson(
            await paylater.setLimitBands(
              request.body.bands.map((b) => ({ minScore: b.min_score, limit: b.limit })),
            ),
          ),
        ),
  );
  app.get(
    '/limit-bands',
    {
      config,
      schema: { tags, summary: 'The current score-band → limit table', response: { 200: bandsOutput } },
    },
    async () => bandsJson(await paylater.limitBands()),
  );
};

/** The logged-in user's pay-later line. */
export const paylaterRoutes: FastifyPluginAsyncZod<{ paylater: Paylater }> = async (app, { paylater }) => {
  const user = { userAuth: true } as const;

  app.post(
    '/paylater/line',
    {
      config: user,
      schema: {
        tags,
        summary: 'Open my pay-later line (limit from my credit score)',
        description:
          'Needs a verified adult with a credit score; the limit comes from the operators’ score-band table (Class I accounts are capped at 1,000.00). PAYLATER_NOT_ELIGIBLE says why not.',
        body: z.object({ product_id: z.uuid() }),
        response: { 201: lineOutput },
      },
    },
    async (request, reply) =>
      reply.code(201).send(
        lineJson(
          await paylater.openLine({
            id: commandIdFor(request),
            userId: request.user!.userId,
            productId: request.body.product_id,
          }),
        ),
      ),
  );

  app.get(
    '/paylater/products',
    {
      config: user,
      schema: {
        tags,
        summary: 'The pay-later products a line can be opened on (the latest version of each)',
        response: { 200: z.object({ items: z.array(productOutput) }) },
      },
    },
    async () => ({ items: latestVersions(await paylater.listProducts()).map(productJson) }),
  );

  app.get(
    '/paylater/line',
    {
      config: user,
      schema: { tags, summary: 'My line: limit, available, the current bill', response: { 200: lineOutput } },
    },
    async (request) => lineJson(await paylater.getLine(request.user!.userId)),
  );

  app.get(
    '/paylater/statements',
    {
      config: user,
      schema: {
        tags,
        summary: 'My statements, newest first',
        querystring: z.object(pageQuery),
        response: { 200: pageOf(statementOutput) },
      },
    },
    async (request) => {
      const page = await paylater.listStatements(request.user!.userId, request.query);
      return { items: page.items.map(statementJson), next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/paylater/statements/:id',
    {
      config: user,
      schema: { tags, summary: 'One statement', params: idParams, response: { 200: statementOutput } },
    },
    async (request) => statementJson(await paylater.getStatement(request.user!.userId, request.params.id)),
  );

  app.get(
    '/paylater/statements/:id/instalment-offers',
    {
      config: user,
      schema: {
        tags,
        summary: 'Instalment offers for a statement, each with its APR',
        params: idParams,
        response: { 200: z.object({ items: z.array(offerOutput) }) },
      },
    },
    async (request) => ({
      items: (await paylater.statementOffers(request.user!.userId, request.params.id)).map(offerJson),
    }),
  );

  app.post(
    '/paylater/statements/:id/instalments',
    {
      config: user,
      schema: {
        tags,
        summary: 'Turn a statement into monthly instalments (billed from the next statement)',
        description:
          'Only the statement’s new purchases are split and charged the fee: instalment months it bills (instalment_principal), fees, interest and penalties stay due on it. A statement with no new purchases, partly paid or past its due date is 409 PAYLATER_STATEMENT_NOT_CONVERTIBLE.',
        params: idParams,
        body: z.object({ terms: z.number().int().min(1).max(99) }),
        response: { 201: planOutput },
      },
    },
    async (request, reply) =>
      reply.code(201).send(
        planJson(
          await paylater.convertStatement({
            userId: request.user!.userId,
            statementId: request.params.id,
            terms: request.body.terms,
          }),
        ),
      ),
  );

  app.get(
    '/paylater/instalment-offers',
    {
      config: user,
      schema: {
        tags,
        summary: 'Instalment offers for a checkout of `amount`, each with its APR',
        querystring: z.object({ amount: amountInput, fee_payer: z.enum(['user', 'merchant']).optional() }),
        response: { 200: z.object({ items: z.array(offerOutput) }) },
      },
    },
    async (request) => ({
      items: (
        await paylater.checkoutOffers(request.user!.userId, request.query.amount, request.query.fee_payer)
      ).map(offerJson),
    }),
  );

  app.get(
    '/paylater/plans',
    {
      config: user,
      schema: {
        tags,
        summary: 'My instalment plans',
        response: { 200: z.object({ items: z.array(planOutput) }) },
      },
    },
    async (request) => ({ items: (await paylater.listPlans(request.user!.userId)).map(planJson) }),
  );

  app.post(
    '/paylater/plans/:id/settle',
    {
      config: user,
      schema: {
        tags,
        summary: 'Settle an instalment plan early from my wallet (fees of months not billed are waived)',
        params: idParams,
        body: z.object({}).optional(),
        response: { 201: movementOutput },
      },
    },
    async (request, reply) =>
      reply.code(201).send(
        movementJson(
          await paylater.settlePlan({
            id: commandIdFor(request),
            userId: request.user!.userId,
            planId: request.params.id,
          }),
        ),
      ),
  );

  app.post(
    '/paylater/repayments',
    {
      config: user,
      schema: {
        tags,
        summary: 'Repay any amount now from my wallet',
        description:
          "Allocated to penalties, then fees and interest, then principal, oldest statement first; then (daily mode) interest accrued and unbilled principal; then, as an early payoff, instalment principal not billed yet (last month first; the fees of months it clears are never billed, a month cleared in part is billed its fee pro rata). The line's total_owed pays everything off; more than that is 422 PAYLATER_REPAYMENT_EXCEEDS_BALANCE.",
        body: z.object({ id: optionalCommandId, amount: amountInput }),
        response: { 201: movementOutput },
      },
    },
    async (request, reply) =>
      reply.code(201).send(
        movementJson(
          await paylater.repay({
            id: commandIdFor(request, request.body.id),
            userId: request.user!.userId,
            amount: request.body.amount,
          }),
        ),
      ),
  );

  app.post(
    '/paylater/auto-repay',
    {
      config: user,
      schema: {
        tags,
        summary: 'Turn auto-repayment from my wallet on the due date on or off',
        body: z.object({ enabled: z.boolean() }),
        response: { 200: lineOutput },
      },
    },
    async (request) => lineJson(await paylater.setAutoRepay(request.user!.userId, request.body.enabled)),
  );

  app.post(
    '/paylater/repayment-day',
    {
      config: user,
      schema: {
        tags,
        summary: 'Daily mode: choose the day of month I repay (1–28)',
        body: z.object({ day: z.number().int().min(1).max(28) }),
        response: { 200: lineOutput },
      },
    },
    async (request) => lineJson(await paylater.setRepaymentDay(request.user!.userId, request.body.day)),
  );
};

/** The newest version of each product code, in code order. */
function latestVersions(products: readonly PaylaterProduct[]): PaylaterProduct[] {
  const latest = new Map<string, PaylaterProduct>();
  for (const p of products) {
    const seen = latest.get(p.code);
    if (!seen || p.version > seen.version) latest.set(p.code, p);
  }
  return [...latest.values()].sort((a, b) => a.code.localeCompare(b.code));
}
