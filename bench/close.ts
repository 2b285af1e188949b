/**
 * `npm run bench -- close [--json] [--accounts N]` (or CLOSE_ACCOUNTS=N)
 *
 * The real end-of-day close (the lending steps, through `createEndOfDayClose`) for N active
 * accounts (default 1,000,000) on PostgreSQL (DATABASE_URL, default the local test database) in a
 * fresh schema. Accounts come from a list of populations, each seeding its share of N with
 * set-based SQL (not timed): cash loans and pay-later lines, half each (src/paylater's
 * `seedActiveLines`, see there for what the lines look like).
 *
 * Cash loans: 12 monthly instalments at 7.2% (30/360), drawn on days spread over the last 330
 * days; 1 in 10 is behind by 1–7 instalments (so some age into charge-off today); 1 in 100 has
 * auto-debit on and a funded wallet, the rest pay by other means. The business date is a month
 * end, so the vintage snapshot runs too. Reports seconds and rows/s per step.
 */
import { Registry } from 'prom-client';
import { ManualClock, derivedId } from '../src/core/index.ts';
import { applyMigrations, dropPostgresSchema, openPostgres, type Database } from '../src/db/index.ts';
import { createEndOfDayClose, jobsMigrations, type CloseStep } from '../src/jobs/index.ts';
import { createLedger, ledgerMigrations, type Ledger } from '../src/ledger/index.ts';
import { createLending, lendingMigrations } from '../src/lending/index.ts';
import { createPaylater, paylaterMigrations, seedActiveLines } from '../src/paylater/index.ts';
import { option, postgresSettings, report, round } from './_report.ts';

const DATE = '2025-06-30';

interface Population {
  name: string;
  /** Relative share of the accounts. */
  weight: number;
  seed(db: Database, ledger: Ledger, count: number): Promise<void>;
  steps(): CloseStep[];
}

