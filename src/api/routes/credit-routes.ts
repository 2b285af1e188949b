import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  employmentDurations,
  housingKinds,
  loanPurposes,
  type CreditConsent,
  type CreditScore,
  type CreditService,
} from '../../credit/index.ts';
import { amountInput, idParams, pageOf, pageQuery, timestampOutput } from '../schemas.ts';

const consentOutput = z.object({
  id: z.string(),
  scope: z.string(),
  data_categories: z.array(z.string()),
  recipient: z.string(),
  purpose: z.string(),
  terms_version: z.string(),
  granted_at: timestampOutput,
  withdrawn_at: timestampOutput.nullable(),
  active: z.boolean(),
});

const reasonOutput = z.object({
  code: z.string(),
  feature: z.string(),
  points_lost: z.number(),
  text: z.string().meta({ description: 'In the language picked by Accept-Language (zh-CN or en)' }),
  text_en: z.string(),
  text_zh: z.string(),
});

const scoreOutput = z.object({
  id: z.string(),
  user_id: z.string(),
  score: z.number().int().meta({ description: '350–950, higher is safer' }),
  probability_of_default: z.number(),
  model: z.enum(['behaviour', 'application']),
  model_version: z.string(),
  learner: z.string(),
  reasons: z.array(reasonOutput).meta({
    description:
      'Up to four reasons, most points lost first: characteristics that cost points and are true of the user (none when none does)',
  }),
  language: z.enum(['en', 'zh-CN']),
  features_hash: z.string(),
  trigger: z.enum(['on_demand', 'refresh']),
  business_date: z.string(),
  scored_at: timestampOutput,
});

const applicationInput = z.object({
  amount: amountInput.meta({ description: 'Amount you mean to borrow, fen ("1000000" = 10,000.00 CNY)' }),
  duration_months: z.number().int().min(1).max(72),
  purpose: z.enum(loanPurposes),
  employment: z.enum(employmentDurations).meta({ description: 'Time in your current employment' }),
  housing: z.enum(housingKinds),
});

type Language = 'en' | 'zh-CN';

