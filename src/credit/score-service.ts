import { scoreDistribution, type ScoreDistribution } from './score-distribution.ts';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  MilletError,
  businessDate as businessDateOfClock,
  businessDateOf,
  isUuid,
  type Clock,
} from '../core/index.ts';
import { loadMigrations, type Database, type Migration, type Queryable } from '../db/index.ts';
import { endOfBusinessDate, isBusinessDate } from '../jobs/index.ts';
import { defaultArtifactPath, readArtifact, type CreditArtifact } from './artifact.ts';
import {
  activeConsent,
  insertConsent,
  listConsents,
  stampWithdrawal,
  type CreditConsent,
} from './consent.ts';
import type { ModelName } from './datasets.ts';
import {
  answersFromJson,
  answersToJson,
  applicationFeatures,
  noLineHistoryFeatureSource,
  type ApplicationAnswers,
  type FeatureSource,
  type StoredAnswers,
} from './features.ts';
import type { ReasonCode } from './score.ts';
import { noDebtSource, type CreditDebtSource } from './debts.ts';
import {
  scoreRow,
  type NewScore,
  type ScoreContext,
  type ScorePlan,
  type ScoreTrigger,
} from './score-rows.ts';
import { ScoringThread } from './scoring-thread.ts';

export const creditMigrations: Migration[] = loadMigrations(
  'credit',
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
);

/** What scoring needs to know about a user; the identity module provides it. */
export interface CreditUser {
  kycStatus: 'none' | 'verified';
  /** 18 or over at the instant asked about; false while unverified. */
  isAdult: boolean;
}

export interface CreditUserDirectory {
  getUser(userId: string, at?: Date): Promise<CreditUser>;
  /** Many users at once (one query per refresh batch); unknown ids absent. Optional: else per user. */
  getUserStatuses?(userIds: readonly string[], at?: Date): Promise<ReadonlyMap<string, CreditUser>>;
}

/** The wallet balance ↔ checking account; the wallet module provides it (WALLET_NOT_FOUND: none). */
export interface CreditWalletReader {
  getWallet(userId: string): Promise<{ balance: bigint }>;
  /** Many balances at once; users without a wallet absent. Optional: else per user. */
  getWalletBalances?(userIds: readonly string[]): Promise<ReadonlyMap<string, { balance: bigint }>>;
}

export interface CreditServiceOptions {
  db: Database;
  clock: Clock;
  users: CreditUserDirectory;
  wallets: CreditWalletReader;
  /** Behaviour data, fund holdings and loans; default: none of them exist yet. */
  features?: FeatureSource;
  /** Unpaid debts (Pay Points service orders) that lower the score until paid; default: none. */
  debts?: CreditDebtSource;
  /** The models; default: the committed artifacts in src/credit/models, read on first use. */
  artifacts?: Partial<Record<ModelName, CreditArtifact>>;
  /** Users looked up at once (identity, wallet) during the refresh. */
  lookupConcurrency?: number;
  /**
   * Score the refresh's batches in a worker thread, beside the main thread's reads and writes;
   * default: when the machine has more than one core. Falls back to the main thread if the worker
   * cannot start.
   */
  scoringWorker?: boolean;
}

export type { ScoreTrigger } from './score-rows.ts';

