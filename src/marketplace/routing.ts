import { MilletError, businessDate, divRound, isUuid, newId, type Clock } from '../core/index.ts';
import { APR_CAP_PERCENT_E4 } from '../lending/index.ts';
import type { Tally } from '../core/tally-counter.ts';
import type { Database, Queryable } from '../db/index.ts';
import type { ApplicationWriter } from './application-writer.ts';
import { checkCoDebt, coDebtSnapshots, type CoDebtLimits, type CoDebtSnapshot } from './co-debt.ts';
import type { PartnerDirectory, RoutablePartner } from './partners.ts';
import { recordDecision } from './outcomes.ts';
import type { PartnerPinger, PingReply } from './pinger.ts';
import {
  limitUsage,
  monthlyBudgetRefuses,
  type LimitUsage,
  type RoutingCounters,
} from './routing-counters.ts';
import {
  PartnerHttpError,
  pingResponseSchema,
  postedApplicantSchema,
  postResponseSchema,
  signedPost,
  type PartnerHttp,
  type PingRequest,
  type PostRequest,
} from './protocol.ts';
import { rankByExpectedValue, type Exploration, type RankingExplanation } from './ranking.ts';
import {
  scoreBandOf,
  type ApplicantData,
  type ApplicantDirectory,
  type ApplicantField,
  type OwnOfferSource,
  type Partner,
  type Product,
  type Promotion,
  type ScoreBand,
} from './types.ts';

export interface RouterDeps {
  db: Database;
  clock: Clock;
  partners: PartnerDirectory;
  /** Group commit of the routed applications. */
  writer: ApplicationWriter;
  /** The ping fan-out (keep-alive connections, one deadline per application). */
  pinger: PartnerPinger;
  /** Posts to the chosen lender: only to addresses the policy allows. */
  http: PartnerHttp;
  /** Posts today, fees this month and posteriors of every partner, shared across applications. */
  counters: RoutingCounters;
  /** The user's co-debt numbers (batched with other applications' reads). */
  coDebt: (userId: string) => Promise<CoDebtSnapshot>;
  applicants: ApplicantDirectory;
  own: OwnOfferSource | undefined;
  /**
   * The routing deadline, in ms from the start of `apply` (DESIGN §2.6: ~500–750). Pings get what
   * is left of it minus `reserveMs`, so the user has the offers within about this time.
   */
  pingTimeoutMs: number;
  /** Kept from the deadline for ranking and writing the offers after the pings (at least). */
  reserveMs: number;
  /**
   * How long the work after the pings has been taking (an exponentially weighted mean, updated by
   * every application): twice it is reserved when that is more than `reserveMs`, so the deadline
   * holds on a slower database or a busier machine.
   */
  tail: { meanMs: number };
  postTimeoutMs: number;
  exploration: Exploration;
  random: () => number;
  coDebtLimits: CoDebtLimits;
  /** Where partners send callbacks: `${base}/v1/marketplace/partner-callbacks/{partnerId}`. */
  publicUrl: () => string;
  /** Counts each routing line by partner id and outcome (the metric millet_marketplace_routing_total). */
  tallyRouting: Tally;
}

export interface ApplyCommand {
  userId: string;
  product: Product;
  amount: bigint;
  termMonths: number;
  /** The applicant's region (GB/T 2260 code, 6 digits). */
  regionCode: string;
}

export interface Offer {
  id: string;
  source: 'partner' | 'own';
  partnerId: string | null;
  partnerName: string;
  amount: bigint;
  aprBp: number;
  termMonths: number;
  promotions: Promotion[];
  rank: number;
  explanation: RankingExplanation;
  /** The fields the lender needs: the consent screen lists them (none for the platform's own loan). */
  requiredFields: ApplicantField[];
}

export type RoutingOutcome =
  | 'offered'
  | 'no_offer'
  | 'timeout'
  | 'error'
  | 'ineligible'
  | 'daily_cap_reached'
  | 'monthly_budget_spent'
  /** Not pinged: it has not answered its recent pings at all (PartnerPinger's breaker). */
  | 'unresponsive'
  /** Pinged: it answered only with offers above the 24% APR cap, which are never shown. */
  | 'apr_above_cap';