async function seedLoans(
  db: Database,
  ledger: Ledger,
  count: number,
  wallets: Map<string, string>,
): Promise<void> {
  const world = await ledger.openAccount({
    id: derivedId('bench', 'world'),
    currency: 'CNY',
    code: 'world',
    bound: { kind: 'unbounded' },
  });
  const product = (await db.query<{ id: string }>(`SELECT id FROM lending_products WHERE code = 'bench'`))
    .rows[0]!.id;
  // Loans: principal 1,000.00–50,000.00 in whole yuan; behind = unpaid instalments (1 in 10 loans).
  await db.query(
    `INSERT INTO lending_loans (id, user_id, product_id, product_code, principal, terms, apr_e4, drawn_on, disburse_to,
       status, auto_debit, principal_outstanding, created_at)
     SELECT md5('loan' || i)::uuid, md5('user' || i)::uuid, $1, 'bench',
       (1000 + (hashtext('p' || i)::int8 & 2147483647) % 49000) * 100, 12, 72000,
       to_char($2::date - (1 + (i::int8 * 7919) % 330)::int, 'YYYY-MM-DD'), 'wallet', 'active', i % 100 = 0, 0, now()
     FROM generate_series(1, $3::int) AS i`,
    [product, DATE, count],
  );
  await db.query(
    `INSERT INTO lending_instalments (loan_id, number, period_start, due_date, fraction_n, fraction_d, opening_balance,
       principal, interest, principal_paid, interest_paid)
     SELECT l.id, k, to_char(l.drawn_on::date + (k - 1) * interval '1 month', 'YYYY-MM-DD'),
       to_char(l.drawn_on::date + k * interval '1 month', 'YYYY-MM-DD'), 1, 12,
       l.principal - (k - 1) * (l.principal / 12),
       CASE WHEN k = 12 THEN l.principal - 11 * (l.principal / 12) ELSE l.principal / 12 END,
       round((l.principal - (k - 1) * (l.principal / 12)) * 0.006)::int8, 0, 0
     FROM lending_loans l CROSS JOIN generate_series(1, 12) AS k`,
  );
  // Paid: everything due before the date, except the last 1–7 instalments of 1 loan in 10.
  await db.query(
    `WITH due AS (
       SELECT i.loan_id, i.number, row_number() OVER (PARTITION BY i.loan_id ORDER BY i.number DESC) AS back,
         ('x' || substr(i.loan_id::text, 1, 8))::bit(32)::int AS h
       FROM lending_instalments i WHERE i.due_date < $1)
     UPDATE lending_instalments i SET principal_paid = i.principal, interest_paid = i.interest
     FROM due d WHERE i.loan_id = d.loan_id AND i.number = d.number
       AND NOT (abs(d.h) % 10 = 0 AND d.back <= 1 + abs(d.h / 10) % 7)`,
    [DATE],
  );
  await db.query(
    `WITH s AS (
       SELECT i.loan_id,
         sum(i.principal - i.principal_paid) AS outstanding,
         sum(i.principal - i.principal_paid) FILTER (WHERE i.due_date < $1) AS overdue,
         min(i.due_date) FILTER (WHERE i.due_date < $1 AND i.principal_paid < i.principal) AS oldest,
         sum(i.interest) FILTER (WHERE i.due_date < $1) AS before_current,
         sum(i.interest_paid) AS paid,
         min(i.number) FILTER (WHERE i.due_date >= $1) AS cur
       FROM lending_instalments i GROUP BY i.loan_id)
     UPDATE lending_loans l SET principal_outstanding = s.outstanding, overdue_principal = coalesce(s.overdue, 0),
       oldest_unpaid_due = s.oldest, interest_before_current = coalesce(s.before_current, 0),
       interest_accrued = coalesce(s.before_current, 0), interest_paid = s.paid,
       cur_number = c.number, cur_period_start = c.period_start, cur_due_date = c.due_date, cur_interest = c.interest,
       cur_opening = c.opening_balance, cur_rate_n = 7.2 * c.fraction_n, cur_rate_d = 100 * c.fraction_d,
       accrued_through = to_char($1::date - 1, 'YYYY-MM-DD'), due_through = to_char($1::date - 1, 'YYYY-MM-DD'),
       penalty_through = to_char($1::date - 1, 'YYYY-MM-DD'),
       dpd = CASE WHEN s.oldest IS NULL THEN 0 ELSE ($1::date - 1) - s.oldest::date END
     FROM s LEFT JOIN lending_instalments c ON c.loan_id = s.loan_id AND c.number = s.cur
     WHERE l.id = s.loan_id`,
    [DATE],
  );
  // The ledger holds what the seeded loans owe: receivables against the world (one entry each).
  const totals = (
    await db.query<{ principal: bigint; interest: bigint }>(
      `SELECT sum(principal_outstanding)::int8 AS principal, sum(interest_accrued - interest_paid)::int8 AS interest
       FROM lending_loans`,
    )
  ).rows[0]!;
  const accounts = productAccountsOf('bench');
  await ledger.transfer({
    id: derivedId('bench', 'principal'),
    debitAccountId: accounts.principalReceivable,
    creditAccountId: world.id,
    amount: BigInt(totals.principal),
  });
  if (BigInt(totals.interest) > 0n) {
    await ledger.transfer({
      id: derivedId('bench', 'interest'),
      debitAccountId: accounts.interestReceivable,
      creditAccountId: accounts.interestIncome,
      amount: BigInt(totals.interest),
    });
  }
  // Auto-debit loans get a funded wallet.
  const auto = await db.query<{ user_id: string }>(`SELECT user_id FROM lending_loans WHERE auto_debit`);
  for (const { user_id } of auto.rows) {
    const wallet = await ledger.openAccount({
      id: derivedId('bench.wallet', user_id),
      currency: 'CNY',
      code: 'user_wallet',
      bound: { kind: 'no_overdraft' },
    });
    wallets.set(user_id, wallet.id);
    await ledger.transfer({
      id: derivedId('bench.top-up', user_id),
      debitAccountId: world.id,
      creditAccountId: wallet.id,
      amount: 5_000_000n,
    });
  }
}

let productAccountsOf: (code: string) => {
  principalReceivable: string;
  interestReceivable: string;
  interestIncome: string;
};

/** Wraps a step to time it and count the rows it reports through its checkpoints. */
function timed(
  step: CloseStep,
  out: Record<string, { seconds: number; rows: number; rows_per_s: number }>,
): CloseStep {
  return {
    name: step.name,
    async run(ctx) {
      let rows = 0;
      const started = performance.now();
      await step.run({
        ...ctx,
        checkpoint: async (cursor, progress) => {
          rows = Math.max(rows, Number(progress.done));
          await ctx.checkpoint(cursor, progress);
        },
      });
      const seconds = (performance.now() - started) / 1000;
      out[step.name] = {
        seconds: round(seconds, 2),
        rows,
        rows_per_s: Math.round(rows / Math.max(seconds, 1e-6)),
      };
    },
  };
}