export interface CreditScore {
  id: string;
  userId: string;
  /** 350–950, higher is safer. */
  score: number;
  probability: number;
  model: ModelName;
  modelVersion: string;
  learner: string;
  /** Up to four reasons (each true of the user), most points lost first, with en and zh-CN texts. */
  reasons: ReasonCode[];
  /** SHA-256 of the model and its exact inputs. */
  featuresHash: string;
  trigger: ScoreTrigger;
  businessDate: string;
  scoredAt: Date;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface RefreshProgress {
  businessDate: string;
  /** Batches done in this call. */
  batches: number;
  /** Consenting users looked at so far in this run (all calls). */
  processed: number;
  scored: number;
  /** Already scored on or after the refresh date (an on-demand score today, or a rerun). */
  skippedCurrent: number;
  /** Neither line history nor application answers on record: scored on their first request. */
  skippedNoAnswers: number;
  /** Unverified, under 18, or no longer a user. */
  skippedIneligible: number;
}

export interface RefreshReport extends RefreshProgress {
  status: 'completed' | 'interrupted';
  /** The run had completed before this call: nothing was done. */
  alreadyCompleted: boolean;
  /** Seconds spent in this call on: reading the platform's data and mapping it, the models, storage. */
  timings: { featureS: number; modelS: number; storageS: number; totalS: number };
  /** Where the models ran: a worker thread, or the main thread (one core, or no worker). */
  scoring: 'worker' | 'main-thread';
}

export interface RefreshOptions {
  /** The refresh day (YYYY-MM-DD); default the clock's business date. */
  businessDate?: string;
  /** Users per batch (one transaction each); default 1,000. */
  batchSize?: number;
  /** Called after each committed batch. */
  onProgress?: (progress: RefreshProgress) => void | Promise<void>;
  /** Stops after the batch in flight; a later call with the same date resumes. */
  signal?: AbortSignal;
}

/** The score service's public API. */
export interface CreditService {
  /** Records consent to credit scoring (verified adults only); returns the active consent. */
  grantConsent(userId: string): Promise<CreditConsent>;
  /** Stops all future scoring; past scores are kept. Withdrawing twice is harmless. */
  withdrawConsent(userId: string): Promise<CreditConsent>;
  getActiveConsent(userId: string): Promise<CreditConsent | null>;
  /** Every consent record, oldest first: withdrawals stamp a record, nothing is deleted. */
  listConsents(userId: string): Promise<CreditConsent[]>;
  /**
   * Scores now. Uses the behaviour model when the user has line history, else the application
   * model with these answers (or the ones given last time). Needs an active consent.
   */
  score(userId: string, answers?: ApplicationAnswers): Promise<CreditScore>;
  /**
   * The latest score, for a decision (pay-later limits, loans, the marketplace): only while the
   * user's consent is active, else CREDIT_SCORE_NOT_FOUND, as for a user never scored.
   */
  getLatestScore(userId: string): Promise<CreditScore>;
  /**
   * The latest score on record whatever the consent (the user's own view, operators): a
   * withdrawal keeps the history; or CREDIT_SCORE_NOT_FOUND.
   */
  getLatestScoreOnRecord(userId: string): Promise<CreditScore>;
  /** Scores newest first. */
  getScoreHistory(userId: string, query?: { limit?: number; cursor?: string }): Promise<Page<CreditScore>>;
  /**
   * The monthly refresh: scores every consenting user whose latest score is older than the refresh
   * date, in batches; resumable (a cursor row per date) and idempotent (a completed date is not
   * run again, and a user gets at most one refresh score per date).
   */
  refreshScores(options?: RefreshOptions): Promise<RefreshReport>;
  /** Everyone's latest score in bands, and the drift month over month (operators). */
  scoreDistribution(): Promise<ScoreDistribution>;
}

/** A stored score as read back (the columns of `scoreColumns`). */
type ScoreRow = Omit<NewScore, 'answers' | 'refresh_date' | 'scored_at'> & { scored_at: Date };

const scoreColumns = `id, user_id, score, probability, model, model_version, learner, reasons, features_hash,
  trigger, business_date::text AS business_date, scored_at`;

const fromRow = (r: ScoreRow): CreditScore => ({
  id: r.id,
  userId: r.user_id,
  score: r.score,
  probability: r.probability,
  model: r.model,
  modelVersion: r.model_version,
  learner: r.learner,
  reasons: r.reasons,
  featuresHash: r.features_hash,
  trigger: r.trigger,
  businessDate: r.business_date,
  scoredAt: r.scored_at,
});

/**
 * Inserts scores for users whose consent is active at this moment (checked in the same statement,
 * so a withdrawal committed meanwhile wins), each stamped with that consent; refresh scores already
 * stored for the date are skipped. A score is stored only under the consent its inputs were read
 * under: not under one granted while it was computed (after a withdrawal meanwhile).
 */
async function insertScores(q: Queryable, scores: readonly NewScore[]): Promise<Set<string>> {
  return scores.length === 0 ? new Set() : insertScoresJson(q, JSON.stringify(scores));
}

/**
 * insertScores with the rows already serialized (a JSON array of NewScore); with `after`, only the
 * users after that id (a refresh run's cursor: the ones before it were handled by an earlier write).
 */
async function insertScoresJson(
  q: Queryable,
  json: string,
  after: string | null = null,
): Promise<Set<string>> {
  const r = await q.query<{ user_id: string }>(
    `INSERT INTO credit_scores (id, user_id, score, probability, model, model_version, learner, reasons,
       features_hash, answers, trigger, business_date, refresh_date, scored_at, consent_id)
     SELECT t.id, t.user_id, t.score, t.probability, t.model, t.model_version, t.learner, t.reasons,
       t.features_hash, t.answers, t.trigger, t.business_date, t.refresh_date, t.scored_at, c.id
     FROM jsonb_to_recordset($1::jsonb) AS t(id uuid, user_id uuid, score int, probability double precision,
       model text, model_version text, learner text, reasons jsonb, features_hash text, answers jsonb,
       trigger text, business_date date, refresh_date date, scored_at timestamptz, consent_id uuid)
     JOIN credit_consents c ON c.user_id = t.user_id AND c.withdrawn_at IS NULL
       AND (t.consent_id IS NULL OR c.id = t.consent_id)
     WHERE ($2::uuid IS NULL OR t.user_id > $2::uuid)
     ON CONFLICT (user_id, refresh_date) WHERE refresh_date IS NOT NULL DO NOTHING
     RETURNING user_id`,
    [json, after],
  );
  return new Set(r.rows.map((row) => row.user_id));
}

/** Runs `work` over items with at most `limit` in flight; results in input order. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

const encodeCursor = (at: Date, id: string) => Buffer.from(`${at.toISOString()}|${id}`).toString('base64url');

/**
 * Only the form encodeCursor writes: an instant of years 0001–9999 to the millisecond. Any date
 * Date parses is not enough: PostgreSQL refuses years JavaScript accepts (−271821, 0000, 275760),
 * and a tampered cursor must be a 400, not a failed query.
 */
const CURSOR_INSTANT = /^(?!0000)\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function decodeCursor(cursor: string): { at: string; id: string } {
  const [at = '', id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const date = new Date(at);
  if (
    rest.length > 0 ||
    !id ||
    !isUuid(id) ||
    !CURSOR_INSTANT.test(at) ||
    Number.isNaN(date.getTime()) ||
    date.toISOString() !== at
  )
    throw new MilletError('VALIDATION_FAILED', 'cursor is not one this API handed out', { field: 'cursor' });
  return { at, id };
}

const isWalletMissing = (error: unknown) => error instanceof MilletError && error.code === 'WALLET_NOT_FOUND';

export function createCreditService(options: CreditServiceOptions): CreditService {
  const { db, clock, users, wallets } = options;
  const source = options.features ?? noLineHistoryFeatureSource;
  const debts = options.debts ?? noDebtSource;
  const concurrency = options.lookupConcurrency ?? 16;
  const loaded: Partial<Record<ModelName, CreditArtifact>> = { ...options.artifacts };
  const artifact = (model: ModelName): CreditArtifact =>
    (loaded[model] ??= readArtifact(defaultArtifactPath(model)));

  const requireId = (userId: string) => {
    if (!isUuid(userId)) throw new MilletError('USER_NOT_FOUND', 'No such user', { userId });
  };

  /**
   * Under-18 and unverified users are never scored (nor asked for consent). Judged before anything
   * is written, so a consent or score refused for an unverified identity may run again under the
   * same key once the user has verified.
   */
  async function requireEligible(userId: string, at: Date): Promise<void> {
    const user = await users.getUser(userId, at);
    if (user.kycStatus !== 'verified')
      throw new MilletError(
        'IDENTITY_NOT_VERIFIED',
        'Credit scoring needs a verified identity: verify it with POST /v1/me/identity first',
        undefined,
        { beforeAnyEffect: true },
      );
    if (!user.isAdult)
      throw new MilletError('CREDIT_UNDERAGE', 'Credit scoring is only for users aged 18 or over');
  }

  async function walletBalance(userId: string): Promise<bigint | null> {
    try {
      return (await wallets.getWallet(userId)).balance;
    } catch (error) {
      if (isWalletMissing(error)) return null;
      throw error;
    }
  }

  /** Verified adults among `ids` (in order): one batch look-up when identity offers it. */
  async function eligibility(ids: readonly string[], asOf: Date): Promise<boolean[]> {
    const ok = (user: CreditUser | undefined) => !!user && user.kycStatus === 'verified' && user.isAdult;
    if (users.getUserStatuses) {
      const found = await users.getUserStatuses(ids, asOf);
      return ids.map((id) => ok(found.get(id)));
    }
    return mapLimit(ids, concurrency, async (id) => {
      try {
        return ok(await users.getUser(id, asOf));
      } catch (error) {
        if (error instanceof MilletError && error.code === 'USER_NOT_FOUND') return false;
        throw error;
      }
    });
  }

  /** Wallet balances of `ids` (in order; null = no wallet): one batch look-up when offered. */
  async function walletBalances(ids: readonly string[]): Promise<Array<bigint | null>> {
    if (wallets.getWalletBalances) {
      const found = await wallets.getWalletBalances(ids);
      return ids.map((id) => found.get(id)?.balance ?? null);
    }
    return mapLimit(ids, concurrency, walletBalance);
  }

  async function lastAnswers(q: Queryable, userId: string): Promise<ApplicationAnswers | null> {
    const r = await q.query<{ answers: StoredAnswers }>(
      `SELECT answers FROM credit_scores WHERE user_id = $1 AND answers IS NOT NULL
       ORDER BY scored_at DESC, id DESC LIMIT 1`,
      [userId],
    );
    return r.rows[0] ? answersFromJson(r.rows[0].answers) : null;
  }

  async function getScore(id: string): Promise<CreditScore> {
    const r = await db.query<ScoreRow>(`SELECT ${scoreColumns} FROM credit_scores WHERE id = $1`, [id]);
    return fromRow(r.rows[0]!);
  }

  const service: CreditService = {
    async grantConsent(userId) {
      requireId(userId);
      await requireEligible(userId, clock.now());
      return insertConsent(db, clock, userId);
    },

    async withdrawConsent(userId) {
      requireId(userId);
      return stampWithdrawal(db, clock, userId);
    },

    async getActiveConsent(userId) {
      requireId(userId);
      return activeConsent(db, userId);
    },

    async listConsents(userId) {
      requireId(userId);
      return listConsents(db, userId);
    },

    async score(userId, given) {
      requireId(userId);
      const now = clock.now();
      await requireEligible(userId, now);
      const consent = await activeConsent(db, userId);
      // Nothing written yet: once the user consents, the same request may run again.
      if (!consent) throw consentRequired({ beforeAnyEffect: true });
      const day = businessDateOfClock(clock);
      const [histories, owed] = await Promise.all([
        source.lineHistories([userId], now),
        debts.unpaidDebts([userId]),
      ]);
      const history = histories.get(userId);
      const answers = given ?? (await lastAnswers(db, userId));
      const stored = answers ? answersToJson(answers) : null;
      const debt = owed.get(userId);
      const context: ScoreContext = {
        trigger: 'on_demand',
        businessDate: day,
        refresh: false,
        scoredAt: clock.now().toISOString(),
      };
      let row: NewScore;
      const consentId = consent.id;
      if (history) row = scoreRow(artifact, { userId, consentId, history, answers: stored, debt }, context);
      else {
        if (!answers)
          throw new MilletError(
            'CREDIT_APPLICATION_REQUIRED',
            'Your first score needs the application answers: amount, duration_months, purpose, employment, housing',
          );
        const [balance, holdings, credits] = await Promise.all([
          walletBalance(userId),
          source.fundHoldings([userId]),
          source.existingCredits([userId]),
        ]);
        const features = applicationFeatures(answers, {
          walletBalance: balance,
          fundHoldings: holdings.get(userId) ?? 0n,
          existingCredits: credits.get(userId) ?? 0,
        });
        row = scoreRow(artifact, { userId, consentId, features, answers: stored, debt }, context);
      }
      const inserted = await insertScores(db, [row]);
      // The consent was withdrawn between the check and the insert: nothing was stored.
      if (!inserted.has(userId)) throw consentRequired();
      return getScore(row.id);
    },

    async getLatestScore(userId) {
      requireId(userId);
      // The consent is read in the same statement as the score: a withdrawal is never half seen.
      // Only a score computed under the consent in force. Withdrawing stops the score being used,
      // not only computed (DESIGN §2.9): the old score deciding a new line or loan, or shown to a
      // partner as a band, would be a use without consent; and granting again consents from then
      // on, so the scores of an earlier consent stay unused (before 2026-12-04 they came back).
      const r = await db.query<Partial<ScoreRow> & { active_consent: string | null; scored_before: boolean }>(
        `SELECT c.id AS active_consent,
                EXISTS (SELECT 1 FROM credit_scores WHERE user_id = $1) AS scored_before, s.*
         FROM (SELECT 1) one
         LEFT JOIN credit_consents c ON c.user_id = $1 AND c.withdrawn_at IS NULL
         LEFT JOIN LATERAL (
           SELECT ${scoreColumns} FROM credit_scores
           WHERE user_id = $1 AND consent_id = c.id ORDER BY scored_at DESC, id DESC LIMIT 1
         ) s ON true`,
        [userId],
      );
      const row = r.rows[0]!;
      if (row.id) return fromRow(row as ScoreRow);
      if (!row.scored_before) throw scoreNotFound(userId);
      if (!row.active_consent)
        throw new MilletError(
          'CREDIT_SCORE_NOT_FOUND',
          'No credit score to use: consent to credit scoring was withdrawn; grant it again with POST /v1/me/credit-consent',
          { userId, reason: 'consent_withdrawn' },
        );
      throw new MilletError(
        'CREDIT_SCORE_NOT_FOUND',
        'No credit score to use: your scores were computed under an earlier consent; ask for a new one with POST /v1/me/score',
        { userId, reason: 'consent_granted_again' },
      );
    },

    async getLatestScoreOnRecord(userId) {
      requireId(userId);
      const r = await db.query<ScoreRow>(
        `SELECT ${scoreColumns} FROM credit_scores WHERE user_id = $1 ORDER BY scored_at DESC, id DESC LIMIT 1`,
        [userId],
      );
      if (!r.rows[0]) throw scoreNotFound(userId);
      return fromRow(r.rows[0]);
    },

    async getScoreHistory(userId, query = {}) {
      requireId(userId);
      const limit = Math.min(500, Math.max(1, query.limit ?? 50));
      const after = query.cursor ? decodeCursor(query.cursor) : null;
      const r = await db.query<ScoreRow>(
        `SELECT ${scoreColumns} FROM credit_scores
         WHERE user_id = $1 AND ($2::timestamptz IS NULL OR (scored_at, id) < ($2::timestamptz, $3::uuid))
         ORDER BY scored_at DESC, id DESC LIMIT $4`,
        [userId, after?.at ?? null, after?.id ?? null, limit + 1],
      );
      const items = r.rows.slice(0, limit).map(fromRow);
      const last = items[items.length - 1];
      return {
        items,
        nextCursor: r.rows.length > limit && last ? encodeCursor(last.scoredAt, last.id) : null,
      };
    },

    refreshScores: (refreshOptions = {}) => refresh(refreshOptions),
    scoreDistribution: () => scoreDistribution(db),
  };

  async function refresh(o: RefreshOptions): Promise<RefreshReport> {
    const day = o.businessDate ?? businessDateOfClock(clock);
    // A calendar date PostgreSQL takes: 2026-02-30 or year 0000 would fail the run row's insert.
    if (!isBusinessDate(day))
      throw new MilletError(
        'VALIDATION_FAILED',
        `businessDate must be a calendar date YYYY-MM-DD, not "${day}"`,
      );
    const batchSize = Math.max(1, Math.min(10_000, o.batchSize ?? 1000));
    const started = performance.now();
    const timings = { featureS: 0, modelS: 0, storageS: 0, totalS: 0 };
    const t0 = performance.now();
    await db.query(
      `INSERT INTO credit_refresh_runs (business_date, status, started_at, updated_at)
       VALUES ($1, 'running', $2, $2) ON CONFLICT (business_date) DO NOTHING`,
      [day, clock.now()],
    );
    const run = (
      await db.query<{
        status: 'running' | 'completed';
        cursor: string | null;
        scored: bigint;
        skipped_current: bigint;
        skipped_no_answers: bigint;
        skipped_ineligible: bigint;
      }>(
        `SELECT status, cursor, scored, skipped_current, skipped_no_answers, skipped_ineligible
         FROM credit_refresh_runs WHERE business_date = $1`,
        [day],
      )
    ).rows[0]!;
    timings.storageS += (performance.now() - t0) / 1000;
    const progress: RefreshProgress = {
      businessDate: day,
      batches: 0,
      processed: 0,
      scored: Number(run.scored),
      skippedCurrent: Number(run.skipped_current),
      skippedNoAnswers: Number(run.skipped_no_answers),
      skippedIneligible: Number(run.skipped_ineligible),
    };
    progress.processed =
      progress.scored + progress.skippedCurrent + progress.skippedNoAnswers + progress.skippedIneligible;
    let worker: ScoringThread | null = null;
    const finish = (status: RefreshReport['status'], alreadyCompleted: boolean): RefreshReport => {
      timings.totalS = (performance.now() - started) / 1000;
      return { ...progress, status, alreadyCompleted, timings, scoring: worker ? 'worker' : 'main-thread' };
    };
    if (run.status === 'completed') return finish('completed', true);

    // The refresh date's data, as its scores are dated: on that date, the clock's instant; else the
    // date's last instant. The close's fast-forward refreshes a first of the month ahead of the
    // clock (after that day's statements were made) and a run can be resumed days later; reading
    // the clock's now, statements (and due dates passed) of another day went into the date's scores.
    const now = clock.now();
    const asOf = businessDateOf(now) !== day ? endOfBusinessDate(day) : now;
    type BatchRow = {
      user_id: string;
      consent_id: string;
      last_date: string | null;
      answers: StoredAnswers | null;
    };
    // The latest score is current only if computed under the consent in force: one of an earlier
    // consent (withdrawn, then granted again) is not used, so the user is due a new one. Its
    // answers are still the user's latest.
    const read = async (after: string | null): Promise<BatchRow[]> => {
      const ts = performance.now();
      const rows = (
        await db.query<BatchRow>(
          `SELECT c.user_id, c.id AS consent_id, CASE WHEN s.consent_id = c.id THEN s.business_date::text END AS last_date, s.answers
           FROM credit_consents c
           LEFT JOIN LATERAL (
             SELECT business_date, answers, consent_id FROM credit_scores s
             WHERE s.user_id = c.user_id ORDER BY scored_at DESC, id DESC LIMIT 1
           ) s ON true
           WHERE c.withdrawn_at IS NULL AND ($1::uuid IS NULL OR c.user_id > $1::uuid)
           ORDER BY c.user_id LIMIT $2`,
          [after, batchSize],
        )
      ).rows;
      timings.storageS += (performance.now() - ts) / 1000;
      return rows;
    };

    type Counts = { scored: number; current: number; noAnswers: number; ineligible: number };
    /** Why a user of the batch is not scored; counted at the write (see there). */
    type Skip = 'current' | 'noAnswers' | 'ineligible';
    /** Looks up the batch's users in the other modules: what each is to be scored on. */
    const lookUp = async (batch: BatchRow[]): Promise<{ plans: ScorePlan[]; skipped: Map<string, Skip> }> => {
      const skipped = new Map<string, Skip>();
      const due = batch.filter((b) => {
        if (b.last_date !== null && b.last_date >= day) {
          skipped.set(b.user_id, 'current');
          return false;
        }
        return true;
      });

      const tf = performance.now();
      const ids = due.map((b) => b.user_id);
      const [histories, holdings, credits, owed, eligible] = await Promise.all([
        source.lineHistories(ids, asOf),
        source.fundHoldings(ids),
        source.existingCredits(ids),
        debts.unpaidDebts(ids),
        eligibility(ids, asOf),
      ]);
      const plans: ScorePlan[] = [];
      const needWallet: Array<{ plan: ScorePlan; answers: ApplicationAnswers }> = [];
      due.forEach((b, i) => {
        if (!eligible[i]) return void skipped.set(b.user_id, 'ineligible');
        const history = histories.get(b.user_id);
        const debt = owed.get(b.user_id);
        const consentId = b.consent_id;
        if (history) plans.push({ userId: b.user_id, consentId, history, answers: b.answers, debt });
        else if (b.answers) {
          const plan: ScorePlan = { userId: b.user_id, consentId, features: {}, answers: b.answers, debt };
          plans.push(plan);
          needWallet.push({ plan, answers: answersFromJson(b.answers) });
        } else skipped.set(b.user_id, 'noAnswers');
      });
      const balances = await walletBalances(needWallet.map((w) => w.plan.userId));
      needWallet.forEach(({ plan, answers }, i) => {
        plan.features = applicationFeatures(answers, {
          walletBalance: balances[i]!,
          fundHoldings: holdings.get(plan.userId) ?? 0n,
          existingCredits: credits.get(plan.userId) ?? 0,
        });
      });
      timings.featureS += (performance.now() - tf) / 1000;
      return { plans, skipped };
    };

    if (options.scoringWorker ?? os.availableParallelism() > 1) {
      try {
        worker = await ScoringThread.start({
          behaviour: artifact('behaviour'),
          application: artifact('application'),
        });
      } catch {
        worker = null; // scored on the main thread instead
      }
    }
    /** The rows of a batch's scores, as the JSON array the insert reads. */
    const scoreAll = async (plans: ScorePlan[]): Promise<{ json: string; count: number }> => {
      const context: ScoreContext = {
        trigger: 'refresh',
        businessDate: day,
        refresh: true,
        scoredAt: clock.now().toISOString(),
      };
      if (worker) {
        const scored = await worker.score(plans, context);
        timings.modelS += scored.seconds;
        return scored;
      }
      const tm = performance.now();
      const json = JSON.stringify(plans.map((plan) => scoreRow(artifact, plan, context)));
      timings.modelS += (performance.now() - tm) / 1000;
      return { json, count: plans.length };
    };

    /**
     * Stores a batch's scores and advances the run's cursor and counts, in one transaction. Another
     * call may be refreshing the same date at once (the close and an operator's command): under the
     * run row's lock, users at or before its cursor were already counted by a write of that call,
     * so only the ones after it are stored and counted here, and the counts stay one per user.
     */
    const write = async (
      scored: { json: string; count: number },
      planned: readonly string[],
      skipped: ReadonlyMap<string, Skip>,
      last: string | null,
      done: boolean,
    ) => {
      const tw = performance.now();
      const counts: Counts = { scored: 0, current: 0, noAnswers: 0, ineligible: 0 };
      let looked = 0;
      await db.transaction(async (tx) => {
        const counted = (
          await tx.query<{ cursor: string | null }>(
            'SELECT cursor FROM credit_refresh_runs WHERE business_date = $1 FOR UPDATE',
            [day],
          )
        ).rows[0]!.cursor;
        // uuid order is the order of their lower-case text (PostgreSQL compares the bytes).
        const fresh = (id: string) => counted === null || id > counted;
        const inserted =
          scored.count > 0 && planned.some(fresh)
            ? await insertScoresJson(tx, scored.json, counted)
            : new Set<string>();
        for (const id of planned) {
          if (!fresh(id)) continue;
          looked++;
          // A user scored by an earlier attempt at this date (or who withdrew meanwhile) is current.
          if (inserted.has(id)) counts.scored++;
          else counts.current++;
        }
        for (const [id, why] of skipped) {
          if (!fresh(id)) continue;
          looked++;
          counts[why]++;
        }
        await tx.query(
          `UPDATE credit_refresh_runs SET
             cursor = CASE WHEN $2::uuid IS NULL OR (cursor IS NOT NULL AND cursor >= $2::uuid) THEN cursor ELSE $2::uuid END,
             scored = scored + $3, skipped_current = skipped_current + $4,
             skipped_no_answers = skipped_no_answers + $5, skipped_ineligible = skipped_ineligible + $6,
             status = CASE WHEN $7::boolean THEN 'completed' ELSE status END,
             finished_at = CASE WHEN $7::boolean THEN $8::timestamptz ELSE finished_at END,
             updated_at = $8::timestamptz
           WHERE business_date = $1`,
          [day, last, counts.scored, counts.current, counts.noAnswers, counts.ineligible, done, clock.now()],
        );
      });
      timings.storageS += (performance.now() - tw) / 1000;
      progress.batches++;
      progress.scored += counts.scored;
      progress.skippedCurrent += counts.current;
      progress.skippedNoAnswers += counts.noAnswers;
      progress.skippedIneligible += counts.ineligible;
      progress.processed += looked;
      await o.onProgress?.({ ...progress });
    };

    // A pipeline of four stages: while batch N is written (PostgreSQL's work), batch N+1 is scored
    // (the worker thread's), batch N+2's data is looked up (the main thread's) and batch N+3's users
    // are read. Writes stay in order, one at a time, so the cursor only moves forward; a stop lets
    // the write in flight finish, and a batch scored but not written is scored again on resume.
    interface Scoring {
      last: string | null;
      done: boolean;
      planned: string[];
      skipped: Map<string, Skip>;
      rows: Promise<{ json: string; count: number }>;
    }
    let cursor = run.cursor;
    let writing: Promise<void> = Promise.resolve();
    let scoring: Scoring | null = null;
    /** Waits for a scored batch, then queues its write behind the one in flight; false: stopped. */
    const queueWrite = async (s: Scoring): Promise<boolean> => {
      const rows = await s.rows;
      await writing;
      if (o.signal?.aborted) return false;
      writing = write(rows, s.planned, s.skipped, s.last, s.done);
      writing.catch(() => {}); // awaited before the next write; a failure surfaces there
      return true;
    };
    let reading = read(cursor);
    try {
      for (;;) {
        if (o.signal?.aborted) {
          await writing;
          return finish('interrupted', false);
        }
        const batch = await reading;
        const last = batch[batch.length - 1]?.user_id ?? cursor;
        const done = batch.length < batchSize;
        if (!done) {
          reading = read(last);
          reading.catch(() => {}); // awaited next round; a failure surfaces there
        }
        const { plans, skipped } = await lookUp(batch);
        const planned = plans.map((p) => p.userId);
        const next: Scoring = { last, done, planned, skipped, rows: scoreAll(plans) };
        next.rows.catch(() => {}); // awaited when its write is queued
        if (scoring && !(await queueWrite(scoring))) return finish('interrupted', false);
        scoring = next;
        cursor = last;
        if (done) {
          if (!(await queueWrite(scoring))) return finish('interrupted', false);
          await writing;
          return finish('completed', false);
        }
      }
    } catch (error) {
      await writing.catch(() => {});
      throw error;
    } finally {
      await worker?.close();
    }
  }

  return service;
}

const consentRequired = (options?: { beforeAnyEffect: boolean }) =>
  new MilletError(
    'CONSENT_REQUIRED',
    'Credit scoring needs your consent: grant it with POST /v1/me/credit-consent (you can withdraw it at any time)',
    undefined,
    options,
  );

const scoreNotFound = (userId: string) =>
  new MilletError(
    'CREDIT_SCORE_NOT_FOUND',
    'No credit score yet: consent, then ask for one with POST /v1/me/score',
    { userId },
  );