export interface RoutingLine {
  partnerId: string;
  partnerName: string;
  outcome: RoutingOutcome;
  /**
   * For ineligible: which rule; for a cap, budget or unresponsive partner: the figures; for offers
   * dropped above the APR cap (apr_above_cap, or offered with some dropped): their APRs and the cap.
   */
  reason?: string;
  latencyMs?: number;
}

export interface Application {
  id: string;
  userId: string;
  product: Product;
  scoreBand: ScoreBand;
  amount: bigint;
  termMonths: number;
  regionCode: string;
  status: 'offered' | 'no_offers' | 'chosen' | 'posted';
  chosenOfferId: string | null;
  /** What became of the post to the chosen lender (posted, approved, declined, disbursed, …), or null. */
  outcome: Post['status'] | null;
  businessDate: string;
  routing: RoutingLine[];
  offers: Offer[];
  createdAt: Date;
}

/** Which eligibility rule keeps a partner out, or null when it may be pinged. */
export function ineligibility(
  partner: Partner,
  a: {
    product: Product;
    band: ScoreBand;
    age: number;
    identityClass: string;
    amount: bigint;
    termMonths: number;
    region: string;
  },
): string | null {
  const e = partner.eligibility;
  if ((partner.kind === 'card_issuer') !== (a.product === 'card')) return 'product';
  if (!e.scoreBands.includes(a.band)) return 'score_band';
  if (a.age < e.minAge || a.age > e.maxAge) return 'age';
  if (e.regions.length > 0 && !e.regions.some((prefix) => a.region.startsWith(prefix))) return 'region';
  if (a.amount < e.minAmount || a.amount > e.maxAmount) return 'amount';
  if (a.termMonths < e.minTermMonths || a.termMonths > e.maxTermMonths) return 'term';
  if (!(e.identityClasses as string[]).includes(a.identityClass)) return 'identity_class';
  return null;
}

/** Fen the platform earns when this partner approves an offer of `amount`: CPA + CPS (half-even). */
export function expectedPayout(partner: Partner, amount: bigint): bigint {
  const cps =
    partner.kind === 'lender' ? divRound(amount * BigInt(partner.pricing.cpsBp), 10_000n, 'half_even') : 0n;
  return partner.pricing.cpaFen + cps;
}

/**
 * The ceiling on the comprehensive cost (DESIGN §2.4) in the protocol's basis points: lending's
 * cap, which its own products are held to, so a partner's offer is held to the same number.
 */
export const APR_CAP_BP = Number(APR_CAP_PERCENT_E4 / 100n);

const percentOfBp = (bp: number) => `${Math.trunc(bp / 100)}.${String(bp % 100).padStart(2, '0')}%`;

type PartnerOffer = {
  offer_ref: string;
  amount: bigint;
  apr_bp: number;
  term_months: number;
  promotions: Promotion[];
};

/**
 * A partner's answer to a ping as routing sees it: an outcome and the offers worth showing. An
 * offer above the amount asked or outside the partner's own amount range is dropped: the co-debt
 * guard and the partner's eligibility were judged on the amount asked, and the post carries the
 * offer's. An offer above the APR cap is dropped too (a platform may not show one, PBoC
 * Announcement [2021] No. 3); its APR is kept in `aboveCapBp` for the routing line to explain.
 */
function readReply(
  reply: Exclude<PingReply, { outcome: 'unresponsive' }>,
  asked: bigint,
  partner: Partner,
): {
  outcome: 'offered' | 'no_offer' | 'timeout' | 'error';
  offers: PartnerOffer[];
  aboveCapBp: number[];
} {
  if (reply.outcome !== 'answered') return { outcome: reply.outcome, offers: [], aboveCapBp: [] };
  let json: unknown;
  try {
    json = JSON.parse(reply.text);
  } catch {
    return { outcome: 'error', offers: [], aboveCapBp: [] };
  }
  const parsed = pingResponseSchema.safeParse(json);
  if (!parsed.success) return { outcome: 'error', offers: [], aboveCapBp: [] };
  const offers: PartnerOffer[] = [];
  const aboveCapBp: number[] = [];
  for (const o of parsed.data.offers) {
    const amount = BigInt(o.amount);
    const { minAmount, maxAmount } = partner.eligibility;
    if (o.apr_bp > APR_CAP_BP) aboveCapBp.push(o.apr_bp);
    else if (amount > 0n && amount <= asked && amount >= minAmount && amount <= maxAmount)
      offers.push({ ...o, amount });
  }
  return { outcome: offers.length > 0 ? 'offered' : 'no_offer', offers, aboveCapBp };
}

