import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  components,
  dayCounts,
  prepaymentModes,
  scheduleTypes,
  type Application,
  type InstalmentState,
  type Lending,
  type Loan,
  type MaxAprBasis,
  type Offer,
  type Product,
  type Repayment,
  type UpcomingPayment,
} from '../../lending/index.ts';
import { commandIdFor } from '../idempotency-hooks.ts';
import { amountInput, amountOutput, idParams, pageOf, pageQuery, timestampOutput } from '../schemas.ts';

const tags = ['lending'];
const percentInput = z
  .string()
  .regex(/^\d{1,4}(\.\d{1,8})?$/)
  .meta({ description: 'Annual rate in percent as an exact decimal string, e.g. "7.2"' });
const aprOutput = z.string().meta({
  description: 'APR: the IRR of the cash flows, annualised (monthly IRR × 12), percent with 4 decimals',
});

const productBody = z.object({
  name: z.string().min(1).max(100),
  schedule_type: z.enum(scheduleTypes as [string, ...string[]]),
  day_count: z.enum(dayCounts as [string, ...string[]]),
  annual_rate: percentInput,
  rounding: z.enum(['half_even', 'half_up', 'half_down', 'down', 'up', 'floor', 'ceiling']).optional(),
  terms: z.array(z.number().int().min(1).max(60)).min(1).max(24),
  min_amount: amountInput,
  max_amount: amountInput,
  min_score: z.number().int().min(350).max(950).optional(),
  account_classes: z
    .array(z.enum(['I', 'II', 'III']))
    .min(1)
    .optional(),
  allocation_order: z
    .array(z.enum(components as [string, ...string[]]))
    .length(4)
    .optional(),
  past_due_first: z.boolean().optional(),
  prepayment_mode: z.enum(prepaymentModes as [string, ...string[]]).optional(),
  grace_days: z.number().int().min(0).max(30).optional(),
  penalty_rate: percentInput.optional(),
  charge_off_days: z.number().int().min(1).max(720).optional(),
});
type ProductBody = z.infer<typeof productBody>;

const maxAprBases = ['ends', 'every_amount', 'cap'] as const satisfies readonly MaxAprBasis[];

const productOutput = z.object({
  max_apr: aprOutput,
  max_apr_at: z
    .object({ amount: amountOutput, terms: z.number().int() })
    .nullable()
    .meta({
      description:
        'A loan at max_apr (amount and instalments); null when max_apr is a proven upper bound no loan meets, ' +
        'the 24% cap, or found at the amount range’s ends only (see max_apr_basis)',
    }),
  max_apr_basis: z.enum(maxAprBases).meta({
    description:
      'How max_apr was found. `every_amount`: the highest APR over every amount, term and start date ' +
      '(at the loan in max_apr_at, or a proven upper bound when that is null). `ends`: a product made ' +
      'before 2026-12-04, its APR at the smallest and largest amount only, which may be below the true ' +
      'highest until the job lending.recompute-max-apr searches it again. `cap`: the search found loans ' +
      'of it above the 24% cap; each offer and draw above the cap is refused, so it discloses the cap',
  }),
  id: z.string(),
  code: z.string(),
  version: z.number().int(),
  name: z.string(),
  schedule_type: z.string(),
  day_count: z.string(),
  annual_rate: z.string(),
  rounding: z.string(),
  terms: z.array(z.number().int()),
  min_amount: amountOutput,
  max_amount: amountOutput,
  min_score: z.number().int(),
  account_classes: z.array(z.string()),
  allocation_order: z.array(z.string()),
  past_due_first: z.boolean(),
  prepayment_mode: z.string(),
  grace_days: z.number().int(),
  penalty_rate: z.string(),
  charge_off_days: z.number().int(),
  created_at: timestampOutput,
});

