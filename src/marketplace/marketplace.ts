import { createHmac } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Registry } from 'prom-client';
import { Agent } from 'undici';
import { batchedLoader, deriveSubkey, type Clock } from '../core/index.ts';
import { tallyCounter } from '../core/tally-counter.ts';
import { loadMigrations, type Database, type Migration } from '../db/index.ts';
import type { Ledger } from '../ledger/index.ts';
import type { WebhookHeaders } from '../webhooks/index.ts';
import { coDebtSnapshots, defaultCoDebtLimits, type CoDebtLimits, type CoDebtSnapshot } from './co-debt.ts';
import { listConsents, withdrawConsent, type MarketplaceConsent } from './consents.ts';
import { handleCallback, loadPosteriors, recordDecision } from './outcomes.ts';
import {
  PartnerDirectory,
  type CreatePartnerCommand,
  type CreatedPartner,
  type PartnerLimits,
  type PartnerPage,
  type PartnerEndpointPolicy,
} from './partners.ts';
import { ApplicationWriter } from './application-writer.ts';
import { PartnerPinger, type PingerOptions } from './pinger.ts';
import type { CallbackType } from './protocol.ts';
import { RoutingCounters } from './routing-counters.ts';
import { posteriorMean, seededRandom, type Exploration } from './ranking.ts';
import {
  apply,
  choose,
  getApplication,
  type Application,
  type ApplyCommand,
  type ChooseCommand,
  type Post,
} from './routing.ts';
import {
  ensureMarketplaceAccounts,
  funnel,
  getSettlement,
  listSettlements,
  recordPayment,
  settleMonth,
  type FunnelDay,
  type Settlement,
} from './settlement.ts';
import type { ApplicantDirectory, OwnOfferSource, Partner, PartnerStatus, ScoreBand } from './types.ts';
import { scoreBands } from './types.ts';

export const marketplaceMigrations: Migration[] = loadMigrations(
  'marketplace',
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
);

export interface MarketplaceOptions {
  db: Database;
  clock: Clock;
  ledger: Ledger;
  /** The master key partner signing secrets are sealed under (an HKDF subkey of it). */
  encryptionKey: Uint8Array;
  /**
   * Where requests to partners may go (the webhooks instance: its policy): endpoint URLs are checked
   * when saved and before each request, and every connection to a partner through its lookup.
   */
  webhooks: PartnerEndpointPolicy;
  applicants: ApplicantDirectory;
  /** The platform's own loan; undefined until lending provides it (no own offer is shown). */
  own?: OwnOfferSource;
  /** Base URL partners call back, e.g. https://api.example.com. */
  publicUrl: string | (() => string);
  /** Where a partner's payment arrives (the wallet's bank clearing account). */
  bankClearingAccountId: () => string;
  /** The routing deadline in ms (default 600): pings get what is left minus `reserveMs`. */
  pingTimeoutMs?: number;
  /** Part of the deadline kept for ranking and writes (default 20 ms). */
  reserveMs?: number;
  postTimeoutMs?: number;
  exploration?: Exploration;
  /** Seed for Thompson sampling (tests, simulations); default Math.random. */
  seed?: number;
  coDebtLimits?: Partial<CoDebtLimits>;
  /** The ping fan-out's connections, linger time and breaker (defaultPingerOptions). */
  pinger?: Partial<PingerOptions>;
  /** Where millet_marketplace_routing_total is registered; none: not counted. */
  registry?: Registry;
}

export interface PartnerPosterior {
  partnerKey: string;
  scoreBand: ScoreBand;
  approvals: number;
  declines: number;
  posteriorMean: number;
}