/** The routing line's outcome and reason for a ping's offers dropped above the APR cap, if any. */
function aprCapLine(
  read: ReturnType<typeof readReply>,
): { outcome: 'apr_above_cap' | 'offered'; reason: string } | null {
  if (read.aboveCapBp.length === 0) return null;
  const aprs = read.aboveCapBp.map(percentOfBp).join(', ');
  const reason = `offered ${aprs} APR, above the ${percentOfBp(APR_CAP_BP)} cap: not shown`;
  return { outcome: read.outcome === 'offered' ? 'offered' : 'apr_above_cap', reason };
}

/** Resolves to undefined after `ms` (the own product gets the same deadline as partners). */
function withDeadline<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([work.catch(() => undefined), deadline]).finally(() => clearTimeout(timer));
}

const OWN_NAME = 'Millet loan';

/** eligibility → co-debt guard → parallel pings with a timeout → ranking → stored offers. */
export async function apply(deps: RouterDeps, command: ApplyCommand): Promise<Application> {
  const { clock } = deps;
  const deadline = performance.now() + deps.pingTimeoutMs;
  if (command.amount <= 0n)
    throw new MilletError('VALIDATION_FAILED', 'amount must be positive', { field: 'amount' });
  const profile = await deps.applicants.profile(command.userId);
  // Only reads so far (the profile): the user may verify, or get a score, and send the same
  // request again.
  const beforeAnyEffect = { beforeAnyEffect: true };
  if (!profile.verified || profile.identityClass === null || profile.ageYears === null)
    throw new MilletError(
      'IDENTITY_NOT_VERIFIED',
      'Verify your identity before applying for credit',
      undefined,
      beforeAnyEffect,
    );
  if (profile.ageYears < 18) throw new MilletError('CREDIT_UNDERAGE', 'Credit is for adults (18 or over)');
  if (profile.score === null)
    throw new MilletError(
      'CREDIT_SCORE_NOT_FOUND',
      'Get a credit score before applying for credit',
      undefined,
      beforeAnyEffect,
    );
  const band = scoreBandOf(profile.score);
  const today = businessDate(clock);
  // Independent reads, side by side: the user's co-debt, the partners, the shared counters.
  const [snapshot, active, numbers] = await Promise.all([
    deps.coDebt(command.userId),
    deps.partners.active(),
    deps.counters.read(today),
  ]);
  checkCoDebt(snapshot, command.amount, deps.coDebtLimits);

  const routing: RoutingLine[] = [];
  const toPing: RoutablePartner[] = [];
  for (const routable of active) {
    const partner = routable.partner;
    const reason = ineligibility(partner, {
      product: command.product,
      band,
      age: profile.ageYears,
      identityClass: profile.identityClass,
      amount: command.amount,
      termMonths: command.termMonths,
      region: command.regionCode,
    });
    const u = numbers.usage(partner.id);
    const line = { partnerId: partner.id, partnerName: partner.name };
    if (reason) routing.push({ ...line, outcome: 'ineligible', reason });
    else if (partner.dailyCap !== null && u.postsToday >= partner.dailyCap)
      routing.push({
        ...line,
        outcome: 'daily_cap_reached',
        reason: `${u.postsToday}/${partner.dailyCap} today`,
      });
    else if (
      monthlyBudgetRefuses(partner.monthlyBudgetFen, u.feesThisMonth, expectedPayout(partner, command.amount))
    )
      routing.push({
        ...line,
        outcome: 'monthly_budget_spent',
        reason: `${u.feesThisMonth}/${partner.monthlyBudgetFen} fen this month`,
      });
    else toPing.push(routable);
  }

  const id = newId();
  const ping: PingRequest = {
    ping_id: id,
    product: command.product,
    score_band: band,
    amount: command.amount.toString(),
    term_months: command.termMonths,
    region_code: command.regionCode,
  };
  const reserve = Math.max(deps.reserveMs, 2 * deps.tail.meanMs);
  const budget = Math.max(1, Math.floor(deadline - performance.now() - reserve));
  const [replies, ownOffer] = await Promise.all([
    deps.pinger.pingAll(
      toPing.map((r) => ({ url: r.partner.endpointUrl, key: r.key })),
      JSON.stringify(ping),
      budget,
    ),
    command.product === 'loan' && deps.own
      ? withDeadline(
          deps.own.quote({
            userId: command.userId,
            scoreBand: band,
            amount: command.amount,
            termMonths: command.termMonths,
          }),
          budget,
        )
      : Promise.resolve(undefined),
  ]);
  const tailStarted = performance.now();
  const pings: Array<{ partner: Partner; latencyMs: number } & ReturnType<typeof readReply>> = [];
  toPing.forEach(({ partner }, i) => {
    const reply = replies[i]!;
    const line = { partnerId: partner.id, partnerName: partner.name };
    if (reply.outcome === 'unresponsive') {
      routing.push({
        ...line,
        outcome: 'unresponsive',
        reason: `no answer to its last ${reply.failures} pings; pinged again once it answers a probe`,
      });
      return;
    }
    const ping = { partner, latencyMs: reply.latencyMs, ...readReply(reply, command.amount, partner) };
    pings.push(ping);
    routing.push({
      ...line,
      outcome: ping.outcome,
      latencyMs: ping.latencyMs,
      // Why nothing was sent: the policy on where requests may go refused the partner's address.
      ...(reply.outcome === 'error' && reply.reason ? { reason: reply.reason } : {}),
      // The ping's own row keeps no_offer (nothing was shown; the funnel counts offers shown).
      ...aprCapLine(ping),
    });
  });

  for (const line of routing) deps.tallyRouting(line.partnerId, line.outcome);

  interface Pending {
    key: string;
    partnerKey: string;
    payoutFen: bigint;
    aprBp: number;
    posterior: { approvals: number; declines: number };
    partner: Partner | null;
    offer: PartnerOffer;
  }
  const candidates: Pending[] = [];
  for (const p of pings)
    for (const offer of p.offers)
      candidates.push({
        key: `${p.partner.id}:${offer.offer_ref}`,
        partnerKey: p.partner.id,
        payoutFen: expectedPayout(p.partner, offer.amount),
        aprBp: offer.apr_bp,
        posterior: numbers.posterior(p.partner.id, band),
        partner: p.partner,
        offer,
      });
  if (ownOffer)
    candidates.push({
      key: 'own',
      partnerKey: 'own',
      payoutFen: ownOffer.valueFen,
      aprBp: ownOffer.aprBp,
      posterior: numbers.posterior('own', band),
      partner: null,
      offer: {
        offer_ref: 'own',
        amount: ownOffer.amount,
        apr_bp: ownOffer.aprBp,
        term_months: ownOffer.termMonths,
        promotions: ownOffer.promotions,
      },
    });
  const ranked = rankByExpectedValue(candidates, { exploration: deps.exploration, random: deps.random });
  const offers: Offer[] = ranked.map(({ candidate, explanation }) => ({
    id: newId(),
    source: candidate.partner ? 'partner' : 'own',
    partnerId: candidate.partner?.id ?? null,
    partnerName: candidate.partner?.name ?? OWN_NAME,
    amount: candidate.offer.amount,
    aprBp: candidate.offer.apr_bp,
    termMonths: candidate.offer.term_months,
    promotions: candidate.offer.promotions,
    rank: explanation.rank,
    explanation,
    requiredFields: candidate.partner?.requiredFields ?? [],
  }));
  const refs = new Map(ranked.map((r, i) => [offers[i]!.id, r.candidate.offer.offer_ref]));

  const now = clock.now();
  const application: Application = {
    id,
    userId: command.userId,
    product: command.product,
    scoreBand: band,
    amount: command.amount,
    termMonths: command.termMonths,
    regionCode: command.regionCode,
    status: offers.length > 0 ? 'offered' : 'no_offers',
    chosenOfferId: null,
    outcome: null,
    businessDate: today,
    routing,
    offers,
    createdAt: now,
  };
  await deps.writer.write({
    id,
    userId: command.userId,
    product: command.product,
    scoreBand: band,
    amount: command.amount,
    termMonths: command.termMonths,
    regionCode: command.regionCode,
    status: application.status,
    businessDate: today,
    routing,
    createdAt: now,
    pings: pings.map((p) => ({ partnerId: p.partner.id, outcome: p.outcome, latencyMs: p.latencyMs })),
    offers: offers.map((o) => ({
      id: o.id,
      source: o.source,
      partnerId: o.partnerId,
      partnerOfferRef: refs.get(o.id)!,
      amount: o.amount,
      aprBp: o.aprBp,
      termMonths: o.termMonths,
      promotions: o.promotions,
      rank: o.rank,
      explanation: o.explanation,
    })),
  });
  deps.tail.meanMs = 0.9 * deps.tail.meanMs + 0.1 * (performance.now() - tailStarted);
  return application;
}

