import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';
import { ManualClock, MilletError, newId } from '../core/index.ts';
import {
  applicationFeatures,
  behaviourFeatures,
  noLineHistoryFeatureSource,
  type ApplicationAnswers,
  type FeatureSource,
  type LineHistory,
} from './features.ts';
import { PROTECTED_FIELDS } from './protected.ts';
import { insertConsent, stampWithdrawal } from './consent.ts';
import type { Queryable } from '../db/index.ts';
import {
  createCreditService,
  type CreditServiceOptions,
  creditMigrations,
  type CreditService,
  type CreditUser,
  type RefreshProgress,
} from './score-service.ts';

const answers: ApplicationAnswers = {
  amount: 1_000_000n,
  durationMonths: 12,
  purpose: 'radio_television',
  employment: '4_to_7_years',
  housing: 'own',
};

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof MilletError) return error.code;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('credit score service', () => {
  let t: TestDatabase;
  let clock: ManualClock;
  let credit: CreditService;
  const users = new Map<string, CreditUser>();
  const balances = new Map<string, bigint>();
  const histories = new Map<string, LineHistory>();
  const source: FeatureSource = {
    ...noLineHistoryFeatureSource,
    lineHistories: async (ids) =>
      new Map(ids.flatMap((id) => (histories.has(id) ? [[id, histories.get(id)!]] : []))),
  };
  const adult = (): string => {
    const id = newId();
    users.set(id, { kycStatus: 'verified', isAdult: true });
    balances.set(id, 50_000n);
    return id;
  };

  beforeAll(async () => {
    t = await openTestDatabase(creditMigrations);
    clock = new ManualClock('2026-03-10T04:00:00Z');
    credit = createCreditService({
      db: t.db,
      clock,
      features: source,
      users: {
        getUser: async (id) => {
          const u = users.get(id);
          if (!u) throw new MilletError('USER_NOT_FOUND', 'no such user');
          return u;
        },
      },
      wallets: {
        getWallet: async (id) => {
          const balance = balances.get(id);
          if (balance === undefined) throw new MilletError('WALLET_NOT_FOUND', 'no wallet');
          return { balance };
        },
      },
    });
  });
  afterAll(async () => t?.close());

  it('refuses to score without consent, scores with it, refuses again after withdrawal; rows are kept', async () => {
    const id = adult();
    expect(await codeOf(credit.score(id, answers))).toBe('CONSENT_REQUIRED');
    const consent = await credit.grantConsent(id);
    expect(consent.scope).toBe('credit_scoring');
    expect(consent.dataCategories).toContain('wallet_balance');
    expect(consent.purpose).toMatch(/credit score/);
    expect(consent.withdrawnAt).toBeNull();
    expect((await credit.grantConsent(id)).id).toBe(consent.id); // granting again: the same record

    const scored = await credit.score(id, answers);
    expect(scored.score).toBeGreaterThanOrEqual(350);
    expect(scored.score).toBeLessThanOrEqual(950);
    expect(scored.model).toBe('application');

    clock.advance(60_000);
    const withdrawn = await credit.withdrawConsent(id);
    expect(withdrawn.withdrawnAt).not.toBeNull();
    expect(await codeOf(credit.score(id, answers))).toBe('CONSENT_REQUIRED');
    expect((await credit.withdrawConsent(id)).id).toBe(consent.id); // withdrawing twice is harmless
    // History survives the withdrawal.
    expect((await credit.getScoreHistory(id)).items).toHaveLength(1);

    await credit.grantConsent(id);
    const records = await credit.listConsents(id);
    expect(records).toHaveLength(2);
    expect(records[0]!.withdrawnAt).not.toBeNull();
    expect(records[1]!.withdrawnAt).toBeNull();
    const rows = await t.db.query<{ n: bigint }>(
      'SELECT count(*)::int8 AS n FROM credit_consents WHERE user_id = $1',
      [id],
    );
    expect(rows.rows[0]!.n).toBe(2n);
    expect(await codeOf(credit.withdrawConsent(newId()))).toBe('CONSENT_NOT_FOUND');
  });

  it('never scores unverified or under-18 users', async () => {
    const unverified = newId();
    users.set(unverified, { kycStatus: 'none', isAdult: false });
    const minor = newId();
    users.set(minor, { kycStatus: 'verified', isAdult: false });
    expect(await codeOf(credit.grantConsent(unverified))).toBe('IDENTITY_NOT_VERIFIED');
    expect(await codeOf(credit.score(unverified, answers))).toBe('IDENTITY_NOT_VERIFIED');
    expect(await codeOf(credit.grantConsent(minor))).toBe('CREDIT_UNDERAGE');
    expect(await codeOf(credit.score(minor, answers))).toBe('CREDIT_UNDERAGE');
  });

  it('returns four reasons in en and zh-CN, stores the model, version and features hash; history grows', async () => {
    const id = adult();
    await credit.grantConsent(id);
    const first = await credit.score(id, answers);
    expect(first.reasons).toHaveLength(4);
    for (const r of first.reasons) {
      expect(r.text_en).toMatch(/[a-z]/);
      expect(r.text_zh).toMatch(/[\u4e00-\u9fff]/);
    }
    expect(first.modelVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(first.featuresHash).toMatch(/^[0-9a-f]{64}$/);
    clock.advance(1000);
    // Without answers, the last ones on record are used: same inputs, same score and hash.
    const second = await credit.score(id);
    expect(second.score).toBe(first.score);
    expect(second.featuresHash).toBe(first.featuresHash);
    clock.advance(1000);
    await credit.score(id, { ...answers, durationMonths: 60, amount: 8_000_000n });
    const history = await credit.getScoreHistory(id, { limit: 2 });
    expect(history.items).toHaveLength(2);
    expect(history.nextCursor).not.toBeNull();
    const rest = await credit.getScoreHistory(id, { limit: 2, cursor: history.nextCursor! });
    expect(rest.items.map((s) => s.id)).toEqual([first.id]);
    expect((await credit.getLatestScore(id)).id).toBe(history.items[0]!.id);
  });

  it('needs application answers for a first score without line history', async () => {
    const id = adult();
    await credit.grantConsent(id);
    expect(await codeOf(credit.score(id))).toBe('CREDIT_APPLICATION_REQUIRED');
    expect(await codeOf(credit.getLatestScore(id))).toBe('CREDIT_SCORE_NOT_FOUND');
  });

  it('uses the behaviour model once the source reports line history', async () => {
    const id = adult();
    await credit.grantConsent(id);
    histories.set(id, {
      creditLimit: 2_000_000n,
      statements: [
        { monthsPastDue: 2, due: true, statementBalance: 1_900_000n, amountRepaid: 0n },
        { monthsPastDue: 1, due: true, statementBalance: 1_800_000n, amountRepaid: 10_000n },
      ],
    });
    const s = await credit.score(id);
    expect(s.model).toBe('behaviour');
    expect(s.reasons).toHaveLength(4);
    expect(s.reasons[0]!.code).toMatch(/^B\d\d$/);
    histories.delete(id);
  });

  it('never gives a user who repaid every statement in full a "small share repaid" reason', async () => {
    const id = adult();
    await credit.grantConsent(id);
    const paidInFull = { monthsPastDue: -1, due: true, statementBalance: 100_000n, amountRepaid: 100_000n };
    histories.set(id, { creditLimit: 2_000_000n, statements: Array(6).fill(paidInFull) });
    const s = await credit.score(id);
    expect(s.model).toBe('behaviour');
    expect(s.reasons.length).toBeGreaterThan(0);
    // B22–B26 and B33: the share of a statement repaid; B15–B18: an amount repaid "low".
    for (const r of s.reasons) expect(r.code).not.toMatch(/^B(1[4-8]|2[2-6]|33)$/);
    histories.delete(id);
  });

  it('maps application answers deterministically and never sets a protected field', () => {
    const facts = { walletBalance: 50_000n, fundHoldings: 0n, existingCredits: 0 };
    const a = applicationFeatures(answers, facts);
    expect(applicationFeatures({ ...answers }, { ...facts })).toEqual(a);
    expect(a.status_of_existing_checking_account).toBe('0 <= ... < 200 DM');
    expect(a.savings_account_and_bonds).toBe('unknown/ no savings account');
    expect(a.number_of_existing_credits_at_this_bank).toBe(1);
    expect(
      applicationFeatures(answers, { ...facts, walletBalance: null }).status_of_existing_checking_account,
    ).toBe('0 <= ... < 200 DM');
    const b = behaviourFeatures({ creditLimit: 100n, statements: [] });
    for (const field of PROTECTED_FIELDS) {
      expect(a).not.toHaveProperty(field);
      expect(b).not.toHaveProperty(field);
    }
  });

  it('gives the same score for the same answers and balance (deterministic)', async () => {
    const [x, y] = [adult(), adult()];
    await credit.grantConsent(x);
    await credit.grantConsent(y);
    const sx = await credit.score(x, answers);
    const sy = await credit.score(y, answers);
    expect(sy.score).toBe(sx.score);
    expect(sy.featuresHash).toBe(sx.featuresHash);
    expect(sy.reasons).toEqual(sx.reasons);
  });

  it('refreshes every consenting user once per business date, resumes after an interruption', async () => {
    await t.db.query('DELETE FROM credit_consents'); // a clean population for counting (test only)
    const population: string[] = [];
    for (let i = 0; i < 7; i++) {
      const id = adult();
      population.push(id);
      await credit.grantConsent(id);
      if (i < 6) await credit.score(id, { ...answers, durationMonths: 6 + i * 6 });
    }
    // The seventh never gave answers: skipped until its first on-demand score.
    clock.set('2026-04-01T02:00:00Z');
    const controller = new AbortController();
    const seen: RefreshProgress[] = [];
    const first = await credit.refreshScores({
      businessDate: '2026-04-01',
      batchSize: 3,
      signal: controller.signal,
      onProgress: (p) => {
        seen.push(p);
        controller.abort(); // "the process stops" after the first batch
      },
    });
    expect(first.status).toBe('interrupted');
    expect(first.processed).toBe(3);
    expect(first.scored).toBe(3);
    const resumed = await credit.refreshScores({
      businessDate: '2026-04-01',
      batchSize: 3,
      onProgress: (p) => void seen.push(p),
    });
    expect(resumed.status).toBe('completed');
    expect(resumed.alreadyCompleted).toBe(false);
    expect(resumed.processed).toBe(7);
    expect(resumed.scored).toBe(6);
    expect(resumed.skippedNoAnswers).toBe(1);
    expect(seen.map((p) => p.processed)).toEqual([3, 6, 7]);
    const counts = await t.db.query<{ user_id: string; n: bigint }>(
      `SELECT user_id, count(*)::int8 AS n FROM credit_scores WHERE refresh_date = '2026-04-01' GROUP BY user_id`,
    );
    expect(counts.rows).toHaveLength(6);
    expect(counts.rows.every((r) => r.n === 1n)).toBe(true);
    const refreshed = await credit.getLatestScore(population[0]!);
    expect(refreshed.trigger).toBe('refresh');
    expect(refreshed.businessDate).toBe('2026-04-01');
    expect(refreshed.model).toBe('application');

    // A rerun of the same date does nothing.
    const again = await credit.refreshScores({ businessDate: '2026-04-01', batchSize: 3 });
    expect(again.alreadyCompleted).toBe(true);
    expect(again.scored).toBe(6);
    const total = await t.db.query<{ n: bigint }>(
      `SELECT count(*)::int8 AS n FROM credit_scores WHERE refresh_date IS NOT NULL`,
    );
    expect(total.rows[0]!.n).toBe(6n);

    // Next month: a user scored on demand that day is current; a withdrawn one is not looked at.
    clock.set('2026-05-01T02:00:00Z');
    await credit.score(population[1]!);
    await credit.withdrawConsent(population[2]!);
    const may = await credit.refreshScores({ batchSize: 100 });
    expect(may.businessDate).toBe('2026-05-01');
    expect(may.processed).toBe(6);
    expect(may.skippedCurrent).toBe(1);
    expect(may.scored).toBe(4);
    expect(may.timings.totalS).toBeGreaterThan(0);
  });

  it('the refresh asks identity, wallet, fund and debts once per batch, with the same scores as one by one', async () => {
    await t.db.query('DELETE FROM credit_consents'); // a clean population for counting (test only)
    const population: string[] = [];
    for (let i = 0; i < 5; i++) {
      const id = adult();
      population.push(id);
      await credit.grantConsent(id);
      await credit.score(id, { ...answers, durationMonths: 12 + i * 6 });
    }
    const [minor, owing, saver] = population.slice(2);
    users.set(minor!, { kycStatus: 'verified', isAdult: false });
    const calls = { statuses: 0, balances: 0, holdings: 0, debts: 0, single: 0 };
    const batchedOptions: CreditServiceOptions = {
      db: t.db,
      clock,
      features: {
        ...source,
        fundHoldings: async (ids) => {
          calls.holdings++;
          return new Map(ids.filter((id) => id === saver).map((id) => [id, 600_000n]));
        },
      },
      users: {
        getUser: async () => {
          calls.single++;
          throw new Error('the refresh must use the batch look-up');
        },
        getUserStatuses: async (ids) => {
          calls.statuses++;
          return new Map(ids.flatMap((id) => (users.has(id) ? [[id, users.get(id)!]] : [])));
        },
      },
      wallets: {
        getWallet: async () => {
          calls.single++;
          throw new Error('the refresh must use the batch look-up');
        },
        getWalletBalances: async (ids) => {
          calls.balances++;
          return new Map(
            ids.flatMap((id) => (balances.has(id) ? [[id, { balance: balances.get(id)! }]] : [])),
          );
        },
      },
      debts: {
        unpaidDebts: async (ids) => {
          calls.debts++;
          return new Map(ids.filter((id) => id === owing).map((id) => [id, { count: 1, amount: 9_900n }]));
        },
      },
    };
    // The models run in a worker thread here; the checks below compare its scores with the main
    // thread's (on-demand scores, and a refresh with the worker off).
    const batched = createCreditService({ ...batchedOptions, scoringWorker: true });
    clock.set('2026-06-01T02:00:00Z');
    const report = await batched.refreshScores({ businessDate: '2026-06-01', batchSize: 2 });
    expect(report).toMatchObject({ status: 'completed', processed: 5, scored: 4, skippedIneligible: 1 });
    expect(report.scoring).toBe('worker');
    // Five users in batches of two: three batches, one call of each look-up per batch.
    expect(report.batches).toBe(3);
    expect(calls).toEqual({ statuses: 3, balances: 3, holdings: 3, debts: 3, single: 0 });

    // The plain users' refresh scores are what the one-by-one service gives for the same inputs.
    for (const id of population.filter((p) => p !== minor && p !== owing && p !== saver)) {
      const refreshed = await credit.getLatestScore(id);
      expect(refreshed.trigger).toBe('refresh');
      const onDemand = await credit.score(id);
      expect(onDemand.featuresHash).toBe(refreshed.featuresHash);
      expect(onDemand.score).toBe(refreshed.score);
    }
    // Fund holdings reach the features (savings), and an unpaid debt costs points with its reason.
    const saverScore = await credit.getLatestScore(saver!);
    expect(saverScore.trigger).toBe('refresh');
    expect(saverScore.featuresHash).not.toBe((await credit.score(saver!)).featuresHash);
    const owingScore = await credit.getLatestScore(owing!);
    expect(owingScore.reasons[0]!.code).toBe('UNPAID_SERVICE_ORDER');
    expect(owingScore.score).toBe(Math.max(350, (await credit.score(owing!)).score - 80));
    expect((await credit.getLatestScore(minor!)).trigger).toBe('on_demand');

    // The same refresh on the main thread stores the same scores, reasons and hashes.
    const stored = async (date: string) =>
      (
        await t.db.query<{ user_id: string; score: number; reasons: unknown; features_hash: string }>(
          `SELECT user_id, score, reasons, features_hash FROM credit_scores WHERE refresh_date = $1 ORDER BY user_id`,
          [date],
        )
      ).rows;
    const byWorker = await stored('2026-06-01');
    await t.db.query(
      `DELETE FROM credit_scores WHERE trigger = 'on_demand' AND business_date >= '2026-06-01'`,
    );
    clock.set('2026-07-01T02:00:00Z');
    const inProcess = createCreditService({ ...batchedOptions, scoringWorker: false });
    const july = await inProcess.refreshScores({ businessDate: '2026-07-01', batchSize: 2 });
    expect(july).toMatchObject({ status: 'completed', scored: 4, scoring: 'main-thread' });
    const byMainThread = await stored('2026-07-01');
    expect(byMainThread).toHaveLength(4);
    expect(byMainThread).toEqual(byWorker);
  });

  it('refuses a tampered history cursor with VALIDATION_FAILED, not a failed query', async () => {
    const id = adult();
    await credit.grantConsent(id);
    await credit.score(id, answers);
    await credit.score(id, answers);
    const page = await credit.getScoreHistory(id, { limit: 1 });
    const [, scoreId] = Buffer.from(page.nextCursor!, 'base64url').toString('utf8').split('|');
    // Instants JavaScript's Date takes and PostgreSQL's timestamptz does not (or not as written).
    for (const at of [
      '+275760-09-13T00:00:00.000Z',
      '-271821-04-20T00:00:00.000Z',
      '-000001-01-01T00:00:00.000Z',
      '0000-01-01T00:00:00.000Z',
      '2026-02-30T00:00:00.000Z',
      '2026',
    ]) {
      const cursor = Buffer.from(`${at}|${scoreId}`).toString('base64url');
      expect(await codeOf(credit.getScoreHistory(id, { cursor })), at).toBe('VALIDATION_FAILED');
    }
    const rest = await credit.getScoreHistory(id, { limit: 1, cursor: page.nextCursor! });
    expect(rest.items).toHaveLength(1);
  });

  it('refuses a refresh date that is not on the calendar with VALIDATION_FAILED', async () => {
    for (const businessDate of ['2026-02-30', '2026-13-01', '0000-01-01'])
      expect(await codeOf(credit.refreshScores({ businessDate })), businessDate).toBe('VALIDATION_FAILED');
  });

  it('stops other modules using the score once consent is withdrawn; the user still sees it', async () => {
    const id = adult();
    await credit.grantConsent(id);
    const scored = await credit.score(id, answers);
    expect((await credit.getLatestScore(id)).id).toBe(scored.id);
    await credit.withdrawConsent(id);
    // Pay-later, lending and the marketplace read getLatestScore: no score to decide with.
    expect(await codeOf(credit.getLatestScore(id))).toBe('CREDIT_SCORE_NOT_FOUND');
    expect((await credit.getLatestScoreOnRecord(id)).id).toBe(scored.id);
    expect((await credit.getScoreHistory(id)).items.map((s) => s.id)).toEqual([scored.id]);
    // Granting again consents from then on: the earlier consent's score is not used again.
    await credit.grantConsent(id);
    expect(await codeOf(credit.getLatestScore(id))).toBe('CREDIT_SCORE_NOT_FOUND');
  });

  it('after a withdrawal and a new grant, no score is used until one is computed under the new consent', async () => {
    const id = adult();
    await credit.grantConsent(id);
    const old = await credit.score(id, answers);
    await credit.withdrawConsent(id);
    await credit.grantConsent(id);
    const refused = await credit.getLatestScore(id).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(MilletError);
    expect(refused).toMatchObject({
      code: 'CREDIT_SCORE_NOT_FOUND',
      details: { reason: 'consent_granted_again' },
    });
    // The user still sees their history; a new score (the stored answers reused) is usable.
    expect((await credit.getLatestScoreOnRecord(id)).id).toBe(old.id);
    const fresh = await credit.score(id);
    expect((await credit.getLatestScore(id)).id).toBe(fresh.id);
  });

  it('a score computed before the consent in force was granted is not stored under it', async () => {
    const id = adult();
    await credit.grantConsent(id);
    // Withdrawn and granted again while the score is computed (between its reads and its insert).
    const racing = createCreditService({
      db: t.db,
      clock,
      features: {
        ...source,
        lineHistories: async () => {
          await credit.withdrawConsent(id);
          await credit.grantConsent(id);
          return new Map();
        },
      },
      users: { getUser: async () => ({ kycStatus: 'verified', isAdult: true }) },
      wallets: { getWallet: async () => ({ balance: 0n }) },
    });
    expect(await codeOf(racing.score(id, answers))).toBe('CONSENT_REQUIRED');
    expect(await codeOf(credit.getLatestScore(id))).toBe('CREDIT_SCORE_NOT_FOUND');
    expect((await credit.getScoreHistory(id)).items).toEqual([]);
  });

  it('two refreshes of one date at once count every user once between them', async () => {
    await t.db.query('DELETE FROM credit_consents'); // a clean population for counting (test only)
    for (let i = 0; i < 7; i++) {
      const id = adult();
      await credit.grantConsent(id);
      if (i < 5) await credit.score(id, { ...answers, durationMonths: 6 + i * 6 });
    }
    clock.set('2026-08-01T02:00:00Z');
    const runs = await Promise.all([
      credit.refreshScores({ businessDate: '2026-08-01', batchSize: 2 }),
      credit.refreshScores({ businessDate: '2026-08-01', batchSize: 3 }),
    ]);
    expect(runs.every((r) => r.status === 'completed')).toBe(true);
    const stored = await t.db.query<{ n: bigint }>(
      `SELECT count(*)::int8 AS n FROM credit_scores WHERE refresh_date = '2026-08-01'`,
    );
    expect(stored.rows[0]!.n).toBe(5n);
    // The run's record: seven users looked at, five scored, two without answers — once each.
    const after = await credit.refreshScores({ businessDate: '2026-08-01' });
    expect(after).toMatchObject({
      alreadyCompleted: true,
      processed: 7,
      scored: 5,
      skippedCurrent: 0,
      skippedNoAnswers: 2,
    });
    expect(runs[0]!.scored + runs[1]!.scored).toBe(5);
    expect(runs[0]!.processed + runs[1]!.processed).toBe(7);
  });

  it('a grant that meets an active consent withdrawn at that moment grants again, not a crash', async () => {
    const id = adult();
    const first = await credit.grantConsent(id);
    let withdrawn = false;
    // The withdrawal lands between the grant's insert (a conflict: one is active) and its read back.
    const racing: Queryable = {
      query: async (sql, params) => {
        const result = await t.db.query(sql, params);
        if (!withdrawn && sql.includes('INSERT INTO credit_consents')) {
          withdrawn = true;
          await stampWithdrawal(t.db, clock, id);
        }
        return result as never;
      },
    };
    const granted = await insertConsent(racing, clock, id);
    expect(withdrawn).toBe(true);
    expect(granted.withdrawnAt).toBeNull();
    expect(granted.id).not.toBe(first.id);
    expect((await credit.getActiveConsent(id))!.id).toBe(granted.id);
  });

  it('the refresh scores again a user whose score of the date was computed under an earlier consent', async () => {
    clock.set('2026-09-01T02:00:00Z');
    const id = adult();
    await credit.grantConsent(id);
    const old = await credit.score(id, answers); // today, under the first consent
    await credit.withdrawConsent(id);
    await credit.grantConsent(id);
    const run = await credit.refreshScores({ businessDate: '2026-09-01' });
    expect(run.status).toBe('completed');
    const used = await credit.getLatestScore(id);
    expect(used.id).not.toBe(old.id);
    expect(used).toMatchObject({ trigger: 'refresh', businessDate: '2026-09-01' });
  });

  it('the refresh reads line history as of its date, not the clock: ahead of it (fast-forward) or resumed after it', async () => {
    const asked: string[] = [];
    const recording = createCreditService({
      db: t.db,
      clock,
      scoringWorker: false,
      features: {
        ...source,
        lineHistories: async (ids, asOf) => {
          asked.push(asOf.toISOString());
          return source.lineHistories(ids, asOf);
        },
      },
      users: { getUser: async () => ({ kycStatus: 'verified', isAdult: true }) },
      wallets: { getWallet: async () => ({ balance: 0n }) },
    });
    // The close's fast-forward refreshes the first of November while the clock is still in October,
    // after that day's statements were made; a run of 1 December resumed on the 5th reads the 1st.
    clock.set('2026-10-20T02:00:00Z');
    await recording.refreshScores({ businessDate: '2026-11-01' });
    clock.set('2026-12-05T02:00:00Z');
    await recording.refreshScores({ businessDate: '2026-12-01' });
    // On its own date, the clock's instant.
    clock.set('2027-01-01T02:00:00Z');
    await recording.refreshScores({ businessDate: '2027-01-01' });
    expect([...new Set(asked)]).toEqual([
      '2026-11-01T15:59:59.999Z',
      '2026-12-01T15:59:59.999Z',
      '2027-01-01T02:00:00.000Z',
    ]);
    // A date of Shanghai's local mean time (+08:05:43, before 1901) runs as of its own last instant.
    asked.length = 0;
    expect((await recording.refreshScores({ businessDate: '1900-01-01' })).status).toBe('completed');
    expect([...new Set(asked)]).toEqual(['1900-01-01T15:54:16.999Z']);
  });
});
