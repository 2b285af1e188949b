import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  formatRate,
  formatYieldMilli,
  MAX_YIELD_DAYS,
  parseRate,
  type DailyYield,
  type Product,
  type Redemption,
  type Subscription,
  type Wealth,
} from '../../wealth/index.ts';
import { isBusinessDate } from '../../jobs/index.ts';
import { commandIdFor } from '../idempotency-hooks.ts';
import { amountInput, amountOutput, idParams, optionalCommandId, timestampOutput } from '../schemas.ts';

const dateSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/)
  .refine(isBusinessDate, 'not a calendar date')
  .meta({ description: 'A business date (Asia/Shanghai), YYYY-MM-DD' });
const rateInput = z
  .string()
  .regex(/^-?\d{1,6}(\.\d{1,4})?$/)
  .meta({ description: 'A decimal with at most 4 decimals, as a string', example: '1.7120' });

const productOutput = z.object({
  id: z.string(),
  kind: z.enum(['money_fund', 'fixed_term']),
  code: z.string(),
  name: z.string(),
  nav: z.literal('1.00'),
  term_days: z.number().int().nullable(),
  expected_yield: z.string().nullable().meta({ description: 'Annual percent, 4 decimals (fixed-term)' }),
  roll_into_product_id: z.string().nullable(),
  created_at: timestampOutput,
});

const yieldOutput = z.object({
  date: z.string(),
  income_per_10k: z.string().meta({ description: '万份收益: income per 10,000 shares, yuan, 4 decimals' }),
  seven_day_yield: z
    .string()
    .nullable()
    .meta({ description: 'Compound 7-day annualised yield, percent, 3 decimals; null before 7 days' }),
});

const subscriptionOutput = z.object({
  id: z.string(),
  product_id: z.string(),
  product_kind: z.enum(['money_fund', 'fixed_term']),
  amount: amountOutput,
  status: z.enum(['pending', 'confirmed', 'matured']),
  ordered_at: timestampOutput,
  trade_date: z.string(),
  confirm_date: z
    .string()
    .meta({ description: 'Shares confirmed (fixed-term: value date); earning from it' }),
  maturity_date: z.string().nullable(),
  interest: amountOutput.nullable(),
});

const redemptionOutput = z.object({
  id: z.string(),
  product_id: z.string(),
  kind: z.enum(['fast', 'normal']),
  shares: amountOutput.meta({ description: '1/100 shares (= fen at NAV 1.00)' }),
  income_loss: amountOutput.meta({
    description:
      'Normal redemptions: shares a negative day took from the frozen shares (nothing else was left to lose); the payout is shares − income_loss',
  }),
  status: z.enum(['pending', 'paid', 'failed']),
  failure_code: z.string().nullable().meta({
    description:
      "Failed only: the ledger's refusal of the payout; the shares went back to the holding (and a fast one's amount to the day's limit)",
  }),
  ordered_at: timestampOutput,
  confirm_date: z.string(),
  paid_at: timestampOutput.nullable(),
});

const productJson = (p: Product) => ({
  id: p.id,
  kind: p.kind,
  code: p.code,
  name: p.name,
  nav: '1.00' as const,
  term_days: p.termDays,
  expected_yield: p.expectedYield === null ? null : formatRate(p.expectedYield),
  roll_into_product_id: p.rollIntoProductId,
  created_at: p.createdAt.toISOString(),
});

const yieldJson = (y: DailyYield) => ({
  date: y.date,
  income_per_10k: formatRate(y.incomePer10k),
  seven_day_yield: y.sevenDayYieldMilli === null ? null : formatYieldMilli(y.sevenDayYieldMilli),
});

const subscriptionJson = (s: Subscription) => ({
  id: s.id,
  product_id: s.productId,
  product_kind: s.productKind,
  amount: s.amount.toString(),
  status: s.status,
  ordered_at: s.orderedAt.toISOString(),
  trade_date: s.tradeDate,
  confirm_date: s.confirmDate,
  maturity_date: s.maturityDate,
  interest: s.interest?.toString() ?? null,
});

