/**
 * `npm run bench -- fund [--json] [--holders N] [--pglite-holders M]`
 *
 * One day's money-fund income to N holders (default 1,000,000) on PostgreSQL (DATABASE_URL,
 * default the local test database), timed end to end through the close step's own functions:
 * compute (one set-based INSERT … SELECT with the largest-remainder window), book (one ledger
 * entry for the fund's day) and apply (income reinvested into the register in chunks of 50,000
 * holders, each its own transaction). The holders are set up with one INSERT … SELECT from
 * generate_series (not timed). Then the same on PGlite (WASM, one process) with M holders
 * (default 100,000). Afterwards the distributed total is checked against the fund's income and
 * the register against the ledger's omnibus share account.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { ManualClock } from '../src/core/index.ts';
import {
  applyMigrations,
  dropPostgresSchema,
  openPGlite,
  openPostgres,
  type Database,
} from '../src/db/index.ts';
import { createLedger, ledgerMigrations } from '../src/ledger/index.ts';
import { createWealth, parseRate, wealthMigrations } from '../src/wealth/index.ts';
import { distributeFundIncome } from '../src/wealth/fund-income.ts';
import { option, postgresSettings, report, round } from './_report.ts';

const DATE = '2025-06-06';

interface FundRun {
  seconds: number;
  setup_seconds: number;
  total_income_fen: string;
  checks_ok: boolean;
}

async function runOn(db: Database, holders: number, log: (m: string) => void): Promise<FundRun> {
  await applyMigrations(db, [...ledgerMigrations, ...wealthMigrations]);
  const clock = new ManualClock('2025-06-07T01:00:00+08:00');
  const ledger = createLedger({ db, clock, registry: new Registry() });
  try {
    const wealth = createWealth({
      db,
      ledger,
      clock,
      wallets: { getWallet: () => Promise.reject(new Error('no wallets in this benchmark')) },
    });
    const fund = await wealth.createProduct({ kind: 'money_fund', code: 'BENCH', name: 'bench fund' });
    const accounts = wealth.productAccounts(fund.id);
    await wealth.publishDailyIncome(fund.id, DATE, parseRate('1.7120'));
    const setupStarted = performance.now();
    // Holdings of 0.01 to 1,000,000.00 shares (skewed small), ids from md5 → uuid.
    await db.query(
      `INSERT INTO wealth_holdings (id, product_id, user_id, shares, created_at)
       SELECT md5('h' || i)::uuid, $1, md5('u' || i)::uuid,
              1 + (((hashtext('s' || i)::int8 & 2147483647) % 100000000) * ((hashtext('t' || i)::int8 & 2147483647) % 1000)) / 1000,
              now()
       FROM generate_series(1, $2::int) AS i`,
      [fund.id, holders],
    );
    const held = await db.query<{ shares: bigint }>(
      'SELECT sum(shares)::int8 AS shares FROM wealth_holdings WHERE product_id = $1',
      [fund.id],
    );
    // The shares the register holds were bought: issue them on the ledger in one entry.
    await ledger.transfer({
      id: '00000000-0000-8000-8000-000000000001',
      debitAccountId: accounts.sharesIssued,
      creditAccountId: accounts.holderShares,
      amount: held.rows[0]!.shares,
    });
    await db.exec('ANALYZE');
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    log(`${holders} holders set up in ${round(setupSeconds, 1)} s; distributing one day's income`);
    const started = performance.now();
    const result = await distributeFundIncome(db, ledger, {
      businessDate: DATE,
      asOf: new Date(`${DATE}T23:59:59.999+08:00`),
      cursor: null,
      checkpoint: async () => {},
    });
    const seconds = (performance.now() - started) / 1000;
    const check = await db.query<{
      holders: bigint;
      total: bigint;
      exact: string;
      applied: bigint;
      register: bigint;
    }>(
      `SELECT (SELECT count(*) FROM wealth_income WHERE product_id = $1) AS holders,
              (SELECT sum(income)::int8 FROM wealth_income WHERE product_id = $1) AS total,
              (SELECT div(sum(shares::numeric * 17120), 100000000)::text FROM wealth_income WHERE product_id = $1) AS exact,
              (SELECT count(*) FROM wealth_holdings WHERE product_id = $1 AND last_income_date = $2) AS applied,
              (SELECT sum(shares)::int8 FROM wealth_holdings WHERE product_id = $1) AS register`,
      [fund.id, DATE],
    );
    const c = check.rows[0]!;
    const omnibus = (await ledger.getAccount(accounts.holderShares)).balances.posted;
    const ok =
      Number(c.holders) === holders &&
      Number(c.applied) === holders &&
      c.total === result.total &&
      c.total.toString() === c.exact &&
      c.register === omnibus;
    log(`${round(seconds, 2)} s, total income ${c.total} fen, checks ${ok ? 'ok' : 'FAILED'}`);
    return {
      seconds: round(seconds, 2),
      setup_seconds: round(setupSeconds, 1),
      total_income_fen: c.total.toString(),
      checks_ok: ok,
    };
  } finally {
    await ledger.close();
  }
}

export async function main(args: string[]): Promise<void> {
  const holders = option(args, '--holders', 1_000_000);
  const pgliteHolders = option(args, '--pglite-holders', 100_000);
  const url = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
  const log = (message: string) => console.error(`[bench fund] ${message}`);
  const server = await postgresSettings(url);

  const schema = `bench_fund_${process.pid}`;
  const pgDb = await openPostgres({ url, schema, maxConnections: 2 });
  let postgres: FundRun;
  try {
    postgres = await runOn(pgDb, holders, (m) => log(`PostgreSQL ${m}`));
  } finally {
    await pgDb.close();
    await dropPostgresSchema(url, schema);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-bench-fund-'));
  let pglite: FundRun;
  try {
    const db = await openPGlite(dir);
    try {
      pglite = await runOn(db, pgliteHolders, (m) => log(`PGlite ${m}`));
    } finally {
      await db.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  report(
    'fund',
    {
      holders,
      seconds: postgres.seconds,
      pglite_holders: pgliteHolders,
      pglite_seconds: pglite.seconds,
      goal: '1,000,000 holders ≤ 20 s on 2 cores (PostgreSQL)',
      postgres: { ...server, ...postgres },
      pglite,
    },
    args,
  );
}