interface ApplicationRow {
  id: string;
  user_id: string;
  product: Product;
  score_band: ScoreBand;
  amount: bigint;
  term_months: number;
  region_code: string;
  status: Application['status'];
  chosen_offer_id: string | null;
  business_date: string;
  routing: RoutingLine[];
  created_at: Date;
}

interface OfferRow {
  id: string;
  source: 'partner' | 'own';
  partner_id: string | null;
  partner_name: string | null;
  required_fields?: ApplicantField[] | null;
  partner_offer_ref: string;
  amount: bigint;
  apr_bp: number;
  term_months: number;
  promotions: Promotion[];
  rank: number;
  explanation: RankingExplanation;
}

/** An application with its offers in rank order; another user's is not found. */
export async function getApplication(q: Queryable, id: string, userId?: string): Promise<Application> {
  const { rows } = isUuid(id)
    ? await q.query<ApplicationRow>('SELECT * FROM marketplace_applications WHERE id = $1', [id])
    : { rows: [] };
  const row = rows[0];
  if (!row || (userId !== undefined && row.user_id !== userId))
    throw new MilletError('MARKETPLACE_APPLICATION_NOT_FOUND', 'No such application', { application_id: id });
  const offers = await q.query<OfferRow>(
    `SELECT o.*, p.name AS partner_name, p.required_fields FROM marketplace_offers o
       LEFT JOIN marketplace_partners p ON p.id = o.partner_id
      WHERE o.application_id = $1 ORDER BY o.rank`,
    [id],
  );
  const post = await q.query<{ status: Post['status'] }>(
    'SELECT status FROM marketplace_posts WHERE application_id = $1',
    [id],
  );
  return {
    id: row.id,
    userId: row.user_id,
    product: row.product,
    scoreBand: row.score_band,
    amount: row.amount,
    termMonths: row.term_months,
    regionCode: row.region_code,
    status: row.status,
    chosenOfferId: row.chosen_offer_id,
    outcome: post.rows[0]?.status ?? null,
    businessDate: row.business_date,
    routing: row.routing,
    createdAt: row.created_at,
    offers: offers.rows.map((o) => ({
      id: o.id,
      source: o.source,
      partnerId: o.partner_id,
      partnerName: o.partner_name ?? OWN_NAME,
      amount: o.amount,
      aprBp: o.apr_bp,
      termMonths: o.term_months,
      promotions: o.promotions,
      rank: o.rank,
      explanation: o.explanation,
      requiredFields: o.required_fields ?? [],
    })),
  };
}

