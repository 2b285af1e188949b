import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { decodeIdCursor, encodeIdCursor, formatBasisPoints } from '../../core/index.ts';
import {
  MAX_FUNNEL_DAYS,
  applicantFields,
  partnerKinds,
  partnerStatuses,
  scoreBands,
  type Application,
  type Marketplace,
  type MarketplaceConsent,
  type Offer,
  type Partner,
  type Settlement,
} from '../../marketplace/index.ts';
import { amountInput, amountOutput, idParams, pageOf, pageQuery, timestampOutput } from '../schemas.ts';

const tags = ['marketplace'];
const dateSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/)
  .meta({ description: 'Business date YYYY-MM-DD' });
const bp = z.number().int().min(0).max(10_000);
// Stored in an int4 column: a larger cap would be a database error, not an answer.
const dailyCap = z.number().int().min(0).max(2_147_483_647);
const aprText = (bpValue: number) => `${formatBasisPoints(bpValue)}%`;

const eligibilitySchema = z.object({
  score_bands: z.array(z.enum(scoreBands)).min(1),
  min_age: z.number().int().min(18).max(100).default(18),
  max_age: z.number().int().min(18).max(100).default(65),
  regions: z
    .array(z.string().regex(/^\d{2,6}$/))
    .default([])
    .meta({ description: 'Region code prefixes; empty = all' }),
  min_amount: amountInput,
  max_amount: amountInput,
  min_term_months: z.number().int().min(1).max(360),
  max_term_months: z.number().int().min(1).max(360),
  identity_classes: z
    .array(z.enum(['I', 'II', 'III']))
    .min(1)
    .default(['II', 'III']),
});

const partnerOutput = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(partnerKinds),
  endpoint_url: z.string(),
  status: z.enum(partnerStatuses),
  eligibility: z.object({
    score_bands: z.array(z.string()),
    min_age: z.number(),
    max_age: z.number(),
    regions: z.array(z.string()),
    min_amount: amountOutput,
    max_amount: amountOutput,
    min_term_months: z.number(),
    max_term_months: z.number(),
    identity_classes: z.array(z.string()),
  }),
  required_fields: z.array(z.string()),
  pricing: z.object({ cpa: amountOutput, cps_bp: z.number(), revenue_share_bp: z.number() }),
  daily_cap: z.number().nullable(),
  monthly_budget: amountOutput.nullable(),
  priority: z.number(),
  created_at: timestampOutput,
});

const partnerJson = (p: Partner) => ({
  id: p.id,
  name: p.name,
  kind: p.kind,
  endpoint_url: p.endpointUrl,
  status: p.status,
  eligibility: {
    score_bands: p.eligibility.scoreBands,
    min_age: p.eligibility.minAge,
    max_age: p.eligibility.maxAge,
    regions: p.eligibility.regions,
    min_amount: p.eligibility.minAmount.toString(),
    max_amount: p.eligibility.maxAmount.toString(),
    min_term_months: p.eligibility.minTermMonths,
    max_term_months: p.eligibility.maxTermMonths,
    identity_classes: p.eligibility.identityClasses,
  },
  required_fields: p.requiredFields,
  pricing: {
    cpa: p.pricing.cpaFen.toString(),
    cps_bp: p.pricing.cpsBp,
    revenue_share_bp: p.pricing.revenueShareBp,
  },
  daily_cap: p.dailyCap,
  monthly_budget: p.monthlyBudgetFen?.toString() ?? null,
  priority: p.priority,
  created_at: p.createdAt.toISOString(),
});

const explanationOutput = z.object({
  rank: z.number(),
  exploration: z.string(),
  approvals: z.number(),
  declines: z.number(),
  posterior_mean: z.number(),
  probability_used: z.number(),
  payout: amountOutput,
  expected_value: z.number().meta({ description: 'Fen, a float: it only orders offers' }),
  summary: z.string(),
});

