import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, newId } from '../core/index.ts';
import { applyMigrations } from '../db/index.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';
import { lendingMigrations } from './lending.ts';
import { latestMaxAprPass, recomputeMaxApr, type MaxAprPass } from './max-apr-recompute.ts';
import { getProduct } from './products.ts';

/**
 * Products made before the search over every amount (lending migration 0003) are in the table with
 * the max APR of their amount range's ends and no loan named; the recompute gives them the true one.
 * The first test's row is written as it was then, before migrations 0003 and 0004 were applied; the
 * others' rows are written after, by code that does not know the columns 0003 and 0004 added.
 */
describe('recomputing the max APR of products made before the search over every amount', () => {
  let t: TestDatabase;
  const clock = new ManualClock('2026-12-05T02:00:00Z');

  /** A product row as lending migration 0001 wrote it: 12 monthly instalments, 30/360. */
  async function insertOldProduct(
    code: string,
    row: { rate: string; terms: number[]; min: bigint; max: bigint; maxAprE4: bigint },
  ): Promise<string> {
    const id = newId();
    await t.db.query(
      `INSERT INTO lending_products (id, code, version, name, schedule_type, day_count, annual_rate, rounding,
         terms, min_amount, max_amount, min_score, account_classes, allocation_order, past_due_first,
         prepayment_mode, grace_days, penalty_rate, charge_off_days, max_apr_e4, created_at)
       VALUES ($1, $2, 1, $2, 'equal_instalments', '30/360', $3::numeric, 'half_even', $4::int[], $5, $6, 550,
         '{II,III}', '{penalty,fee,interest,principal}', true, 'lower_instalment', 0, $3::numeric, 180, $7, $8)`,
      [id, code, row.rate, row.terms, row.min, row.max, row.maxAprE4, clock.now()],
    );
    return id;
  }

  /** 7% over 12 months, 100.00–106.00 CNY: 7.0120% at both ends, 7.0452% at 103.73 CNY. */
  const sevenPercent = { rate: '7', terms: [12], min: 10_000n, max: 10_600n, maxAprE4: 70_120n };

  let migrationEra: string;

  beforeAll(async () => {
    t = await openTestDatabase(lendingMigrations.filter((m) => m.version <= 2));
    migrationEra = await insertOldProduct('seven', sevenPercent);
    await applyMigrations(t.db, lendingMigrations);
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Each test but the first starts from no product and no pass. */
  async function reset() {
    await t.db.query('DELETE FROM lending_max_apr_runs');
    await t.db.query('DELETE FROM lending_products');
  }

  it('gives an old product its true max APR and the loan at it', async () => {
    const id = migrationEra;
    const before = await getProduct(t.db, id);
    expect([before.maxApr, before.maxAprAt, before.maxAprBasis]).toEqual(['7.0120', null, 'ends']);

    const result = await recomputeMaxApr(t.db, clock);

    const after = await getProduct(t.db, id);
    expect([after.maxApr, after.maxAprAt, after.maxAprBasis]).toEqual([
      '7.0452',
      { amount: 10_373n, terms: 12 },
      'every_amount',
    ]);
    expect(result.processed).toBe(1);
    expect(result.pass).toMatchObject({
      pass: 1,
      status: 'completed',
      done: 1,
      total: 1,
      raised: 1,
      capped: 0,
    });
    // Done: the next run finds nothing (the server's job runs every few seconds).
    expect((await recomputeMaxApr(t.db, clock)).processed).toBe(0);
    expect((await latestMaxAprPass(t.db))?.pass).toBe(1);
  });

  it('discloses the 24% cap, never a max APR above it, for an old product with a loan above the cap', async () => {
    await reset();
    // 23.99% over one month, 100.00–101.00 CNY: 24.0000% at both ends (within the cap when it was
    // made), but rounding the interest of 100.30 CNY up makes it 24.0479%.
    const id = await insertOldProduct('near-cap', {
      rate: '23.99',
      terms: [1],
      min: 10_000n,
      max: 10_100n,
      maxAprE4: 240_000n,
    });
    const warnings: unknown[] = [];
    const result = await recomputeMaxApr(t.db, clock, {
      logger: { warn: (details: unknown) => warnings.push(details), error: () => {} },
    });
    const after = await getProduct(t.db, id);
    expect([after.maxApr, after.maxAprAt, after.maxAprBasis]).toEqual(['24.0000', null, 'cap']);
    expect(result.pass).toMatchObject({ status: 'completed', done: 1, capped: 1, raised: 0 });
    // The operator is told which product and which loan.
    expect(warnings).toEqual([
      expect.objectContaining({
        product: 'near-cap',
        reason: 'APR_ABOVE_CAP',
        details: expect.objectContaining({ apr_percent: '24.0479', amount: '10030', terms: 1 }),
      }),
    ]);
  });

  it('checkpoints each page: a stopped pass resumes after its last page and does none twice', async () => {
    await reset();
    const ids = [
      await insertOldProduct('a', sevenPercent),
      await insertOldProduct('b', sevenPercent),
      await insertOldProduct('c', sevenPercent),
    ].sort();
    const basis = async () => Promise.all(ids.map(async (id) => (await getProduct(t.db, id)).maxAprBasis));

    // One page, then the process stops (the job's round, or a crash after the checkpoint).
    const first = await recomputeMaxApr(t.db, clock, { pageSize: 1, maxPages: 1 });
    expect(first.processed).toBe(1);
    expect(await basis()).toEqual(['every_amount', 'ends', 'ends']);
    expect(await latestMaxAprPass(t.db)).toMatchObject({ pass: 1, status: 'running', done: 1, total: 3 });

    // A crash right after the second page's checkpoint.
    const crash = recomputeMaxApr(t.db, clock, {
      pageSize: 1,
      onProgress: () => {
        throw new Error('killed');
      },
    });
    await expect(crash).rejects.toThrow('killed');
    expect(await basis()).toEqual(['every_amount', 'every_amount', 'ends']);

    // Stopped in the middle of a page: nothing of it is written.
    const stop = new AbortController();
    stop.abort();
    expect((await recomputeMaxApr(t.db, clock, { signal: stop.signal })).processed).toBe(0);

    const rest = await recomputeMaxApr(t.db, clock, { pageSize: 1 });
    expect(rest.processed).toBe(1);
    expect(await basis()).toEqual(['every_amount', 'every_amount', 'every_amount']);
    // One pass, each product counted once.
    expect(rest.pass).toMatchObject({ pass: 1, status: 'completed', done: 3, total: 3, raised: 3 });
  });

  it('reports its progress after every page, and keeps it readable in the pass', async () => {
    await reset();
    for (const code of ['a', 'b', 'c', 'd', 'e']) await insertOldProduct(code, sevenPercent);
    const seen: Array<Pick<MaxAprPass, 'done' | 'total' | 'status'>> = [];
    const stored: Array<MaxAprPass | null> = [];
    await recomputeMaxApr(t.db, clock, {
      pageSize: 2,
      onProgress: async (pass) => {
        seen.push({ done: pass.done, total: pass.total, status: pass.status });
        stored.push(await latestMaxAprPass(t.db));
      },
    });
    expect(seen).toEqual([
      { done: 2, total: 5, status: 'running' },
      { done: 4, total: 5, status: 'running' },
      { done: 5, total: 5, status: 'completed' },
    ]);
    expect(stored.map((pass) => pass?.done)).toEqual([2, 4, 5]);
  });

  it('leaves a product it cannot search ends-only, and tries it again only in a new pass the CLI starts', async () => {
    await reset();
    const broken = await insertOldProduct('broken', { ...sevenPercent, terms: [0] });
    const fine = await insertOldProduct('fine', sevenPercent);
    const errors: unknown[] = [];
    const logger = { warn: () => {}, error: (details: unknown) => errors.push(details) };
    const first = await recomputeMaxApr(t.db, clock, { logger });
    expect(first.pass).toMatchObject({ pass: 1, status: 'completed', done: 2, failedProductIds: [broken] });
    expect((await getProduct(t.db, broken)).maxAprBasis).toBe('ends');
    expect((await getProduct(t.db, fine)).maxAprBasis).toBe('every_amount');
    expect(errors).toEqual([expect.objectContaining({ product: 'broken' })]);
    // The periodic job does not start a pass for it alone, every round.
    expect((await recomputeMaxApr(t.db, clock, { logger })).processed).toBe(0);
    expect((await latestMaxAprPass(t.db))?.pass).toBe(1);
    // The CLI does.
    const retried = await recomputeMaxApr(t.db, clock, { logger, retryFailed: true });
    expect(retried.pass).toMatchObject({ pass: 2, done: 1, failedProductIds: [broken] });
  });

  it('leaves a product searched over every amount alone', async () => {
    await reset();
    const id = await insertOldProduct('seven', sevenPercent);
    // As createProduct writes it since migration 0003: the loan named.
    await t.db.query(
      `UPDATE lending_products SET max_apr_e4 = 70452, max_apr_amount = 10373, max_apr_terms = 12,
         max_apr_basis = 'every_amount' WHERE id = $1`,
      [id],
    );
    expect((await recomputeMaxApr(t.db, clock)).processed).toBe(0);
    expect((await getProduct(t.db, id)).maxApr).toBe('7.0452');
  });
});