export async function main(args: string[]): Promise<void> {
  const accounts = option(args, '--accounts', Number(process.env.CLOSE_ACCOUNTS ?? 1_000_000));
  const url = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
  const log = (message: string) => console.error(`[bench close] ${message}`);
  const server = await postgresSettings(url);

  const schema = `bench_close_${process.pid}`;
  const db = await openPostgres({ url, schema, maxConnections: 4 });
  const clock = new ManualClock(`${DATE}T23:00:00+08:00`);
  const ledger = createLedger({ db, clock, registry: new Registry() });
  try {
    await applyMigrations(db, [
      ...ledgerMigrations,
      ...jobsMigrations,
      ...lendingMigrations,
      ...paylaterMigrations,
    ]);
    const wallets = new Map<string, string>();
    const lending = createLending({
      db,
      ledger,
      clock,
      users: { getUser: () => Promise.reject(new Error('no applications in this benchmark')) },
      scores: { getLatestScore: () => Promise.reject(new Error('no applications in this benchmark')) },
      wallets: {
        async getWallet(userId) {
          const id = wallets.get(userId);
          if (!id) throw new Error('no wallet');
          const account = await ledger.getAccount(id);
          return { ledgerAccountId: id, currency: 'CNY', available: account.balances.available };
        },
        creditCard: () => Promise.reject(new Error('no cards in this benchmark')),
        onCardSettlement: () => {},
        cardStatus: () => Promise.reject(new Error('no cards in this benchmark')),
        bankClearingAccountId: () => derivedId('bench', 'world'),
      },
      closeChunkSize: 50_000,
    });
    productAccountsOf = lending.productAccounts;
    await lending.createProduct('bench', {
      name: 'Bench cash loan',
      scheduleType: 'equal_instalments',
      dayCount: '30/360',
      annualRate: '7.2',
      terms: [12],
      minAmount: 100_000n,
      maxAmount: 5_000_000n,
      chargeOffDays: 180,
    });
    const noUsers = () => Promise.reject(new Error('no line openings in this benchmark'));
    const paylater = createPaylater({
      db,
      ledger,
      clock,
      users: { getUser: noUsers },
      scores: { currentScore: noUsers },
      wallets: { getWallet: noUsers },
    });
    const paylaterProduct = (
      await paylater.createProduct({
        code: 'bench',
        name: 'Bench pay-later',
        mode: 'statement',
        statementDay: 1,
        dueDays: 9,
        dailyRatePpm: 0n,
        revolvingRatePpm: 500n,
        penaltyMultiplierBp: 15_000,
        minPaymentBp: 1_000,
        suspendAfterDays: 30,
        instalmentFees: { '3': 230, '6': 450, '12': 750 },
      })
    ).id;
    const populations: Population[] = [
      {
        name: 'cash_loans',
        weight: 1,
        seed: (d, l, count) => seedLoans(d, l, count, wallets),
        steps: () => lending.closeSteps(),
      },
      {
        // Pay-later lines (half the accounts): unbilled purchases on every line, a third with a
        // statement past due (revolving interest), statement days spread over the month.
        name: 'paylater_lines',
        weight: 1,
        seed: async (d, _l, count) => {
          await seedActiveLines(d, { productId: paylaterProduct, count, businessDate: DATE });
        },
        steps: () => paylater.closeSteps({ chunkSize: 50_000 }),
      },
    ];
    const totalWeight = populations.reduce((s, p) => s + p.weight, 0);
    const counts: Record<string, number> = {};
    const seedStarted = performance.now();
    for (const p of populations) {
      counts[p.name] = Math.round((accounts * p.weight) / totalWeight);
      await p.seed(db, ledger, counts[p.name]!);
    }
    // A production table is vacuumed by autovacuum; the seed's own updates left dead rows behind.
    await db.exec('VACUUM (ANALYZE) lending_loans, lending_instalments');
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    log(
      `${accounts} accounts seeded in ${round(seedSeconds, 1)} s (${JSON.stringify(counts)}); closing ${DATE}`,
    );

    const steps: Record<string, { seconds: number; rows: number; rows_per_s: number }> = {};
    const close = createEndOfDayClose({
      db,
      clock,
      steps: populations.flatMap((p) => p.steps()).map((s) => timed(s, steps)),
    });
    const started = performance.now();
    const run = await close.close(DATE, {
      fastForward: true,
      onProgress: (p) => {
        if (p.done > 0n && p.done % 200_000n === 0n) log(`${p.step} ${p.done}`);
      },
    });
    const seconds = (performance.now() - started) / 1000;
    log(`close ${run.status} in ${round(seconds, 1)} s`);
    const book = await lending.bookByBucket('bench');
    const verify = await ledger.verify();
    report(
      'close',
      {
        accounts,
        seconds: round(seconds, 2),
        status: run.status,
        goal: '1,000,000 active accounts ≤ 120 s on 2 cores (PostgreSQL)',
        populations: counts,
        seed_seconds: round(seedSeconds, 1),
        steps,
        book: book.filter((b) => b.loans > 0).map((b) => ({ bucket: b.bucket, loans: b.loans })),
        ledger_verify_ok: verify.ok,
        postgres: server,
      },
      args,
    );
  } finally {
    await ledger.close();
    await db.close();
    await dropPostgresSchema(url, schema);
  }
}