export interface ChooseCommand {
  userId: string;
  applicationId: string;
  offerId: string;
  /** The fields the user agrees to share with this offer's lender (separate consent). */
  consentFields: ApplicantField[];
  /** The application form; only consented fields ever leave the platform, none are stored. */
  applicant: ApplicantData;
}

export interface Post {
  applicationId: string;
  offerId: string;
  source: 'partner' | 'own';
  partnerId: string | null;
  consentId: string;
  sentFields: ApplicantField[];
  status: 'posted' | 'approved' | 'declined' | 'disbursed' | 'repaid' | 'failed';
  partnerRef: string | null;
}

export const CONSENT_TERMS_VERSION = 'marketplace-2026-1';

/** The user chooses an offer: the consent is recorded, then only the consented fields are posted. */
export async function choose(deps: RouterDeps, command: ChooseCommand): Promise<Post> {
  const { db, clock } = deps;
  const fields = [...new Set(command.consentFields)].sort();
  // The protocol's monthly_income is integer fen: other text (the wallet sent the yuan typed) was
  // posted as given, so a lender read a hundredth of the income, or refused the post after the
  // consent was written.
  const income = command.applicant.monthly_income;
  if (
    fields.includes('monthly_income') &&
    income &&
    !postedApplicantSchema.safeParse({ monthly_income: income }).success
  )
    throw new MilletError('VALIDATION_FAILED', 'monthly_income must be integer fen, such as "1500000"', {
      field: 'applicant.monthly_income',
    });
  // The post carries the score band the application was routed with: once the user has withdrawn
  // consent to credit scoring (or granted it again, which leaves earlier scores unused), that band
  // must not reach a lender (DESIGN §2.9). Read before the transaction: the score service uses its
  // own connection. Before 2026-12-05 the band of a withdrawn score was still posted.
  if ((await deps.applicants.profile(command.userId)).score === null)
    throw new MilletError(
      'CREDIT_SCORE_NOT_FOUND',
      'Your credit score can no longer be used (consent to credit scoring was withdrawn, or granted again since): get a new score and apply again',
      { reason: 'score_not_usable' },
      { beforeAnyEffect: true },
    );
  const prepared = await db.transaction(async (tx) => {
    const { rows } = isUuid(command.applicationId)
      ? await tx.query<ApplicationRow>('SELECT * FROM marketplace_applications WHERE id = $1 FOR UPDATE', [
          command.applicationId,
        ])
      : { rows: [] };
    const app = rows[0];
    if (!app || app.user_id !== command.userId)
      throw new MilletError('MARKETPLACE_APPLICATION_NOT_FOUND', 'No such application', {
        application_id: command.applicationId,
      });
    if (app.status !== 'offered')
      throw new MilletError('MARKETPLACE_APPLICATION_STATE', `The application is ${app.status}`, {
        status: app.status,
      });
    const offer = (
      isUuid(command.offerId)
        ? await tx.query<OfferRow>(
            `SELECT o.*, p.name AS partner_name FROM marketplace_offers o
               LEFT JOIN marketplace_partners p ON p.id = o.partner_id
              WHERE o.id = $1 AND o.application_id = $2`,
            [command.offerId, app.id],
          )
        : { rows: [] }
    ).rows[0];
    if (!offer) throw new MilletError('MARKETPLACE_OFFER_NOT_FOUND', 'No such offer in this application');
    // Routing shows none above the cap now; an offer stored before it checked may still be chosen.
    if (offer.apr_bp > APR_CAP_BP)
      throw new MilletError(
        'APR_ABOVE_CAP',
        `This offer's APR of ${percentOfBp(offer.apr_bp)} is above the ${percentOfBp(APR_CAP_BP)} ceiling; choose another offer`,
        { offer_id: offer.id, apr_bp: offer.apr_bp, cap_bp: APR_CAP_BP },
      );
    // The guard routing checked counts posts, and this choice makes one: checked again with the
    // user's choices one at a time, or applications routed side by side could all be posted.
    await tx.query(
      `INSERT INTO marketplace_applicants (user_id) VALUES ($1)
       ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id`,
      [command.userId],
    );
    const snapshot = (await coDebtSnapshots(tx, [command.userId], clock.now())).get(command.userId)!;
    // The post is of the offer's amount, so that is what the guard must count.
    checkCoDebt(snapshot, offer.amount, deps.coDebtLimits);
    const partner = offer.partner_id ? await deps.partners.getLocked(offer.partner_id, tx) : null;
    // Offers outlive routing: a partner paused or terminated since must not get the user's data.
    if (partner && partner.status !== 'active')
      throw new MilletError(
        'MARKETPLACE_PARTNER_INACTIVE',
        `${partner.name} is not taking applications now; choose another offer`,
        { partner_id: partner.id, partner_status: partner.status },
      );
    const reservedFen = partner ? expectedPayout(partner, offer.amount) : 0n;
    if (partner) await holdLimits(tx, partner, reservedFen, businessDate(clock));
    const missing = (partner?.requiredFields ?? []).filter((f) => !fields.includes(f));
    if (missing.length > 0)
      throw new MilletError(
        'MARKETPLACE_CONSENT_INSUFFICIENT',
        `${partner!.name} needs your consent to share: ${missing.join(', ')}`,
        { missing_fields: missing },
      );
    const absent = fields.filter((f) => !command.applicant[f]);
    if (absent.length > 0)
      throw new MilletError(
        'VALIDATION_FAILED',
        `Fill in the fields you agreed to share: ${absent.join(', ')}`,
        {
          field: 'applicant',
          missing_fields: absent,
        },
      );
    const now = clock.now();
    const consentId = newId();
    const recipient = partner ? partner.name : OWN_NAME;
    await tx.query(
      `INSERT INTO marketplace_consents (id, user_id, application_id, partner_id, recipient, purpose,
         fields, terms_version, granted_at)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
      [
        consentId,
        command.userId,
        app.id,
        partner?.id ?? null,
        recipient,
        `Assess and decide your ${app.product === 'card' ? 'credit card' : 'loan'} application ${app.id} (offer ${offer.id})`,
        JSON.stringify(fields),
        CONSENT_TERMS_VERSION,
        now,
      ],
    );
    await tx.query(
      `INSERT INTO marketplace_posts (application_id, offer_id, user_id, source, partner_id, score_band,
         consent_id, sent_fields, amount, status, posted_at, business_date, reserved_fen)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,'posted',$10,$11,$12)
       ON CONFLICT (application_id) DO UPDATE
         SET offer_id = EXCLUDED.offer_id, source = EXCLUDED.source, partner_id = EXCLUDED.partner_id,
             consent_id = EXCLUDED.consent_id, sent_fields = EXCLUDED.sent_fields, amount = EXCLUDED.amount,
             status = 'posted', posted_at = EXCLUDED.posted_at, business_date = EXCLUDED.business_date,
             reserved_fen = EXCLUDED.reserved_fen
         WHERE marketplace_posts.status = 'failed'`,
      [
        app.id,
        offer.id,
        command.userId,
        offer.source,
        partner?.id ?? null,
        app.score_band,
        consentId,
        JSON.stringify(fields),
        offer.amount,
        now,
        businessDate(clock),
        reservedFen,
      ],
    );
    // The funnel's record of this choice: the post row above is taken over by a later choice when
    // this post fails, and this partner's funnel would lose it.
    await tx.query(
      `INSERT INTO marketplace_choices (consent_id, application_id, partner_key, application_date, chosen_at)
       VALUES ($1,$2,$3,$4,$5)`,
      [consentId, app.id, partner?.id ?? 'own', app.business_date, now],
    );
    await tx.query(
      `UPDATE marketplace_applications SET status = 'chosen', chosen_offer_id = $2 WHERE id = $1`,
      [app.id, offer.id],
    );
    return { app, offer, partner, consentId };
  });

  // Only the consented fields, whatever else the form carried.
  const applicant: ApplicantData = {};
  for (const f of fields) applicant[f] = command.applicant[f]!;
  const { app, offer, partner, consentId } = prepared;
  const posted = (status: Post['status'], partnerRef: string | null): Post => ({
    applicationId: app.id,
    offerId: offer.id,
    source: offer.source,
    partnerId: partner?.id ?? null,
    consentId,
    sentFields: fields,
    status,
    partnerRef,
  });
  let status: Post['status'] = 'posted';
  let partnerRef: string | null = null;
  try {
    if (partner) {
      const body: PostRequest = {
        application_id: app.id,
        offer_ref: offer.partner_offer_ref,
        score_band: app.score_band,
        amount: offer.amount.toString(),
        term_months: offer.term_months,
        callback_url: `${deps.publicUrl()}/v1/marketplace/partner-callbacks/${partner.id}`,
        applicant,
      };
      const answer = await signedPost(
        deps.http,
        `${partner.endpointUrl}/post`,
        await deps.partners.secret(partner.id),
        body,
        postResponseSchema,
        AbortSignal.timeout(deps.postTimeoutMs),
      );
      partnerRef = answer.partner_ref;
      if (answer.status !== 'received') status = answer.status;
    } else {
      if (!deps.own)
        throw new MilletError('MARKETPLACE_OWN_OFFER_UNAVAILABLE', 'The platform loan is not wired');
      const answer = await deps.own.apply({
        userId: command.userId,
        applicationId: app.id,
        amount: offer.amount,
        termMonths: offer.term_months,
        applicant,
      });
      partnerRef = answer.reference;
      if (answer.decision !== 'pending') status = answer.decision;
    }
  } catch (error) {
    // The post did not reach the lender, or its answer did not reach us: the user may choose again
    // (this offer or another) — unless the lender's signed callback has already moved the post on,
    // which proves it has the application. Then the post stands as that callback left it: failing
    // it would offer the application to a second lender and refuse the first one's next callback.
    const recorded = await db.transaction(async (tx) => {
      const failed = await tx.query(
        `UPDATE marketplace_posts SET status = 'failed' WHERE application_id = $1 AND status = 'posted'
         RETURNING 1`,
        [app.id],
      );
      if (failed.rows.length > 0) {
        await tx.query(`UPDATE marketplace_choices SET failed_at = $2 WHERE consent_id = $1`, [
          consentId,
          clock.now(),
        ]);
        await tx.query(
          `UPDATE marketplace_applications SET status = 'offered', chosen_offer_id = NULL WHERE id = $1`,
          [app.id],
        );
        return null;
      }
      await tx.query(`UPDATE marketplace_applications SET status = 'posted' WHERE id = $1`, [app.id]);
      return recordedStatus(tx, app.id);
    });
    if (recorded) return posted(recorded, null);
    if (error instanceof MilletError) throw error;
    throw new MilletError(
      'MARKETPLACE_PARTNER_UNAVAILABLE',
      'The lender could not take the application now',
      {
        partner_id: partner?.id ?? null,
        // Not the address itself: the user choosing the offer sees these details.
        ...(error instanceof PartnerHttpError && error.reason === 'refused'
          ? { reason: 'address_refused' }
          : {}),
      },
    );
  }
  await db.query(`UPDATE marketplace_posts SET partner_ref = $2 WHERE application_id = $1`, [
    app.id,
    partnerRef,
  ]);
  await db.query(`UPDATE marketplace_applications SET status = 'posted' WHERE id = $1`, [app.id]);
  if (status === 'approved' || status === 'declined') {
    try {
      await recordDecision(db, clock, {
        applicationId: app.id,
        partnerId: partner?.id ?? null,
        messageId: `post:${app.id}`,
        type: status,
        amount: status === 'approved' ? offer.amount : undefined,
      });
    } catch (error) {
      // The lender's signed callback decided the post before its answer to the post reached us:
      // the user is told what was recorded first, not a 409 for a post that went through.
      if (!(error instanceof MilletError && error.code === 'MARKETPLACE_CALLBACK_OUT_OF_ORDER')) throw error;
      status = await recordedStatus(db, app.id);
    }
  }
  return posted(status, partnerRef);
}

const NOTHING_USED: LimitUsage = Object.freeze({ postsToday: 0, fees: 0n, held: 0n });

/**
 * Refuses a choice the partner's daily cap or monthly budget has no room for, counting under the
 * lock on the partner's row (`getLocked`), so choices made at once are posted only up to the limit.
 * Routing's check is against numbers up to a second old and offers stay open after it: many
 * applications routed together each saw room, and every one chosen was posted. The post row this
 * choice then writes is its hold: a post that fails ('failed') or is declined holds nothing, so
 * its place goes back at once; an open one holds what it may still earn (`reserved_fen` less the
 * fees already recorded, which count by themselves in the month they arrived) in this month's
 * budget, also when it was made last month (`holdsSince`).
 */
async function holdLimits(tx: Queryable, partner: Partner, payoutFen: bigint, today: string): Promise<void> {
  if (partner.dailyCap === null && partner.monthlyBudgetFen === null) return;
  const usage = (await limitUsage(tx, today, partner.id)).get(partner.id) ?? NOTHING_USED;
  const full = (limit: 'daily_cap' | 'monthly_budget', when: string) =>
    new MilletError(
      'MARKETPLACE_PARTNER_AT_CAPACITY',
      `${partner.name} is taking no more applications ${when}; choose another offer`,
      { partner_id: partner.id, limit },
    );
  if (partner.dailyCap !== null && usage.postsToday >= partner.dailyCap) throw full('daily_cap', 'today');
  if (monthlyBudgetRefuses(partner.monthlyBudgetFen, usage.fees + usage.held, payoutFen))
    throw full('monthly_budget', 'this month');
}

/** The status a post's row holds now (a callback may have moved it on). */
async function recordedStatus(q: Queryable, applicationId: string): Promise<Post['status']> {
  const { rows } = await q.query<{ status: Post['status'] }>(
    'SELECT status FROM marketplace_posts WHERE application_id = $1',
    [applicationId],
  );
  return rows[0]!.status;
}