const productJson = (p: Product) => ({
  max_apr: p.maxApr,
  max_apr_at: p.maxAprAt && { amount: p.maxAprAt.amount.toString(), terms: p.maxAprAt.terms },
  max_apr_basis: p.maxAprBasis,
  id: p.id,
  code: p.code,
  version: p.version,
  name: p.name,
  schedule_type: p.scheduleType,
  day_count: p.dayCount,
  annual_rate: p.annualRate,
  rounding: p.rounding,
  terms: p.terms,
  min_amount: p.minAmount.toString(),
  max_amount: p.maxAmount.toString(),
  min_score: p.minScore,
  account_classes: p.accountClasses,
  allocation_order: p.allocationOrder,
  past_due_first: p.pastDueFirst,
  prepayment_mode: p.prepaymentMode,
  grace_days: p.graceDays,
  penalty_rate: p.penaltyRate,
  charge_off_days: p.chargeOffDays,
  created_at: p.createdAt.toISOString(),
});

const toTerms = (b: ProductBody) => ({
  name: b.name,
  scheduleType: b.schedule_type as Product['scheduleType'],
  dayCount: b.day_count as Product['dayCount'],
  annualRate: b.annual_rate,
  rounding: b.rounding,
  terms: b.terms,
  minAmount: b.min_amount,
  maxAmount: b.max_amount,
  minScore: b.min_score,
  accountClasses: b.account_classes,
  allocationOrder: b.allocation_order as Product['allocationOrder'] | undefined,
  pastDueFirst: b.past_due_first,
  prepaymentMode: b.prepayment_mode as Product['prepaymentMode'] | undefined,
  graceDays: b.grace_days,
  penaltyRate: b.penalty_rate,
  chargeOffDays: b.charge_off_days,
});

const instalmentOutput = z.object({
  number: z.number().int(),
  due_date: z.string(),
  total: amountOutput,
  principal: amountOutput,
  interest: amountOutput,
  principal_paid: amountOutput,
  interest_paid: amountOutput,
  balance_after: amountOutput,
});
const instalmentJson = (
  i: Omit<InstalmentState, 'fee' | 'penalty' | 'feePaid' | 'penaltyPaid' | 'carriedInterest'> &
    Partial<InstalmentState>,
) => ({
  number: i.number,
  due_date: i.dueDate,
  total: i.total.toString(),
  principal: i.principal.toString(),
  interest: i.interest.toString(),
  principal_paid: (i.principalPaid ?? 0n).toString(),
  interest_paid: (i.interestPaid ?? 0n).toString(),
  balance_after: i.closingBalance.toString(),
});

const offerOutput = z.object({
  apr: aprOutput,
  id: z.string(),
  product_code: z.string(),
  amount: amountOutput,
  terms: z.number().int(),
  instalment: amountOutput,
  total_interest: amountOutput,
  annual_rate: z.string().meta({ description: 'Nominal annual rate, percent (shown after the APR)' }),
  expires_on: z.string(),
  status: z.enum(['open', 'accepted']),
  loan_id: z.string().nullable(),
  schedule: z.array(instalmentOutput),
});
const offerJson = (o: Offer) => ({
  apr: o.apr,
  id: o.id,
  product_code: o.productCode,
  amount: o.amount.toString(),
  terms: o.terms,
  instalment: o.instalment.toString(),
  total_interest: o.totalInterest.toString(),
  annual_rate: o.annualRate,
  expires_on: o.expiresOn,
  status: o.status,
  loan_id: o.loanId,
  schedule: o.schedule.map((i) => instalmentJson({ ...i, principalPaid: 0n, interestPaid: 0n })),
});

const applicationOutput = z.object({
  id: z.string(),
  status: z.enum(['approved', 'declined']),
  decline_reason: z.string().nullable(),
  score: z.number().int().nullable(),
  credit_limit: amountOutput.nullable(),
  offer: offerOutput.nullable(),
});
const applicationJson = (a: Application) => ({
  id: a.id,
  status: a.status,
  decline_reason: a.declineReason,
  score: a.score,
  credit_limit: a.creditLimit?.toString() ?? null,
  offer: a.offer ? offerJson(a.offer) : null,
});

