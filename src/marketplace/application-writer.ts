import type { Database, Queryable } from '../db/index.ts';

/** One routed application as stored: the application row, its pings and its ranked offers. */
export interface ApplicationRecord {
  id: string;
  userId: string;
  product: string;
  scoreBand: string;
  amount: bigint;
  termMonths: number;
  regionCode: string;
  status: string;
  businessDate: string;
  routing: unknown;
  createdAt: Date;
  pings: Array<{ partnerId: string; outcome: string; latencyMs: number }>;
  offers: Array<{
    id: string;
    source: string;
    partnerId: string | null;
    partnerOfferRef: string;
    amount: bigint;
    aprBp: number;
    termMonths: number;
    promotions: unknown;
    rank: number;
    explanation: unknown;
  }>;
}

interface Waiting {
  record: ApplicationRecord;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for routed applications (the ledger's writer does the same for entries): every
 * application waiting when a write starts goes into it, as one statement of three multi-row
 * INSERTs, so a burst of N applications costs one round trip and one commit instead of 5·N.
 * `write` resolves only once that statement has committed: an application is durable before its
 * user sees the offers and can choose one. A failed batch is retried one application at a time, so
 * one bad row fails only its own application.
 */
export class ApplicationWriter {
  private queue: Waiting[] = [];
  private inFlight = 0;

  constructor(
    private readonly db: Database,
    private readonly options: { maxBatch: number; maxInFlight: number } = { maxBatch: 200, maxInFlight: 4 },
  ) {}

  write(record: ApplicationRecord): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0 && this.inFlight < this.options.maxInFlight) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.inFlight += 1;
      void this.flush(batch).finally(() => {
        this.inFlight -= 1;
        this.pump();
      });
    }
  }

  private async flush(batch: Waiting[]): Promise<void> {
    try {
      await insertApplications(
        this.db,
        batch.map((w) => w.record),
      );
      for (const w of batch) w.resolve();
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      for (const w of batch) await insertApplications(this.db, [w.record]).then(w.resolve, w.reject);
    }
  }
}

/** One array per field, in the order given: the parameters of an unnest() of many rows. */
function columns<T>(rows: readonly T[], keys: ReadonlyArray<keyof T>): unknown[][] {
  return keys.map((key) => rows.map((row) => row[key]));
}

/**
 * The applications, their pings and their offers in one statement (data-modifying CTEs): one round
 * trip, atomic on its own, so no BEGIN and COMMIT around it.
 */
async function insertApplications(q: Queryable, records: readonly ApplicationRecord[]): Promise<void> {
  const applications = records.map((r) => ({ ...r, routing: JSON.stringify(r.routing) }));
  const pings = records.flatMap((r) =>
    r.pings.map((p) => ({ ...p, applicationId: r.id, date: r.businessDate })),
  );
  const offers = records.flatMap((r) =>
    r.offers.map((o) => ({
      ...o,
      applicationId: r.id,
      promotions: JSON.stringify(o.promotions),
      explanation: JSON.stringify(o.explanation),
    })),
  );
  await q.query(
    `WITH applications AS (
       INSERT INTO marketplace_applications (id, user_id, product, score_band, amount, term_months,
         region_code, status, business_date, routing, created_at)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int8[], $6::int[],
                            $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::timestamptz[])
     ), pings AS (
       INSERT INTO marketplace_pings (application_id, partner_id, outcome, latency_ms, business_date)
       SELECT * FROM unnest($12::uuid[], $13::uuid[], $14::text[], $15::int[], $16::text[])
     )
     INSERT INTO marketplace_offers (id, application_id, source, partner_id, partner_offer_ref, amount,
       apr_bp, term_months, promotions, rank, explanation)
     SELECT * FROM unnest($17::uuid[], $18::uuid[], $19::text[], $20::uuid[], $21::text[], $22::int8[],
                          $23::int[], $24::int[], $25::jsonb[], $26::int[], $27::jsonb[])`,
    [
      ...columns(applications, [
        'id',
        'userId',
        'product',
        'scoreBand',
        'amount',
        'termMonths',
        'regionCode',
        'status',
        'businessDate',
        'routing',
        'createdAt',
      ]),
      ...columns(pings, ['applicationId', 'partnerId', 'outcome', 'latencyMs', 'date']),
      ...columns(offers, [
        'id',
        'applicationId',
        'source',
        'partnerId',
        'partnerOfferRef',
        'amount',
        'aprBp',
        'termMonths',
        'promotions',
        'rank',
        'explanation',
      ]),
    ],
  );
}