/** zh-CN when Accept-Language ranks a Chinese tag above English; en otherwise. */
export function pickLanguage(header: string | undefined): Language {
  let best: { lang: Language; q: number } = { lang: 'en', q: 0 };
  for (const part of (header ?? '').split(',')) {
    const [tag = '', ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    const lang: Language | undefined = tag.startsWith('zh')
      ? 'zh-CN'
      : tag.startsWith('en')
        ? 'en'
        : undefined;
    if (lang && Number.isFinite(q) && q > best.q) best = { lang, q };
  }
  return best.lang;
}

const consentJson = (c: CreditConsent) => ({
  id: c.id,
  scope: c.scope,
  data_categories: c.dataCategories,
  recipient: c.recipient,
  purpose: c.purpose,
  terms_version: c.termsVersion,
  granted_at: c.grantedAt.toISOString(),
  withdrawn_at: c.withdrawnAt?.toISOString() ?? null,
  active: c.withdrawnAt === null,
});

const scoreJson = (s: CreditScore, language: Language) => ({
  id: s.id,
  user_id: s.userId,
  score: s.score,
  probability_of_default: Math.round(s.probability * 1e6) / 1e6,
  model: s.model,
  model_version: s.modelVersion,
  learner: s.learner,
  reasons: s.reasons.map((r) => ({
    code: r.code,
    feature: r.feature,
    points_lost: r.points_lost,
    text: language === 'zh-CN' ? r.text_zh : r.text_en,
    text_en: r.text_en,
    text_zh: r.text_zh,
  })),
  language,
  features_hash: s.featuresHash,
  trigger: s.trigger,
  business_date: s.businessDate,
  scored_at: s.scoredAt.toISOString(),
});

/** The credit score ("Pay Points"): consent, on-demand score, "why my score", history. */
export const creditRoutes: FastifyPluginAsyncZod<{ credit: CreditService }> = async (app, { credit }) => {
  const user = { userAuth: true } as const;
  const tags = ['credit'];

  app.post(
    '/me/credit-consent',
    {
      config: user,
      schema: {
        tags,
        summary: 'Consent to credit scoring',
        description:
          'Records what is used (data_categories), by whom and for what. Needed before any score; verified adults only (403 IDENTITY_NOT_VERIFIED, CREDIT_UNDERAGE). Granting while active returns the active consent.',
        response: { 201: consentOutput },
      },
    },
    async (request, reply) =>
      reply.code(201).send(consentJson(await credit.grantConsent(request.user!.userId))),
  );

  app.get(
    '/me/credit-consent',
    {
      config: user,
      schema: {
        tags,
        summary: 'My credit-scoring consent records, oldest first (withdrawn ones included)',
        response: { 200: z.object({ active: z.boolean(), records: z.array(consentOutput) }) },
      },
    },
    async (request) => {
      const records = await credit.listConsents(request.user!.userId);
      return { active: records.some((r) => r.withdrawnAt === null), records: records.map(consentJson) };
    },
  );

  app.post(
    '/me/credit-consent/withdraw',
    {
      config: user,
      schema: {
        tags,
        summary: 'Withdraw consent to credit scoring',
        description:
          'Stops all future scoring (on demand and in the monthly refresh). Scores already computed are kept in your history; the consent record is kept with its withdrawal time.',
        response: {
          200: consentOutput.extend({
            history_kept: z.literal(true),
            note: z.string(),
          }),
        },
      },
    },
    async (request) => ({
      ...consentJson(await credit.withdrawConsent(request.user!.userId)),
      history_kept: true as const,
      note: 'No new scores will be computed. Past scores stay in your history.',
    }),
  );

  app.post(
    '/me/score',
    {
      config: user,
      schema: {
        tags,
        summary: 'Compute my credit score now',
        description:
          'Needs an active consent (403 CONSENT_REQUIRED). Before any pay-later history the application model is used with these answers (or the last ones given; 422 CREDIT_APPLICATION_REQUIRED for a first score without them). Accept-Language: zh-CN picks Chinese reason texts.',
        body: z.object({ application: applicationInput.optional() }),
        response: { 201: scoreOutput },
      },
    },
    async (request, reply) => {
      const a = request.body.application;
      const score = await credit.score(
        request.user!.userId,
        a && {
          amount: a.amount,
          durationMonths: a.duration_months,
          purpose: a.purpose,
          employment: a.employment,
          housing: a.housing,
        },
      );
      const language = pickLanguage(request.headers['accept-language']);
      return reply.code(201).header('content-language', language).send(scoreJson(score, language));
    },
  );

  app.get(
    '/me/score',
    {
      config: user,
      schema: {
        tags,
        summary: 'Why my score: my latest score with its reasons (up to four)',
        description:
          'Still shown after consent is withdrawn (the history is kept), though then no other service uses it: pay-later, loans and the marketplace see no score until consent is granted again.',
        response: { 200: scoreOutput },
      },
    },
    async (request, reply) => {
      const language = pickLanguage(request.headers['accept-language']);
      reply.header('content-language', language);
      // The user's own latest score stays readable after a withdrawal (only its use stops).
      return scoreJson(await credit.getLatestScoreOnRecord(request.user!.userId), language);
    },
  );

  app.get(
    '/me/score/history',
    {
      config: user,
      schema: {
        tags,
        summary: 'My scores, newest first',
        querystring: z.object(pageQuery),
        response: { 200: pageOf(scoreOutput) },
      },
    },
    async (request) => {
      const language = pickLanguage(request.headers['accept-language']);
      const page = await credit.getScoreHistory(request.user!.userId, request.query);
      return { items: page.items.map((s) => scoreJson(s, language)), next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/operator/credit/score-distribution',
    {
      config: { scope: 'credit:read' },
      schema: {
        tags,
        summary: 'Score distribution in bands of 50 and its drift month over month (operators)',
        description:
          'Each user counted once at their latest score; per business month, each user’s last score that month; psi compares the latest month with the one before.',
        response: {
          200: z.object({
            users: z.number().int(),
            mean: z.number().nullable(),
            bands: z.array(
              z.object({ from: z.number().int(), to: z.number().int(), count: z.number().int() }),
            ),
            months: z.array(
              z.object({
                month: z.string(),
                users: z.number().int(),
                mean: z.number(),
                bands: z.array(z.number().int()),
              }),
            ),
            psi: z.number().nullable(),
          }),
        },
      },
    },
    async () => credit.scoreDistribution(),
  );
  app.get(
    '/operator/credit/users/:id/scores',
    {
      config: { scope: 'credit:read' },
      schema: {
        tags,
        summary: "A user's scores, newest first (operators)",
        params: idParams,
        querystring: z.object(pageQuery),
        response: { 200: pageOf(scoreOutput) },
      },
    },
    async (request) => {
      const language = pickLanguage(request.headers['accept-language']);
      const page = await credit.getScoreHistory(request.params.id, request.query);
      return { items: page.items.map((s) => scoreJson(s, language)), next_cursor: page.nextCursor };
    },
  );
};