/** The loan marketplace (DESIGN §2.6). */
export interface Marketplace {
  readonly pingTimeoutMs: number;
  createPartner(command: CreatePartnerCommand): Promise<CreatedPartner>;
  getPartner(id: string): Promise<Partner>;
  listPartners(query?: { after?: string; limit?: number; status?: PartnerStatus }): Promise<PartnerPage>;
  setPartnerStatus(id: string, status: PartnerStatus): Promise<Partner>;
  setPartnerLimits(id: string, limits: PartnerLimits): Promise<Partner>;
  /** Routes an application: eligibility, co-debt guard, parallel pings, ranking; offers stored. */
  apply(command: ApplyCommand): Promise<Application>;
  getApplication(id: string, userId?: string): Promise<Application>;
  /** Records the consent and posts only the consented fields to the chosen lender. */
  choose(command: ChooseCommand): Promise<Post>;
  listConsents(
    userId: string,
    query?: { before?: string; limit?: number },
  ): Promise<{ items: MarketplaceConsent[]; nextCursor: string | null }>;
  withdrawConsent(userId: string, consentId: string): Promise<MarketplaceConsent>;
  /** A partner callback as received: raw body and headers (signature checked here). */
  handleCallback(
    partnerId: string,
    headers: WebhookHeaders,
    rawBody: string,
  ): Promise<{ duplicate: boolean; type: CallbackType; applicationId: string }>;
  /** The platform's own loan reports its outcome here (lending calls it), under the same rules. */
  recordOwnOutcome(
    applicationId: string,
    eventId: string,
    type: CallbackType,
    amount?: bigint,
    interest?: bigint,
  ): Promise<void>;
  /**
   * Lending's loan-drawn listener (wired in src/app.ts): a loan drawn on an offer the marketplace
   * posted to the own loan is its `disbursed` outcome. Loans applied for outside the marketplace
   * are not its business and are ignored; a repeat for the same loan changes nothing.
   */
  ownLoanDrawn(event: { loanId: string; offerId: string; amount: bigint }): Promise<void>;
  /** The learned approval posteriors per band of a partner (or 'own'). */
  posteriors(partnerKey: string): Promise<PartnerPosterior[]>;
  /** Applications and loans across partners in the last 30/90 days (the co-debt guard's input). */
  coDebt(userIds: readonly string[], asOf?: Date): Promise<Map<string, CoDebtSnapshot>>;
  /** For the credit FeatureSource.existingCredits: loans outstanding through partners (the own loan's are lending's). */
  existingCredits(userIds: readonly string[]): Promise<ReadonlyMap<string, number>>;
  settleMonth(partnerId: string, month: string): Promise<Settlement>;
  getSettlement(id: string): Promise<Settlement>;
  listSettlements(partnerId: string): Promise<Settlement[]>;
  recordPayment(settlementId: string, paymentId: string, amount: bigint): Promise<Settlement>;
  /** Per business date; `partnerId` 'own' is the platform's own loan. */
  funnel(partnerId: string, from: string, to: string): Promise<FunnelDay[]>;
  /**
   * A keyed digest (HMAC-SHA256 under a subkey of the master key) of an applicant field, so the
   * idempotency store's request fingerprint holds no fast hash of a name or ID number.
   */
  keyedDigest(value: string): string;
  /** Closes the partners' keep-alive connections. */
  close(): Promise<void>;
}