const upcomingOutput = z.object({
  instalment: z.number().int(),
  due_date: z.string(),
  amount: amountOutput,
});
const upcomingJson = (u: UpcomingPayment | null) =>
  u ? { instalment: u.number, due_date: u.dueDate, amount: u.amount.toString() } : null;
/** What the borrower sees ahead: in the loan and in its schedule, from the same figures. */
const paymentsAheadOutput = {
  next_payment_due_date: z
    .string()
    .nullable()
    .meta({
      description:
        'When the borrower pays next: the due date of the first instalment with anything unpaid (in the past ' +
        'while the loan is behind), null when nothing is left to pay or the loan is not active. An instalment ' +
        'paid early is skipped: this is the date to show as "next payment"',
    }),
  next_payment_amount: amountOutput.nullable().meta({
    description:
      'What is left to pay on that instalment; when it is already due, with the penalties owed on top ' +
      '(a repayment pays them first), so it is what settles that due date',
  }),
  early_instalment: upcomingOutput.nullable().meta({
    description:
      'The instalment POST /v1/loans/{id}/early-instalment-payments settles today and its amount, null when ' +
      'it would be refused (something due, the next instalment already paid, the loan not active). Send its ' +
      'number as `instalment` to pay exactly it',
  }),
};
const paymentsAheadJson = (l: Loan) => ({
  next_payment_due_date: l.nextPayment?.dueDate ?? null,
  next_payment_amount: l.nextPayment?.amount.toString() ?? null,
  early_instalment: upcomingJson(l.earlyInstalment),
});

const loanOutput = z.object({
  apr: aprOutput,
  id: z.string(),
  product_code: z.string(),
  principal: amountOutput,
  terms: z.number().int(),
  annual_rate: z.string(),
  drawn_on: z.string().meta({
    description:
      'The business date the schedule and interest start: the day the money reached the borrower (for a ' +
      'card, the day the bank settled it; while disbursing, the day the offer was accepted)',
  }),
  status: z.enum(['disbursing', 'active', 'repaid', 'charged_off', 'cancelled']),
  principal_outstanding: amountOutput,
  interest_accrued: amountOutput,
  interest_paid: amountOutput,
  penalty_accrued: amountOutput,
  penalty_paid: amountOutput,
  days_past_due: z.number().int(),
  bucket: z.string(),
  next_due_date: z
    .string()
    .nullable()
    .meta({
      description:
        'The end of the current interest period (the first due date after today), which interest ' +
        'accrues towards; it stays on an instalment paid early. For the date the borrower pays next, see ' +
        'next_payment_due_date',
    }),
  ...paymentsAheadOutput,
  charged_off_amount: amountOutput,
  recovered: amountOutput,
});
const loanJson = (l: Loan) => ({
  apr: l.apr,
  id: l.id,
  product_code: l.productCode,
  principal: l.principal.toString(),
  terms: l.terms,
  annual_rate: l.annualRate,
  drawn_on: l.drawnOn,
  status: l.status,
  principal_outstanding: l.principalOutstanding.toString(),
  interest_accrued: l.interestAccrued.toString(),
  interest_paid: l.interestPaid.toString(),
  penalty_accrued: l.penaltyAccrued.toString(),
  penalty_paid: l.penaltyPaid.toString(),
  days_past_due: l.daysPastDue,
  bucket: l.bucket,
  next_due_date: l.nextDueDate,
  ...paymentsAheadJson(l),
  charged_off_amount: l.chargedOffAmount.toString(),
  recovered: l.recovered.toString(),
});

const repaymentOutput = z.object({
  id: z.string(),
  loan_id: z.string(),
  kind: z.enum(['repayment', 'auto_debit', 'recovery']),
  amount: amountOutput,
  principal: amountOutput,
  interest: amountOutput,
  penalty: amountOutput,
  recovery: amountOutput,
  status: z.enum(['posted', 'failed']),
  business_date: z.string(),
});
const repaymentJson = (r: Repayment) => ({
  id: r.id,
  loan_id: r.loanId,
  kind: r.kind,
  amount: r.amount.toString(),
  principal: r.principal.toString(),
  interest: r.interest.toString(),
  penalty: r.penalty.toString(),
  recovery: r.recovery.toString(),
  status: r.status,
  business_date: r.businessDate,
});

