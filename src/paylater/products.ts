import { MilletError, isUuid, newId, type Clock } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import type { Ledger } from '../ledger/index.ts';
import { instalmentOffer } from './instalments.ts';
import { openProductAccounts } from './accounts.ts';
import { productFromRow, type ProductRow } from './rows.ts';
import type { CreateProductCommand, LimitBand, LimitBandTable, PaylaterProduct } from './types.ts';

const invalid = (field: string, message: string) => new MilletError('VALIDATION_FAILED', message, { field });

/** The comprehensive cost of a daily rate, simple annual (×365), in millionths: ≤ 24 %. */
const MAX_DAILY_PPM_TIMES_365 = 240_000n;
/** APRs are checked on a sample principal of 10,000.00 (the split's rounding moves them by < 0.01 pp). */
const SAMPLE_PRINCIPAL = 1_000_000n;

function validateProduct(c: CreateProductCommand): void {
  if (!/^[a-z][a-z0-9_-]{1,31}$/.test(c.code))
    throw invalid('code', 'code is 2–32 lowercase letters, digits, _ or -');
  // A statement is written in the close of its date, after that day has ended: due the same day, it
  // would be overdue before the user could see it (daily mode too: the bill is due the next day).
  if (!Number.isInteger(c.dueDays) || c.dueDays < 1 || c.dueDays > 28)
    throw invalid(
      'due_days',
      'due_days is 1–28: a statement is issued after its day has ended, so it is due on a later day',
    );
  for (const [field, ppm] of [
    ['daily_rate_ppm', c.dailyRatePpm],
    ['revolving_rate_ppm', c.revolvingRatePpm],
  ] as const) {
    if (ppm < 0n) throw invalid(field, `${field} must not be negative`);
    if (ppm * 365n > MAX_DAILY_PPM_TIMES_365)
      throw new MilletError('APR_ABOVE_CAP', `${field} × 365 is above the 24% ceiling`, { field });
  }
  for (const [terms, bp] of Object.entries(c.instalmentFees)) {
    if (!/^[1-9][0-9]?$/.test(terms) || !Number.isInteger(bp) || bp < 0 || bp > 10_000)
      throw invalid(
        'instalment_fees',
        'instalment_fees maps a term of 1–99 months to a fee rate of 0–10000 bp',
      );
    instalmentOffer(SAMPLE_PRINCIPAL, Number(terms), c.instalmentFees); // refuses a term above 24% APR
  }
}

export class Products {
  constructor(
    private readonly db: Database,
    private readonly ledger: Ledger,
    private readonly clock: Clock,
  ) {}

  /** A new version of the product `code` (the first is version 1); lines keep the version they opened on. */
  async create(c: CreateProductCommand): Promise<PaylaterProduct> {
    validateProduct(c);
    const id = c.id ?? newId();
    const existing = await this.find(id);
    if (existing) return existing;
    await openProductAccounts(this.ledger, id);
    const result = await this.db.transaction(async (tx) => {
      await tx.query('LOCK TABLE paylater_products IN SHARE ROW EXCLUSIVE MODE');
      return tx.query<ProductRow>(
        `INSERT INTO paylater_products (id, code, version, name, mode, statement_day, due_days, daily_rate_ppm,
           revolving_rate_ppm, penalty_multiplier_bp, min_payment_bp, suspend_after_days, instalment_fees, created_at)
         SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13
           FROM paylater_products WHERE code = $2
         ON CONFLICT (id) DO NOTHING RETURNING *`,
        [
          id,
          c.code,
          c.name,
          c.mode,
          c.statementDay,
          c.dueDays,
          c.dailyRatePpm,
          c.revolvingRatePpm,
          c.penaltyMultiplierBp,
          c.minPaymentBp,
          c.suspendAfterDays,
          JSON.stringify(c.instalmentFees),
          this.clock.now(),
        ],
      );
    });
    return result.rows[0] ? productFromRow(result.rows[0]) : this.get(id);
  }

  async find(id: string): Promise<PaylaterProduct | undefined> {
    if (!isUuid(id)) return undefined;
    const r = await this.db.query<ProductRow>('SELECT * FROM paylater_products WHERE id = $1', [id]);
    return r.rows[0] && productFromRow(r.rows[0]);
  }

  async get(id: string): Promise<PaylaterProduct> {
    const product = await this.find(id);
    if (!product) throw new MilletError('PAYLATER_PRODUCT_NOT_FOUND', `No pay-later product ${id}`, { id });
    return product;
  }

  /** Every version, newest first within a code. */
  async list(): Promise<PaylaterProduct[]> {
    const r = await this.db.query<ProductRow>('SELECT * FROM paylater_products ORDER BY code, version DESC');
    return r.rows.map(productFromRow);
  }

  /** The score-band → limit table, as a new version (the latest applies to lines opened from now). */
  async setBands(bands: readonly LimitBand[]): Promise<LimitBandTable> {
    const scores = new Set(bands.map((b) => b.minScore));
    if (bands.length === 0 || scores.size !== bands.length)
      throw invalid('bands', 'bands need at least one entry and distinct min_score values');
    for (const b of bands)
      if (!Number.isInteger(b.minScore) || b.minScore < 350 || b.minScore > 950 || b.limit < 0n)
        throw invalid('bands', 'min_score is 350–950 and limit is not negative');
    const now = this.clock.now();
    const version = await this.db.transaction(async (tx) => {
      await tx.query('LOCK TABLE paylater_limit_bands IN SHARE ROW EXCLUSIVE MODE');
      const next = await tx.query<{ v: number }>(
        'SELECT coalesce(max(version), 0) + 1 AS v FROM paylater_limit_bands',
      );
      const v = next.rows[0]!.v;
      for (const b of bands)
        await tx.query(
          'INSERT INTO paylater_limit_bands (version, min_score, limit_amount, created_at) VALUES ($1, $2, $3, $4)',
          [v, b.minScore, b.limit, now],
        );
      return v;
    });
    return { version, bands: [...bands].sort((a, b) => a.minScore - b.minScore), createdAt: now };
  }

  async bands(): Promise<LimitBandTable> {
    const r = await this.db.query<{
      version: number;
      min_score: number;
      limit_amount: bigint;
      created_at: Date;
    }>(
      `SELECT * FROM paylater_limit_bands WHERE version = (SELECT max(version) FROM paylater_limit_bands)
        ORDER BY min_score`,
    );
    if (r.rows.length === 0)
      throw new MilletError('PAYLATER_BANDS_MISSING', 'No score-band → limit table has been set');
    return {
      version: r.rows[0]!.version,
      bands: r.rows.map((x) => ({ minScore: x.min_score, limit: x.limit_amount })),
      createdAt: r.rows[0]!.created_at,
    };
  }
}

/** The limit for a score: the band with the highest min_score at or below it (0 below every band). */
export function limitForScore(bands: readonly LimitBand[], score: number): bigint {
  let limit = 0n;
  let best = -1;
  for (const b of bands)
    if (b.minScore <= score && b.minScore > best) {
      best = b.minScore;
      limit = b.limit;
    }
  return limit;
}
