import type { Logger } from 'pino';
import { isMilletError, type Clock } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import { APR_CAP_PERCENT_E4, formatPercentE4 } from './apr.ts';
import {
  countEndsOnlyProducts,
  endsOnlyProducts,
  productRate,
  replaceEndsOnlyMaxApr,
  type Product,
} from './products.ts';
import { worstApr } from './worst-apr.ts';

/** One pass of the recompute over the products whose max APR was found at the amount range's ends. */
export interface MaxAprPass {
  pass: number;
  status: 'running' | 'completed';
  /** Products looked at so far in this pass. */
  done: number;
  /** `done` plus the ends-only products still after the cursor. */
  total: number;
  /** Products whose max APR rose (an amount between the ends is dearer). */
  raised: number;
  /** Products with a loan above the 24% cap, disclosed at the cap (see `MaxAprBasis`). */
  capped: number;
  /** Products the search failed on, left ends-only (logged); the next pass tries them again. */
  failedProductIds: string[];
  startedAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

export interface MaxAprRecomputeOptions {
  /** Products per page: searched, then written with the cursor in one transaction (default 20). */
  pageSize?: number;
  /** Stop after this many pages (the periodic job does one per round, so other jobs are not held up). */
  maxPages?: number;
  /** Stops at the next page boundary; the pass resumes there on the next call. */
  signal?: AbortSignal;
  /** After each page is written (and when a pass completes). */
  onProgress?: (pass: MaxAprPass) => void | Promise<void>;
  logger?: Pick<Logger, 'warn' | 'error'>;
  /**
   * Start a new pass for products an earlier pass failed on (the CLI). Without it (the periodic
   * job) a new pass starts only for products no pass has failed on, so a product that cannot be
   * searched is not tried again every round.
   */
  retryFailed?: boolean;
}

export interface MaxAprRecomputeResult {
  /** The pass worked on, or the latest one (null when none ever ran). */
  pass: MaxAprPass | null;
  /** Products this call looked at. */
  processed: number;
}

interface PassRow {
  pass: number;
  status: 'running' | 'completed';
  cursor: string | null;
  done: bigint;
  total: bigint;
  raised: bigint;
  capped: bigint;
  failed_ids: string[];
  started_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

function toPass(r: PassRow): MaxAprPass {
  return {
    pass: r.pass,
    status: r.status,
    done: Number(r.done),
    total: Number(r.total),
    raised: Number(r.raised),
    capped: Number(r.capped),
    failedProductIds: r.failed_ids,
    startedAt: r.started_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
  };
}

async function latestPassRow(db: Queryable): Promise<PassRow | null> {
  const { rows } = await db.query<PassRow>('SELECT * FROM lending_max_apr_runs ORDER BY pass DESC LIMIT 1');
  return rows[0] ?? null;
}

/** The latest pass of the recompute (its progress while it runs), or null when none ran. */
export async function latestMaxAprPass(db: Queryable): Promise<MaxAprPass | null> {
  const row = await latestPassRow(db);
  return row && toPass(row);
}

/** The running pass, or a new one when there is work for it; null when there is none. */
async function runningPass(db: Database, clock: Clock, retryFailed: boolean): Promise<PassRow | null> {
  const seen = await latestPassRow(db);
  if (seen?.status === 'running') return seen;
  const left = (q: Queryable, skipped: string[]) =>
    q.query<{ n: bigint; fresh: bigint }>(
      `SELECT count(*)::int8 AS n, count(*) FILTER (WHERE NOT (id = ANY($1::uuid[])))::int8 AS fresh
         FROM lending_products WHERE max_apr_basis = 'ends'`,
      [skipped],
    );
  // The periodic job asks every round; once every product is searched the answer is read without
  // taking the table lock below.
  const unlocked = await left(db, retryFailed ? [] : (seen?.failed_ids ?? []));
  if (Number(unlocked.rows[0]?.fresh ?? 0n) === 0) return null;
  return db.transaction(async (tx) => {
    // One pass starts at a time: two runners finding none running would both start one.
    await tx.query('LOCK TABLE lending_max_apr_runs IN SHARE ROW EXCLUSIVE MODE');
    const last = await latestPassRow(tx);
    if (last?.status === 'running') return last;
    const skipped = retryFailed ? [] : (last?.failed_ids ?? []);
    const { rows } = await left(tx, skipped);
    if (Number(rows[0]?.fresh ?? 0n) === 0) return null;
    const now = clock.now();
    const inserted = await tx.query<PassRow>(
      `INSERT INTO lending_max_apr_runs (pass, status, total, started_at, updated_at)
       VALUES ($1, 'running', $2, $3, $3) RETURNING *`,
      [(last?.pass ?? 0) + 1, rows[0]!.n, now],
    );
    return inserted.rows[0]!;
  });
}

type Outcome =
  | { product: Product; basis: 'every_amount' | 'cap'; percentE4: bigint; at: Product['maxAprAt'] }
  | { product: Product; basis: 'failed' };

/**
 * The product's highest APR over every amount and start date. One above the cap (or one whose
 * amounts are too many to prove within it) is not recorded as such: its offers and draws are each
 * refused above the cap, so no loan of it can pass the cap, and the cap is what it discloses; the
 * operator is told (a warning) to publish a version within it.
 */
async function searchHighest(product: Product, logger: MaxAprRecomputeOptions['logger']): Promise<Outcome> {
  try {
    const highest = await worstApr(product, productRate(product));
    return {
      product,
      basis: 'every_amount',
      percentE4: highest.apr.percentE4,
      at: highest.at && { amount: highest.at.amount, terms: highest.at.term },
    };
  } catch (error) {
    if (isMilletError(error) && (error.code === 'APR_ABOVE_CAP' || error.code === 'LOAN_PRODUCT_INVALID')) {
      logger?.warn(
        {
          product: product.code,
          version: product.version,
          reason: error.code,
          details: error.details,
          maxAprWas: product.maxApr,
          maxAprNow: formatPercentE4(APR_CAP_PERCENT_E4),
        },
        'a loan product made before the APR search has loans above the 24% cap: its offers and draws ' +
          'above it are refused and its max APR is now the cap; publish a version within the cap',
      );
      return { product, basis: 'cap', percentE4: APR_CAP_PERCENT_E4, at: null };
    }
    logger?.error(
      { err: error, product: product.code, version: product.version },
      'recomputing the max APR of a loan product failed; it keeps its ends-only max APR',
    );
    return { product, basis: 'failed' };
  }
}

/**
 * Recomputes the max APR (and the loan at it) of every product whose max APR was found at the ends
 * of its amount range only (made before 2026-12-04), a page at a time in id order. Each page's
 * products and the pass's cursor and counts are written in one transaction, so a stopped pass
 * resumes after its last page; a page another runner wrote meanwhile is dropped, not written twice.
 */
export async function recomputeMaxApr(
  db: Database,
  clock: Clock,
  options: MaxAprRecomputeOptions = {},
): Promise<MaxAprRecomputeResult> {
  const pageSize = options.pageSize ?? 20;
  let processed = 0;
  let pages = 0;
  let latest: MaxAprPass | null = null;
  for (;;) {
    if (options.signal?.aborted || (options.maxPages !== undefined && pages >= options.maxPages)) break;
    const pass = await runningPass(db, clock, options.retryFailed ?? false);
    if (!pass) break;
    const page = await endsOnlyProducts(db, pass.cursor, pageSize);
    const outcomes: Outcome[] = [];
    for (const product of page) {
      if (options.signal?.aborted) break;
      outcomes.push(await searchHighest(product, options.logger));
    }
    // Stopped inside the page: none of it is written, the pass resumes at its start.
    if (outcomes.length < page.length) break;
    if (page.length > 0) pages++;
    const written = await db.transaction(async (tx) => {
      const held = await tx.query(
        `SELECT 1 FROM lending_max_apr_runs
          WHERE pass = $1 AND status = 'running' AND cursor IS NOT DISTINCT FROM $2::uuid FOR UPDATE`,
        [pass.pass, pass.cursor],
      );
      if (held.rowCount === 0) return null;
      let raised = 0;
      let capped = 0;
      const failed: string[] = [];
      for (const outcome of outcomes) {
        const { product } = outcome;
        if (outcome.basis === 'failed') {
          failed.push(product.id);
          continue;
        }
        const replaced = await replaceEndsOnlyMaxApr(tx, product.id, outcome);
        if (!replaced) continue;
        if (outcome.basis === 'cap') capped++;
        else if (outcome.percentE4 > BigInt(product.maxApr.replace('.', ''))) raised++;
      }
      const cursor = page.at(-1)?.id ?? pass.cursor;
      const remaining = await countEndsOnlyProducts(tx, cursor);
      const { rows } = await tx.query<PassRow>(
        `UPDATE lending_max_apr_runs
            SET cursor = $2::uuid, done = done + $3::int8, total = done + $3::int8 + $4::int8,
                raised = raised + $5::int8, capped = capped + $6::int8, failed_ids = failed_ids || $7::uuid[],
                updated_at = $8::timestamptz,
                status = CASE WHEN $4::int8 = 0 THEN 'completed' ELSE status END,
                finished_at = CASE WHEN $4::int8 = 0 THEN $8::timestamptz ELSE finished_at END
          WHERE pass = $1 RETURNING *`,
        [pass.pass, cursor, page.length, remaining, raised, capped, failed, clock.now()],
      );
      return toPass(rows[0]!);
    });
    // Another runner wrote this page first: read the pass again.
    if (!written) continue;
    processed += page.length;
    latest = written;
    await options.onProgress?.(written);
    // One pass per call: a new one now would only try again what this one failed on.
    if (written.status === 'completed') break;
  }
  return { pass: latest ?? (await latestMaxAprPass(db)), processed };
}