export function createMarketplace(options: MarketplaceOptions): Marketplace {
  const { db, clock, ledger } = options;
  const partners = new PartnerDirectory(db, clock, options.encryptionKey, options.webhooks);
  const digestKey = deriveSubkey(options.encryptionKey, 'millet/marketplace/request-digest');
  const pingTimeoutMs = options.pingTimeoutMs ?? 600;
  const publicUrl =
    typeof options.publicUrl === 'string' ? () => options.publicUrl as string : options.publicUrl;
  const counters = new RoutingCounters(db);
  // Posts and report requests (a few a second at most): kept connections, each checked when made.
  const http = {
    checkUrl: (url: string) => options.webhooks.checkUrl(url),
    dispatcher: new Agent({ connect: { lookup: options.webhooks.connectLookup() } }),
  };
  // Applications arriving together read their users' co-debt in one query.
  const coDebtLoader = batchedLoader(
    async (userIds) => [...(await coDebtSnapshots(db, userIds, clock.now())).entries()],
    ([userId]) => userId,
  );
  /** Runs a change to posts, fees or posteriors, then has routing read them afresh. */
  const changing = async <T>(work: Promise<T>): Promise<T> => {
    try {
      return await work;
    } finally {
      counters.invalidate();
    }
  };
  const deps = {
    db,
    clock,
    partners,
    pinger: new PartnerPinger(options.webhooks, options.pinger),
    http,
    counters,
    coDebt: async (userId: string) => (await coDebtLoader.load(userId))![1],
    writer: new ApplicationWriter(db),
    applicants: options.applicants,
    own: options.own,
    pingTimeoutMs,
    reserveMs: options.reserveMs ?? 20,
    tail: { meanMs: 0 },
    postTimeoutMs: options.postTimeoutMs ?? 5_000,
    exploration: options.exploration ?? 'thompson',
    random: options.seed === undefined ? Math.random : seededRandom(options.seed),
    coDebtLimits: { ...defaultCoDebtLimits, ...options.coDebtLimits },
    publicUrl,
    tallyRouting: options.registry
      ? tallyCounter(options.registry, {
          name: 'millet_marketplace_routing_total',
          help: 'Partners weighed by routing, by partner id and outcome (offered, no_offer, timeout, error, apr_above_cap; not pinged: ineligible, daily_cap_reached, monthly_budget_spent, unresponsive)',
          labelNames: ['partner', 'outcome'],
        })
      : () => {},
  };
  const settlementDeps = {
    db,
    clock,
    ledger,
    partners,
    http,
    bankClearingAccountId: options.bankClearingAccountId,
  };
  return {
    pingTimeoutMs,
    async createPartner(command) {
      const created = await partners.create(command);
      await ensureMarketplaceAccounts(ledger, created.partner.id);
      return created;
    },
    getPartner: (id) => partners.get(id),
    listPartners: (query) => partners.list(query),
    setPartnerStatus: (id, status) => partners.setStatus(id, status),
    setPartnerLimits: (id, limits) => partners.setLimits(id, limits),
    apply: (command) => apply(deps, command),
    getApplication: (id, userId) => getApplication(db, id, userId),
    choose: (command) => changing(choose(deps, command)),
    listConsents: (userId, query) => listConsents(db, userId, query),
    withdrawConsent: (userId, consentId) => withdrawConsent(db, clock, userId, consentId),
    handleCallback: (partnerId, headers, rawBody) =>
      changing(handleCallback(db, clock, partners, partnerId, headers, rawBody)),
    async recordOwnOutcome(applicationId, eventId, type, amount, interest) {
      await changing(
        recordDecision(db, clock, {
          applicationId,
          partnerId: null,
          messageId: `own:${eventId}`,
          type,
          amount,
          interest,
        }),
      );
    },
    async ownLoanDrawn({ loanId, offerId, amount }) {
      const { rows } = await db.query<{ application_id: string }>(
        `SELECT application_id FROM marketplace_posts
          WHERE source = 'own' AND partner_ref = $1 AND status <> 'failed'`,
        [offerId],
      );
      const applicationId = rows[0]?.application_id;
      if (!applicationId) return;
      await changing(
        recordDecision(db, clock, {
          applicationId,
          partnerId: null,
          messageId: `own:disbursed:${loanId}`,
          type: 'disbursed',
          amount,
        }),
      );
    },
    async posteriors(requestedKey) {
      // Posteriors are keyed by the stored id as text: the same UUID in capitals read none of them.
      const partnerKey = requestedKey.toLowerCase();
      const out: PartnerPosterior[] = [];
      for (const band of scoreBands) {
        const counts = (await loadPosteriors(db, [partnerKey], band)).get(partnerKey)!;
        out.push({ partnerKey, scoreBand: band, ...counts, posteriorMean: posteriorMean(counts) });
      }
      return out;
    },
    coDebt: (userIds, asOf) => coDebtSnapshots(db, userIds, asOf ?? clock.now()),
    async existingCredits(userIds) {
      const snapshots = await coDebtSnapshots(db, userIds, clock.now());
      return new Map([...snapshots].map(([id, s]) => [id, s.outstandingLoans]));
    },
    settleMonth: (partnerId, month) => settleMonth(settlementDeps, partnerId, month),
    getSettlement: (id) => getSettlement(db, id),
    listSettlements: async (partnerId) => {
      await partners.get(partnerId);
      return listSettlements(db, partnerId);
    },
    recordPayment: (settlementId, paymentId, amount) =>
      recordPayment(settlementDeps, settlementId, paymentId, amount),
    funnel: async (partnerId, from, to) => {
      if (partnerId !== 'own') await partners.get(partnerId);
      return funnel(db, partnerId, from, to);
    },
    keyedDigest: (value) => createHmac('sha256', digestKey).update(value, 'utf8').digest('base64url'),
    async close() {
      await Promise.all([deps.pinger.close(), http.dispatcher.close()]);
    },
  };
}