const offerOutput = z.object({
  id: z.string(),
  apr: z.string().meta({ description: 'Annual percentage rate, shown first', example: '10.80%' }),
  apr_bp: z.number(),
  lender: z.string(),
  source: z.enum(['partner', 'own']),
  partner_id: z.string().nullable(),
  amount: amountOutput,
  term_months: z.number(),
  promotions: z.array(z.object({ kind: z.string(), days: z.number() })),
  rank: z.number(),
  required_fields: z.array(z.enum(applicantFields)).meta({
    description: 'What the lender needs: the consent to choose this offer must name at least these',
  }),
});

const offerJson = (o: Offer) => ({
  id: o.id,
  apr: aprText(o.aprBp),
  apr_bp: o.aprBp,
  lender: o.partnerName,
  source: o.source,
  partner_id: o.partnerId,
  amount: o.amount.toString(),
  term_months: o.termMonths,
  promotions: o.promotions,
  rank: o.rank,
  required_fields: o.requiredFields,
});

const applicationOutput = z.object({
  id: z.string(),
  product: z.enum(['loan', 'card']),
  score_band: z.string(),
  amount: amountOutput,
  term_months: z.number(),
  status: z.string(),
  chosen_offer_id: z.string().nullable(),
  outcome: z
    .enum(['posted', 'approved', 'declined', 'disbursed', 'repaid', 'failed'])
    .nullable()
    .meta({ description: "The chosen lender's answer so far; null before an offer is chosen" }),
  offers: z.array(offerOutput),
  created_at: timestampOutput,
});

const applicationJson = (a: Application) => ({
  id: a.id,
  product: a.product,
  score_band: a.scoreBand,
  amount: a.amount.toString(),
  term_months: a.termMonths,
  status: a.status,
  chosen_offer_id: a.chosenOfferId,
  outcome: a.outcome,
  offers: a.offers.map(offerJson),
  created_at: a.createdAt.toISOString(),
});

const consentOutput = z.object({
  id: z.string(),
  application_id: z.string(),
  partner_id: z.string().nullable(),
  recipient: z.string(),
  purpose: z.string(),
  fields: z.array(z.string()),
  terms_version: z.string(),
  granted_at: timestampOutput,
  withdrawn_at: timestampOutput.nullable(),
});

const consentJson = (c: MarketplaceConsent) => ({
  id: c.id,
  application_id: c.applicationId,
  partner_id: c.partnerId,
  recipient: c.recipient,
  purpose: c.purpose,
  fields: c.fields,
  terms_version: c.termsVersion,
  granted_at: c.grantedAt.toISOString(),
  withdrawn_at: c.withdrawnAt?.toISOString() ?? null,
});

const totalsOutput = z.object({
  applications: z.number(),
  approved: z.number(),
  disbursed: amountOutput,
  repaid_interest: amountOutput,
});
const settlementOutput = z.object({
  id: z.string(),
  partner_id: z.string(),
  month: z.string(),
  platform: totalsOutput,
  partner: totalsOutput,
  discrepancies: z.array(
    z.object({
      application_id: z.string(),
      field: z.string(),
      platform: z.string().nullable(),
      partner: z.string().nullable(),
    }),
  ),
  invoice: amountOutput,
  invoice_entry_id: z.string().nullable(),
  paid: amountOutput,
  status: z.enum(['invoiced', 'paid', 'nothing_due']),
  created_at: timestampOutput,
});
const totalsJson = (t: Settlement['platform']) => ({
  applications: t.applications,
  approved: t.approved,
  disbursed: t.disbursedFen.toString(),
  repaid_interest: t.repaidInterestFen.toString(),
});
const settlementJson = (s: Settlement) => ({
  id: s.id,
  partner_id: s.partnerId,
  month: s.month,
  platform: totalsJson(s.platform),
  partner: totalsJson(s.partner),
  discrepancies: s.discrepancies.map((d) => ({
    application_id: d.applicationId,
    field: d.field,
    platform: d.platform,
    partner: d.partner,
  })),
  invoice: s.invoiceFen.toString(),
  invoice_entry_id: s.invoiceEntryId,
  paid: s.paidFen.toString(),
  status: s.status,
  created_at: s.createdAt.toISOString(),
});