const redemptionJson = (r: Redemption) => ({
  id: r.id,
  product_id: r.productId,
  kind: r.kind,
  shares: r.shares.toString(),
  income_loss: r.incomeLoss.toString(),
  status: r.status,
  failure_code: r.failureCode,
  ordered_at: r.orderedAt.toISOString(),
  confirm_date: r.confirmDate,
  paid_at: r.paidAt?.toISOString() ?? null,
});

const tags = ['wealth'];
const yieldsQuery = z.object({ from: dateSchema, to: dateSchema });

/** Operator routes under /v1/operator/wealth (scope `wealth:admin`). */
export const wealthOperatorRoutes: FastifyPluginAsyncZod<{ wealth: Wealth }> = async (app, { wealth }) => {
  const config = { scope: 'wealth:admin' as const };

  app.post(
    '/products',
    {
      config,
      schema: {
        tags,
        summary: 'Create a money fund (NAV 1.00) or a fixed-term product',
        body: z.object({
          id: optionalCommandId,
          kind: z.enum(['money_fund', 'fixed_term']),
          code: z.string().min(1).max(32),
          name: z.string().min(1).max(100),
          term_days: z.number().int().min(1).max(3650).optional(),
          expected_yield: rateInput.optional().meta({ description: 'Annual percent, e.g. "3.25"' }),
          roll_into_product_id: z.uuid().optional(),
        }),
        response: { 201: productOutput },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const product = await wealth.createProduct({
        id: commandIdFor(request, b.id),
        kind: b.kind,
        code: b.code,
        name: b.name,
        termDays: b.term_days,
        expectedYield:
          b.expected_yield === undefined ? undefined : parseRate(b.expected_yield, 'expected_yield'),
        rollIntoProductId: b.roll_into_product_id,
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
        summary: 'All products',
        response: { 200: z.object({ items: z.array(productOutput) }) },
      },
    },
    async () => ({ items: (await wealth.listProducts()).map(productJson) }),
  );

  app.post(
    '/products/:id/daily-income',
    {
      config,
      schema: {
        tags,
        summary: "Publish a natural day's income per 10,000 shares (万份收益)",
        description:
          'Every natural day, weekends and holidays included. Publishing the same rate again is harmless; another rate for a published day is 409 WEALTH_RATE_CONFLICT. Negative days are allowed. The rate must lie between -10.0000 and 10.0000 (0.1% of the holding in a day, either way); outside that is 400 VALIDATION_FAILED. The date must be within 366 days of today (Beijing) either way; a date further off is 400 VALIDATION_FAILED (field date), most likely a slipped year.',
        params: idParams,
        body: z.object({ date: dateSchema, income_per_10k: rateInput }),
        response: { 201: yieldOutput },
      },
    },
    async (request, reply) => {
      const day = await wealth.publishDailyIncome(
        request.params.id,
        request.body.date,
        parseRate(request.body.income_per_10k, 'income_per_10k'),
      );
      return reply.code(201).send(yieldJson(day));
    },
  );

  app.get(
    '/products/:id/yields',
    {
      config,
      schema: {
        tags,
        summary: '万份收益 and 7-day annualised yield per day, oldest first (the console’s chart)',
        description: `At most ${MAX_YIELD_DAYS} days from \`from\` to \`to\`, \`from\` not after \`to\`: else 400 VALIDATION_FAILED naming the field.`,
        params: idParams,
        querystring: yieldsQuery,
        response: { 200: z.object({ items: z.array(yieldOutput) }) },
      },
    },
    async (request) => ({
      items: (await wealth.yields(request.params.id, request.query.from, request.query.to)).map(yieldJson),
    }),
  );
  app.get(
    '/aum',
    {
      config,
      schema: {
        tags,
        summary: 'Assets under management: the shares registered per product (NAV 1.00, so fen)',
        response: {
          200: z.object({
            total: amountOutput,
            items: z.array(z.object({ product_id: z.string(), shares: amountOutput })),
          }),
        },
      },
    },
    async () => {
      const totals = await wealth.registerTotals();
      return {
        total: totals.reduce((sum, t) => sum + t.shares, 0n).toString(),
        items: totals.map((t) => ({ product_id: t.productId, shares: t.shares.toString() })),
      };
    },
  );
  const holidayOutput = z.object({ date: z.string(), name: z.string() });
  app.post(
    '/holidays',
    {
      config,
      schema: {
        tags,
        summary: 'Add a holiday to the trading calendar (weekends are never trading days)',
        body: z.object({ date: dateSchema, name: z.string().min(1).max(100) }),
        response: { 201: holidayOutput },
      },
    },
    async (request, reply) => reply.code(201).send(await wealth.addHoliday(request.body)),
  );

  app.get(
    '/holidays',
    {
      config,
      schema: {
        tags,
        summary: 'The configured holidays',
        response: { 200: z.object({ items: z.array(holidayOutput) }) },
      },
    },
    async () => ({ items: await wealth.listHolidays() }),
  );

  app.post(
    '/holidays/:date/remove',
    {
      config,
      schema: {
        tags,
        summary: 'Remove a holiday',
        params: z.object({ date: dateSchema }),
        response: { 200: z.object({ removed: z.literal(true) }) },
      },
    },
    async (request) => {
      await wealth.removeHoliday(request.params.date);
      return { removed: true as const };
    },
  );
};

/** The logged-in user's wealth: products, yields, subscriptions, redemptions, holdings. */
export const wealthRoutes: FastifyPluginAsyncZod<{ wealth: Wealth }> = async (app, { wealth }) => {
  const user = { userAuth: true } as const;

  app.get(
    '/wealth/products',
    {
      config: user,
      schema: {
        tags,
        summary: 'Products on sale',
        response: { 200: z.object({ items: z.array(productOutput) }) },
      },
    },
    async () => ({ items: (await wealth.listProducts()).map(productJson) }),
  );

  app.get(
    '/wealth/products/:id/yields',
    {
      config: user,
      schema: {
        tags,
        summary: '万份收益 and 7-day annualised yield per day, oldest first (for charts)',
        description: `At most ${MAX_YIELD_DAYS} days from \`from\` to \`to\`, \`from\` not after \`to\`: else 400 VALIDATION_FAILED naming the field.`,
        params: idParams,
        querystring: yieldsQuery,
        response: { 200: z.object({ items: z.array(yieldOutput) }) },
      },
    },
    async (request) => ({
      items: (await wealth.yields(request.params.id, request.query.from, request.query.to)).map(yieldJson),
    }),
  );

  app.post(
    '/wealth/subscriptions',
    {
      config: user,
      schema: {
        tags,
        summary: 'Buy a product by amount from my wallet',
        description:
          'The money leaves the wallet now. Before 15:00 (Asia/Shanghai) on a trading day T the shares are confirmed on the next trading day and earn from then; later orders, weekends and holidays roll to the next trading day. Fixed-term products lock the money until maturity, then roll it with interest into the money fund.',
        body: z.object({ id: optionalCommandId, product_id: z.uuid(), amount: amountInput }),
        response: { 201: subscriptionOutput },
      },
    },
    async (request, reply) => {
      const subscription = await wealth.subscribe({
        id: commandIdFor(request, request.body.id),
        userId: request.user!.userId,
        productId: request.body.product_id,
        amount: request.body.amount,
      });
      return reply.code(201).send(subscriptionJson(subscription));
    },
  );

  app.get(
    '/wealth/subscriptions',
    {
      config: user,
      schema: {
        tags,
        summary: 'My pending subscriptions and locked fixed-term positions',
        response: { 200: z.object({ items: z.array(subscriptionOutput) }) },
      },
    },
    async (request) => ({
      items: (await wealth.openSubscriptions(request.user!.userId)).map(subscriptionJson),
    }),
  );

  const redeemBody = z.object({
    id: optionalCommandId,
    product_id: z.uuid(),
    shares: amountInput.meta({
      description: '1/100 shares as a string ("10000" = 100.00 shares = 100.00 CNY)',
    }),
  });
  for (const kind of ['fast', 'normal'] as const) {
    app.post(
      `/wealth/redemptions/${kind}`,
      {
        config: user,
        schema: {
          tags,
          summary:
            kind === 'fast'
              ? 'Fast redemption (T+0) to my wallet, at most 10,000.00 CNY a day'
              : 'Normal redemption (T+1, no limit), paid in the close of the next trading day',
          description:
            kind === 'fast'
              ? 'Over the daily limit is 422 WEALTH_FAST_REDEMPTION_LIMIT_EXCEEDED with the amount left today. The redeemed shares earn nothing for today. Fixed-term products: 409 WEALTH_PRODUCT_LOCKED. A payout the ledger refuses for good is 409 WEALTH_REDEMPTION_FAILED, the shares given back (a retry of the id answers the same).'
              : 'The shares stop being redeemable now and keep earning until they are paid out. Fixed-term products: 409 WEALTH_PRODUCT_LOCKED.',
          body: redeemBody,
          response: { 201: redemptionOutput },
        },
      },
      async (request, reply) => {
        const command = {
          id: commandIdFor(request, request.body.id),
          userId: request.user!.userId,
          productId: request.body.product_id,
          shares: request.body.shares,
        };
        const redemption =
          kind === 'fast' ? await wealth.redeemFast(command) : await wealth.redeemNormal(command);
        return reply.code(201).send(redemptionJson(redemption));
      },
    );
  }

  app.get(
    '/wealth/redemptions',
    {
      config: user,
      schema: {
        tags,
        summary: 'My redemptions, newest first',
        response: { 200: z.object({ items: z.array(redemptionOutput) }) },
      },
    },
    async (request) => ({ items: (await wealth.listRedemptions(request.user!.userId)).map(redemptionJson) }),
  );

  app.get(
    '/wealth/holdings',
    {
      config: user,
      schema: {
        tags,
        summary: "My money-fund holdings with yesterday's income and the cumulative income",
        response: {
          200: z.object({
            items: z.array(
              z.object({
                product_id: z.string(),
                product_name: z.string(),
                shares: amountOutput,
                value: amountOutput.meta({ description: 'fen; NAV 1.00' }),
                frozen_shares: amountOutput,
                pending_fast_redemption_shares: amountOutput.meta({
                  description:
                    'Fast redemptions cut short before their payout (pending): no longer in the holding or its value, paid to the wallet by a retry of the order or the close of its day',
                }),
                yesterday_income: amountOutput,
                cumulative_income: amountOutput,
                last_income_date: z.string().nullable(),
              }),
            ),
          }),
        },
      },
    },
    async (request) => ({
      items: (await wealth.holdings(request.user!.userId)).map((h) => ({
        product_id: h.productId,
        product_name: h.productName,
        shares: h.shares.toString(),
        value: (h.shares + h.frozenShares).toString(),
        frozen_shares: h.frozenShares.toString(),
        pending_fast_redemption_shares: h.pendingFastRedemptionShares.toString(),
        yesterday_income: h.yesterdayIncome.toString(),
        cumulative_income: h.cumulativeIncome.toString(),
        last_income_date: h.lastIncomeDate,
      })),
    }),
  );

  app.get(
    '/wealth/holdings/:id/income',
    {
      config: user,
      schema: {
        tags,
        summary: 'My daily income in one fund (:id is the product id), newest first',
        params: idParams,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(366).optional() }),
        response: {
          200: z.object({
            items: z.array(z.object({ date: z.string(), shares: amountOutput, income: amountOutput })),
          }),
        },
      },
    },
    async (request) => ({
      items: (await wealth.incomeHistory(request.user!.userId, request.params.id, request.query.limit)).map(
        (l) => ({
          date: l.date,
          shares: l.shares.toString(),
          income: l.income.toString(),
        }),
      ),
    }),
  );
};