const codeParams = z.object({ code: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/) });

/** Operator routes under /v1/operator/lending (scope `lending:admin`). */
export const lendingOperatorRoutes: FastifyPluginAsyncZod<{ lending: Lending }> = async (
  app,
  { lending },
) => {
  const config = { scope: 'lending:admin' as const };
  app.post(
    '/products',
    {
      config,
      schema: {
        tags,
        summary: 'Create a cash-loan product (version 1); above 24% APR is 422 APR_ABOVE_CAP',
        description:
          'The cap is checked for every term, start date and amount in the range: 422 APR_ABOVE_CAP names ' +
          'the APR (and, for an amount between the minimum and the maximum, `amount` and `terms`). A ' +
          'minimum amount so small that too many amounts would need checking one by one is 422 ' +
          'LOAN_PRODUCT_INVALID with `proven_from`, the smallest minimum amount that needs none.',
        body: productBody.extend({ code: codeParams.shape.code }),
        response: { 201: productOutput },
      },
    },
    async (request, reply) => {
      const { code, ...rest } = request.body;
      return reply.code(201).send(productJson(await lending.createProduct(code, toTerms(rest))));
    },
  );
  app.post(
    '/products/:code/versions',
    {
      config,
      schema: {
        tags,
        summary: 'A new version of a product (loans keep the version they were offered on)',
        params: codeParams,
        body: productBody,
        response: { 201: productOutput },
      },
    },
    async (request, reply) => {
      await lending.latestProduct(request.params.code);
      return reply
        .code(201)
        .send(productJson(await lending.createProduct(request.params.code, toTerms(request.body))));
    },
  );
  app.get(
    '/products',
    {
      config,
      schema: {
        tags,
        summary: 'The latest version of each product',
        response: { 200: z.object({ items: z.array(productOutput) }) },
      },
    },
    async () => ({ items: (await lending.listProducts()).map(productJson) }),
  );
  app.get(
    '/products/:code/versions',
    {
      config,
      schema: {
        tags,
        summary: 'Every version of a product',
        params: codeParams,
        response: { 200: z.object({ items: z.array(productOutput) }) },
      },
    },
    async (request) => {
      await lending.latestProduct(request.params.code);
      return { items: (await lending.listProducts(request.params.code)).map(productJson) };
    },
  );
  const productQuery = z.object({ product: codeParams.shape.code.optional() });
  app.get(
    '/book/buckets',
    {
      config,
      schema: {
        tags,
        summary: 'Active loans outstanding by delinquency bucket (as of the last close)',
        querystring: productQuery,
        response: {
          200: z.object({
            items: z.array(
              z.object({
                bucket: z.string(),
                loans: z.number().int(),
                principal_outstanding: amountOutput,
                interest_receivable: amountOutput,
                penalty_receivable: amountOutput,
              }),
            ),
          }),
        },
      },
    },
    async (request) => ({
      items: (await lending.bookByBucket(request.query.product)).map((b) => ({
        bucket: b.bucket,
        loans: b.loans,
        principal_outstanding: b.principalOutstanding.toString(),
        interest_receivable: b.interestReceivable.toString(),
        penalty_receivable: b.penaltyReceivable.toString(),
      })),
    }),
  );
  app.get(
    '/book/vintages',
    {
      config,
      schema: {
        tags,
        summary: 'Vintages: share of loans 30+ days past due by month of origination and month on book',
        querystring: productQuery,
        response: {
          200: z.object({
            items: z.array(
              z.object({
                origination_month: z.string(),
                months_on_book: z.number().int(),
                loans: z.number().int(),
                loans_30_plus: z.number().int(),
                share_30_plus: z.string().meta({ description: 'percent, 2 decimals' }),
                principal_outstanding: amountOutput,
              }),
            ),
          }),
        },
      },
    },
    async (request) => ({
      items: (await lending.vintages(request.query.product)).map((v) => ({
        origination_month: v.originationMonth,
        months_on_book: v.monthsOnBook,
        loans: v.loans,
        loans_30_plus: v.loans30Plus,
        share_30_plus: v.share30Plus,
        principal_outstanding: v.principalOutstanding.toString(),
      })),
    }),
  );
};