/** Operator routes under /v1/operator/marketplace (scope `marketplace:admin`). */
export const marketplaceOperatorRoutes: FastifyPluginAsyncZod<{ marketplace: Marketplace }> = async (
  app,
  { marketplace },
) => {
  const config = { scope: 'marketplace:admin' as const };

  app.post(
    '/partners',
    {
      config,
      schema: {
        tags,
        summary: 'Add a partner lender or card issuer; the signing secret is shown once',
        body: z.object({
          name: z.string().min(1).max(100),
          kind: z.enum(partnerKinds),
          endpoint_url: z.string().max(2000),
          eligibility: eligibilitySchema,
          required_fields: z.array(z.enum(applicantFields)).default([]),
          pricing: z.object({ cpa: amountInput, cps_bp: bp, revenue_share_bp: bp.default(0) }),
          daily_cap: dailyCap.nullable().default(null),
          monthly_budget: amountInput.nullable().default(null),
          priority: z.number().int().min(0).max(1_000_000).default(0),
          secret: z.string().startsWith('whsec_').max(200).optional(),
        }),
        response: { 201: partnerOutput.extend({ secret: z.string().meta({ description: 'Shown once' }) }) },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const created = await marketplace.createPartner({
        name: b.name,
        kind: b.kind,
        endpointUrl: b.endpoint_url,
        eligibility: {
          scoreBands: b.eligibility.score_bands,
          minAge: b.eligibility.min_age,
          maxAge: b.eligibility.max_age,
          regions: b.eligibility.regions,
          minAmount: b.eligibility.min_amount,
          maxAmount: b.eligibility.max_amount,
          minTermMonths: b.eligibility.min_term_months,
          maxTermMonths: b.eligibility.max_term_months,
          identityClasses: b.eligibility.identity_classes,
        },
        requiredFields: b.required_fields,
        pricing: {
          cpaFen: b.pricing.cpa,
          cpsBp: b.pricing.cps_bp,
          revenueShareBp: b.pricing.revenue_share_bp,
        },
        dailyCap: b.daily_cap,
        monthlyBudgetFen: b.monthly_budget,
        priority: b.priority,
        secret: b.secret,
      });
      return reply.code(201).send({ ...partnerJson(created.partner), secret: created.secret });
    },
  );

  app.get(
    '/partners',
    {
      config,
      schema: {
        tags,
        summary: 'Partners, in id order',
        querystring: z.object({ ...pageQuery, status: z.enum(partnerStatuses).optional() }),
        response: { 200: pageOf(partnerOutput) },
      },
    },
    async (request) => {
      const { cursor, limit, status } = request.query;
      const page = await marketplace.listPartners({
        after: cursor ? decodeIdCursor(cursor) : undefined,
        limit,
        status,
      });
      return {
        items: page.items.map(partnerJson),
        next_cursor: page.nextCursor ? encodeIdCursor(page.nextCursor) : null,
      };
    },
  );

  app.get(
    '/partners/:id',
    { config, schema: { tags, summary: 'One partner', params: idParams, response: { 200: partnerOutput } } },
    async (request) => partnerJson(await marketplace.getPartner(request.params.id)),
  );

  app.post(
    '/partners/:id/status',
    {
      config,
      schema: {
        tags,
        summary: 'Pause, resume or terminate a partner (paused and terminated partners are not pinged)',
        params: idParams,
        body: z.object({ status: z.enum(partnerStatuses) }),
        response: { 200: partnerOutput },
      },
    },
    async (request) =>
      partnerJson(await marketplace.setPartnerStatus(request.params.id, request.body.status)),
  );

  app.post(
    '/partners/:id/limits',
    {
      config,
      schema: {
        tags,
        summary: "Change a partner's daily cap and monthly budget (null: none); routing applies them at once",
        params: idParams,
        body: z.object({
          daily_cap: dailyCap.nullable(),
          monthly_budget: amountInput.nullable(),
        }),
        response: { 200: partnerOutput },
      },
    },
    async (request) =>
      partnerJson(
        await marketplace.setPartnerLimits(request.params.id, {
          dailyCap: request.body.daily_cap,
          monthlyBudgetFen: request.body.monthly_budget,
        }),
      ),
  );

  app.get(
    '/partners/:id/posteriors',
    {
      config,
      schema: {
        tags,
        summary: 'The learned approval rates per score band (Beta posterior counts and mean)',
        params: z.object({ id: z.string().meta({ description: "A partner id, or 'own'" }) }),
        response: {
          200: z.object({
            items: z.array(
              z.object({
                score_band: z.string(),
                approvals: z.number(),
                declines: z.number(),
                posterior_mean: z.number(),
              }),
            ),
          }),
        },
      },
    },
    async (request) => {
      if (request.params.id !== 'own') await marketplace.getPartner(request.params.id);
      return {
        items: (await marketplace.posteriors(request.params.id)).map((p) => ({
          score_band: p.scoreBand,
          approvals: p.approvals,
          declines: p.declines,
          posterior_mean: p.posteriorMean,
        })),
      };
    },
  );

  app.get(
    '/partners/:id/funnel',
    {
      config,
      schema: {
        tags,
        summary:
          'Funnel per business date: pinged, offered, chosen, posted, approved, disbursed, pass rate (id `own`: the platform loan)',
        description: `Chosen and posted count applications, a partner whose post failed included (chosen, not posted). \`from\` and \`to\` are calendar dates, \`from\` not after \`to\`, at most ${MAX_FUNNEL_DAYS} days apart (both included): else 400 VALIDATION_FAILED naming the field.`,
        params: idParams,
        querystring: z.object({ from: dateSchema, to: dateSchema }),
        response: {
          200: z.object({
            items: z.array(
              z.object({
                date: z.string(),
                pinged: z.number(),
                offered: z.number(),
                chosen: z.number(),
                posted: z.number(),
                approved: z.number(),
                declined: z.number(),
                disbursed: z.number(),
                pass_rate: z.number().nullable(),
              }),
            ),
          }),
        },
      },
    },
    async (request) => ({
      items: (await marketplace.funnel(request.params.id, request.query.from, request.query.to)).map((d) => ({
        date: d.date,
        pinged: d.pinged,
        offered: d.offered,
        chosen: d.chosen,
        posted: d.posted,
        approved: d.approved,
        declined: d.declined,
        disbursed: d.disbursed,
        pass_rate: d.passRate,
      })),
    }),
  );

  app.get(
    '/applications/:id',
    {
      config,
      schema: {
        tags,
        summary:
          'An application with why each partner was pinged or not and why each offer ranked where it did',
        params: idParams,
        response: {
          200: applicationOutput.extend({
            user_id: z.string(),
            routing: z.array(
              z.object({
                partner_id: z.string(),
                partner_name: z.string(),
                outcome: z
                  .string()
                  .describe(
                    'offered, no_offer, timeout, error, apr_above_cap (pinged: only offers above the 24% APR cap, none shown); ineligible, daily_cap_reached, monthly_budget_spent, unresponsive (not pinged: no answer to its recent pings)',
                  ),
                reason: z.string().nullable(),
                latency_ms: z.number().nullable(),
              }),
            ),
            offers: z.array(offerOutput.extend({ explanation: explanationOutput })),
          }),
        },
      },
    },
    async (request) => {
      const a = await marketplace.getApplication(request.params.id);
      return {
        ...applicationJson(a),
        user_id: a.userId,
        routing: a.routing.map((r) => ({
          partner_id: r.partnerId,
          partner_name: r.partnerName,
          outcome: r.outcome,
          reason: r.reason ?? null,
          latency_ms: r.latencyMs ?? null,
        })),
        offers: a.offers.map((o) => ({
          ...offerJson(o),
          explanation: {
            rank: o.explanation.rank,
            exploration: o.explanation.exploration,
            approvals: o.explanation.approvals,
            declines: o.explanation.declines,
            posterior_mean: o.explanation.posteriorMean,
            probability_used: o.explanation.probabilityUsed,
            payout: o.explanation.payoutFen,
            expected_value: o.explanation.expectedValueFen,
            summary: o.explanation.summary,
          },
        })),
      };
    },
  );

  app.post(
    '/partners/:id/settlements',
    {
      config,
      schema: {
        tags,
        summary: "Settle a partner's month: reconcile with its report, post the invoice as a receivable",
        params: idParams,
        body: z.object({
          month: z
            .string()
            .regex(/^\d{4}-(0[1-9]|1[0-2])$/)
            .meta({ description: 'YYYY-MM (Asia/Shanghai), 2000-01 to 2999-12', example: '2025-06' }),
        }),
        response: { 201: settlementOutput },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(settlementJson(await marketplace.settleMonth(request.params.id, request.body.month))),
  );

  app.get(
    '/partners/:id/settlements',
    {
      config,
      schema: {
        tags,
        summary: "A partner's settlements, newest month first",
        params: idParams,
        response: { 200: z.object({ items: z.array(settlementOutput) }) },
      },
    },
    async (request) => ({
      items: (await marketplace.listSettlements(request.params.id)).map(settlementJson),
    }),
  );

  app.post(
    '/settlements/:id/payments',
    {
      config,
      schema: {
        tags,
        summary: "Record a partner's payment of an invoice (bank clearing → the partner's receivable)",
        params: idParams,
        body: z.object({ payment_id: z.uuid(), amount: amountInput }),
        response: { 201: settlementOutput },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          settlementJson(
            await marketplace.recordPayment(request.params.id, request.body.payment_id, request.body.amount),
          ),
        ),
  );
};

/** The logged-in user's marketplace: apply, see offers (APR first), choose with consent. */
export const marketplaceUserRoutes: FastifyPluginAsyncZod<{ marketplace: Marketplace }> = async (
  app,
  { marketplace },
) => {
  const user = { userAuth: true } as const;

  app.post(
    '/marketplace/applications',
    {
      config: user,
      schema: {
        tags,
        summary: 'Ask for loan or credit-card offers (partners see only band, amount, term and region)',
        body: z.object({
          product: z.enum(['loan', 'card']).default('loan'),
          amount: amountInput,
          term_months: z.number().int().min(1).max(360),
          region_code: z
            .string()
            .regex(/^\d{6}$/)
            .meta({ description: 'GB/T 2260 region code', example: '110105' }),
        }),
        response: { 201: applicationOutput },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const application = await marketplace.apply({
        userId: request.user!.userId,
        product: b.product,
        amount: b.amount,
        termMonths: b.term_months,
        regionCode: b.region_code,
      });
      return reply.code(201).send(applicationJson(application));
    },
  );

  app.get(
    '/marketplace/applications/:id',
    {
      config: user,
      schema: {
        tags,
        summary: 'One of my applications',
        params: idParams,
        response: { 200: applicationOutput },
      },
    },
    async (request) =>
      applicationJson(await marketplace.getApplication(request.params.id, request.user!.userId)),
  );

  app.post(
    '/marketplace/applications/:id/choose',
    {
      // The form carries personal data: the request fingerprint keeps keyed digests of it only.
      config: {
        ...user,
        idempotencyFingerprint: (body: unknown) => {
          const b = (body ?? {}) as { applicant?: Record<string, string> };
          const applicant = Object.fromEntries(
            Object.entries(b.applicant ?? {}).map(([k, v]) => [k, marketplace.keyedDigest(`${k}\0${v}`)]),
          );
          return { ...b, applicant };
        },
      },
      schema: {
        tags,
        summary: 'Choose an offer: consent to share the named fields with that lender, and apply',
        description:
          'The consent names each field, the recipient and the purpose (PIPL Art. 23). Only consented fields are sent; none are stored by the marketplace. The post carries the application’s score band: with no usable score now (consent to credit scoring withdrawn, or granted again since) it answers 404 CREDIT_SCORE_NOT_FOUND (details.reason score_not_usable) and nothing is sent.',
        params: idParams,
        body: z.object({
          offer_id: z.string(),
          consent: z.object({ fields: z.array(z.enum(applicantFields)).max(applicantFields.length) }),
          applicant: z.partialRecord(z.enum(applicantFields), z.string().min(1).max(200)).default({}),
        }),
        response: {
          201: z.object({
            application_id: z.string(),
            offer_id: z.string(),
            consent_id: z.string(),
            sent_fields: z.array(z.string()),
            status: z.string(),
          }),
        },
      },
    },
    async (request, reply) => {
      const post = await marketplace.choose({
        userId: request.user!.userId,
        applicationId: request.params.id,
        offerId: request.body.offer_id,
        consentFields: request.body.consent.fields,
        applicant: request.body.applicant,
      });
      return reply.code(201).send({
        application_id: post.applicationId,
        offer_id: post.offerId,
        consent_id: post.consentId,
        sent_fields: post.sentFields,
        status: post.status,
      });
    },
  );

  app.get(
    '/marketplace/consents',
    {
      config: user,
      schema: {
        tags,
        summary: 'My consents to share data with lenders, newest first',
        querystring: z.object(pageQuery),
        response: { 200: pageOf(consentOutput) },
      },
    },
    async (request) => {
      const page = await marketplace.listConsents(request.user!.userId, {
        before: request.query.cursor ? decodeIdCursor(request.query.cursor) : undefined,
        limit: request.query.limit,
      });
      return {
        items: page.items.map(consentJson),
        next_cursor: page.nextCursor ? encodeIdCursor(page.nextCursor) : null,
      };
    },
  );

  app.post(
    '/marketplace/consents/:id/withdraw',
    {
      config: user,
      schema: {
        tags,
        summary: 'Withdraw a consent (the record stays, stamped)',
        params: idParams,
        response: { 200: consentOutput },
      },
    },
    async (request) =>
      consentJson(await marketplace.withdrawConsent(request.user!.userId, request.params.id)),
  );
};

const rawBodies = new WeakMap<object, string>();

/**
 * Partner callbacks: POST /v1/marketplace/partner-callbacks/{partnerId}, authenticated by the
 * partner's signature over the raw body (so this plugin keeps the body text), deduplicated per
 * partner on the signed webhook-id. See docs/partner-protocol.md.
 */
export const marketplaceCallbackRoutes: FastifyPluginAsyncZod<{ marketplace: Marketplace }> = async (
  app,
  { marketplace },
) => {
  // This plugin's own parser, in place of the server's (nul-guard.ts) for these routes only.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    rawBodies.set(request, body as string);
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(null, {});
    }
  });
  app.post(
    '/marketplace/partner-callbacks/:id',
    {
      // Out of the api's stored-response layer: it runs before the signature is checked and keys
      // every caller without a login as one principal, so an unsigned request could claim a
      // partner's next webhook-id, one partner's key could collide with another's, and a 409 would
      // be replayed after the state moved on. handleCallback deduplicates on (partner, webhook-id)
      // once the signature verifies, and only a callback it applied is remembered.
      // Partners need not send an Idempotency-Key: the signed webhook-id identifies a callback.
      config: { ownIdempotency: true, idempotencyKeyOptional: true },
      schema: {
        tags,
        summary: 'A partner reports an outcome: approved, declined, disbursed or repaid (signed)',
        description:
          'Signed with webhook-id, webhook-timestamp and webhook-signature (docs/partner-protocol.md) and deduplicated per partner on webhook-id: a repeat answers {"received": true, "duplicate": true}. An Idempotency-Key header is accepted but not needed, and plays no part.',
        params: idParams,
        body: z.object({
          type: z.enum(['approved', 'declined', 'disbursed', 'repaid']),
          application_id: z.string(),
          partner_ref: z.string().optional(),
          amount: z.string().optional(),
          interest: z.string().optional(),
          occurred_at: z.string().optional(),
        }),
        response: { 200: z.object({ received: z.literal(true), duplicate: z.boolean() }) },
      },
    },
    async (request) => {
      const result = await marketplace.handleCallback(
        request.params.id,
        request.headers as Record<string, string>,
        rawBodies.get(request.raw) ?? rawBodies.get(request) ?? JSON.stringify(request.body),
      );
      return { received: true as const, duplicate: result.duplicate };
    },
  );
};