/** User routes under /v1/loans (a logged-in user). */
export const lendingRoutes: FastifyPluginAsyncZod<{ lending: Lending }> = async (app, { lending }) => {
  const config = { userAuth: true } as const;
  const userOf = (request: { user: { userId: string } | null }) => request.user!.userId;
  app.post(
    '/loans/applications',
    {
      config,
      schema: {
        tags,
        summary:
          'Apply for a cash loan: approved with an offer (APR first) or declined with the reason; an offer whose schedule from today is above 24% APR is 422 APR_ABOVE_CAP',
        body: z.object({
          product_code: codeParams.shape.code,
          amount: amountInput,
          terms: z.number().int().min(1).max(60),
        }),
        response: { 201: applicationOutput },
      },
    },
    async (request, reply) => {
      const application = await lending.apply(userOf(request), {
        productCode: request.body.product_code,
        amount: request.body.amount,
        terms: request.body.terms,
      });
      return reply.code(201).send(applicationJson(application));
    },
  );
  app.get(
    '/loans/offers',
    {
      config,
      schema: { tags, summary: 'Open offers', response: { 200: z.object({ items: z.array(offerOutput) }) } },
    },
    async (request) => ({ items: (await lending.listOffers(userOf(request))).map(offerJson) }),
  );
  app.post(
    '/loans/offers/:id/accept',
    {
      config,
      schema: {
        tags,
        summary:
          'Accept an offer and draw the loan to the wallet or a bank card; a schedule from today above 24% APR is 422 APR_ABOVE_CAP',
        params: idParams,
        body: z.object({
          to: z.enum(['wallet', 'card']).default('wallet'),
          card_token: z.string().min(1).max(128).optional(),
        }),
        response: { 201: loanOutput },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const disbursement =
        b.to === 'card' ? { to: 'card' as const, cardToken: b.card_token ?? '' } : { to: 'wallet' as const };
      return reply
        .code(201)
        .send(loanJson(await lending.acceptOffer(userOf(request), request.params.id, disbursement)));
    },
  );
  app.get(
    '/loans',
    {
      config,
      schema: {
        tags,
        summary: 'My loans, newest first',
        querystring: z.object(pageQuery),
        response: { 200: pageOf(loanOutput) },
      },
    },
    async (request) => {
      const page = await lending.listLoans(userOf(request), {
        limit: request.query.limit,
        cursor: request.query.cursor,
      });
      return { items: page.items.map(loanJson), next_cursor: page.nextCursor };
    },
  );
  app.get(
    '/loans/:id',
    { config, schema: { tags, summary: 'One loan', params: idParams, response: { 200: loanOutput } } },
    async (request) => loanJson(await lending.getLoan(request.params.id, userOf(request))),
  );
  app.get(
    '/loans/:id/schedule',
    {
      config,
      schema: {
        tags,
        summary: 'The schedule (APR first), the payoff amount today and the next payment',
        params: idParams,
        response: {
          200: z.object({
            apr: aprOutput,
            payoff: amountOutput,
            ...paymentsAheadOutput,
            instalments: z.array(instalmentOutput),
          }),
        },
      },
    },
    async (request) => {
      const loan = await lending.getLoan(request.params.id, userOf(request));
      const instalments = await lending.schedule(loan.id, userOf(request));
      const quote =
        loan.status === 'active' ? (await lending.payoffQuote(loan.id, userOf(request))).total : 0n;
      return {
        apr: loan.apr,
        payoff: quote.toString(),
        ...paymentsAheadJson(loan),
        instalments: instalments.map(instalmentJson),
      };
    },
  );
  const repayBody = z.object({ amount: amountInput });
  app.post(
    '/loans/:id/repayments',
    {
      config,
      schema: {
        tags,
        summary: 'Repay any amount: what is due first (the product’s allocation order), the rest prepays',
        description:
          '409 LOAN_DISBURSING while a card loan is not yet paid out (nothing is owed until the bank settles ' +
          'it), 409 LOAN_NOT_ACTIVE for a loan repaid or cancelled.',
        params: idParams,
        body: repayBody,
        response: { 201: repaymentOutput },
      },
    },
    async (request, reply) => {
      const repayment = await lending.repay({
        id: commandIdFor(request),
        userId: userOf(request),
        loanId: request.params.id,
        amount: request.body.amount,
      });
      return reply.code(201).send(repaymentJson(repayment));
    },
  );
  app.post(
    '/loans/:id/early-instalment-payments',
    {
      config,
      schema: {
        tags,
        summary:
          'Pay the next instalment early: its scheduled amount now, so its due date takes nothing and the rest of the schedule stays',
        description:
          'Settles the first instalment not yet due (principal, interest and fees as scheduled) from the wallet: ' +
          'the loan’s `early_instalment` shows which one and how much. ' +
          'Unlike a prepayment nothing is re-amortised, so the interest is the instalment’s scheduled interest. ' +
          'Send the number of the instalment shown as `instalment`: when another would be paid (a due date ' +
          'passed while the screen was open and the auto-debit paid the one shown) it is 409 ' +
          'LOAN_INSTALMENT_NOT_NEXT with `next_instalment`, `next_due_date` and `next_amount`, nothing paid. ' +
          '409 LOAN_INSTALMENT_DUE while anything is due or past due (repay it first; checked before ' +
          '`instalment`), 409 LOAN_NOTHING_DUE when the next instalment is already paid, 409 LOAN_NOT_ACTIVE ' +
          'for a loan repaid or charged off, 409 LOAN_DISBURSING for a card loan the bank has not yet paid ' +
          'out, 422 INSUFFICIENT_FUNDS when the wallet cannot pay it. ' +
          'Afterwards the loan’s `next_payment_due_date` is the following instalment’s, while `next_due_date` ' +
          '(the current interest period) stays until the paid one’s due date passes.',
        params: idParams,
        body: z.object({
          instalment: z.number().int().min(1).max(480).optional().meta({
            description: 'The instalment the borrower was shown (its number); any other is refused',
          }),
        }),
        response: { 201: repaymentOutput },
      },
    },
    async (request, reply) => {
      const repayment = await lending.payInstalmentEarly({
        id: commandIdFor(request),
        userId: userOf(request),
        loanId: request.params.id,
        instalment: request.body.instalment,
      });
      return reply.code(201).send(repaymentJson(repayment));
    },
  );
  app.post(
    '/loans/:id/prepayments',
    {
      config,
      schema: {
        tags,
        summary:
          'Prepay: pays what is due, then the current period’s interest to date and principal (the payoff amount closes the loan)',
        description:
          '409 LOAN_DISBURSING while a card loan is not yet paid out, 409 LOAN_NOT_ACTIVE for a loan repaid or cancelled.',
        params: idParams,
        body: z.object({
          amount: amountInput.optional().meta({ description: 'Default: the payoff amount' }),
        }),
        response: { 201: repaymentOutput },
      },
    },
    async (request, reply) => {
      const amount =
        request.body.amount ?? (await lending.payoffQuote(request.params.id, userOf(request))).total;
      const repayment = await lending.repay({
        id: commandIdFor(request),
        userId: userOf(request),
        loanId: request.params.id,
        amount,
      });
      return reply.code(201).send(repaymentJson(repayment));
    },
  );
};
