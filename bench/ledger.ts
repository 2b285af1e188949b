/**
 * `npm run bench -- ledger [--json] [--seconds N]`
 *
 * On one PostgreSQL (DATABASE_URL, default the local test database) and on PGlite in a temporary data
 * directory, with durable commits (fsync and synchronous_commit as the server has them):
 *  (a) naive: one database transaction per transfer, SELECT … FOR UPDATE on both accounts, 8 clients;
 *  (b) Millet's ledger through its public API (group commit), uniform random accounts;
 *  (c) both again with one hot account credited by every transfer.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { newId, systemClock } from '../src/core/index.ts';
import {
  applyMigrations,
  dropPostgresSchema,
  openPGlite,
  openPostgres,
  type Database,
  type Queryable,
} from '../src/db/index.ts';
import { createLedger, ledgerMigrations, type Ledger } from '../src/ledger/index.ts';
import { percentile, report, round } from './_report.ts';

const ACCOUNTS = 10_000;
const NAIVE_CLIENTS = 8;
/** Callers with a transfer in flight at once against Millet's ledger (an API server's worth). */
const MILLET_IN_FLIGHT = 8_000;
/** A light load, to show the latency group commit adds when the writer is not saturated. */
const LIGHT_IN_FLIGHT = 64;

interface RunResult {
  tps: number;
  p50_ms: number;
  p99_ms: number;
  transfers: number;
}

function option(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

const randomIndex = (n: number): number => Math.floor(Math.random() * n);

/** Runs `worker` in `concurrency` loops for `seconds`, after a one-second warm-up. */
async function drive(concurrency: number, seconds: number, once: () => Promise<void>): Promise<RunResult> {
  const latencies: number[] = [];
  let measuring = false;
  let stop = false;
  const loop = async () => {
    for (let i = 1; !stop; i++) {
      const started = performance.now();
      await once();
      if (measuring) latencies.push(performance.now() - started);
      // PGlite resolves through microtasks alone: let the timers that end the run fire.
      if (i % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  await new Promise((r) => setTimeout(r, 1000));
  measuring = true;
  const started = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - started) / 1000;
  stop = true;
  await Promise.all(loops);
  latencies.sort((a, b) => a - b);
  return {
    tps: Math.round(latencies.length / elapsed),
    p50_ms: round(percentile(latencies, 50), 2),
    p99_ms: round(percentile(latencies, 99), 2),
    transfers: latencies.length,
  };
}

// ---------- (a) naive baseline ----------

const naiveSchema = `
  CREATE TABLE naive_accounts (id int8 PRIMARY KEY, balance int8 NOT NULL);
  CREATE TABLE naive_transfers (id uuid PRIMARY KEY, debit_id int8 NOT NULL, credit_id int8 NOT NULL, amount int8 NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
`;

async function naiveTransfer(q: Queryable, debit: number, credit: number): Promise<void> {
  const [low, high] = debit < credit ? [debit, credit] : [credit, debit];
  await q.query('BEGIN');
  try {
    const rows = await q.query<{ id: bigint; balance: bigint }>(
      'SELECT id, balance FROM naive_accounts WHERE id IN ($1, $2) ORDER BY id FOR UPDATE',
      [low, high],
    );
    const from = rows.rows.find((r) => r.id === BigInt(debit));
    if (!from || from.balance < 1n) {
      await q.query('ROLLBACK');
      return;
    }
    await q.query('INSERT INTO naive_transfers (id, debit_id, credit_id, amount) VALUES ($1, $2, $3, 1)', [
      newId(),
      debit,
      credit,
    ]);
    await q.query('UPDATE naive_accounts SET balance = balance - 1 WHERE id = $1', [debit]);
    await q.query('UPDATE naive_accounts SET balance = balance + 1 WHERE id = $1', [credit]);
    await q.query('COMMIT');
  } catch (error) {
    await q.query('ROLLBACK');
    throw error;
  }
}

async function naiveSetup(q: Queryable): Promise<void> {
  for (const statement of naiveSchema.split(';').filter((s) => s.trim())) await q.query(statement);
  await q.query('INSERT INTO naive_accounts SELECT g, 1000000000 FROM generate_series(0, $1::int) g', [
    ACCOUNTS,
  ]);
}

async function naivePostgres(url: string, hot: boolean, seconds: number): Promise<RunResult> {
  const schema = `bench_naive_${process.pid}_${hot ? 'hot' : 'uniform'}`;
  const db = await openPostgres({ url, schema, maxConnections: 1 });
  try {
    await naiveSetup(db);
  } finally {
    await db.close();
  }
  const clients = await Promise.all(
    Array.from({ length: NAIVE_CLIENTS }, async () => {
      const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
      await client.connect();
      return client;
    }),
  );
  const free = [...clients];
  try {
    return await drive(NAIVE_CLIENTS, seconds, async () => {
      const client = free.pop()!;
      try {
        const debit = 1 + randomIndex(ACCOUNTS);
        await naiveTransfer(client, debit, hot ? 0 : 1 + ((debit + randomIndex(ACCOUNTS - 1)) % ACCOUNTS));
      } finally {
        free.push(client);
      }
    });
  } finally {
    await Promise.all(clients.map((c) => c.end()));
    await dropPostgresSchema(url, schema);
  }
}

export async function naivePGlite(db: Database, hot: boolean, seconds: number): Promise<RunResult> {
  await db.exec('DROP TABLE IF EXISTS naive_accounts; DROP TABLE IF EXISTS naive_transfers;');
  await naiveSetup(db);
  // One connection: transactions run one after another, so one client loop.
  return drive(1, seconds, async () => {
    const debit = 1 + randomIndex(ACCOUNTS);
    await naiveTransfer(db, debit, hot ? 0 : 1 + ((debit + randomIndex(ACCOUNTS - 1)) % ACCOUNTS));
  });
}

// ---------- (b, c) Millet ----------

async function milletAccounts(ledger: Ledger): Promise<{ wallets: string[]; hot: string }> {
  const world = await ledger.openAccount({
    currency: 'CNY',
    code: 'bench_world',
    bound: { kind: 'unbounded' },
  });
  const hot = await ledger.openAccount({
    currency: 'CNY',
    code: 'bench_merchant',
    bound: { kind: 'no_overdraft' },
  });
  const wallets = await Promise.all(
    Array.from({ length: ACCOUNTS }, () =>
      ledger.openAccount({ currency: 'CNY', code: 'bench_wallet', bound: { kind: 'no_overdraft' } }),
    ),
  );
  await Promise.all(
    wallets.map((w) =>
      ledger.transfer({
        id: newId(),
        debitAccountId: world.id,
        creditAccountId: w.id,
        amount: 1_000_000_000n,
      }),
    ),
  );
  return { wallets: wallets.map((w) => w.id), hot: hot.id };
}

async function milletRun(
  ledger: Ledger,
  accounts: { wallets: string[]; hot: string },
  hot: boolean,
  seconds: number,
  inFlight = MILLET_IN_FLIGHT,
): Promise<RunResult> {
  const { wallets } = accounts;
  return drive(inFlight, seconds, async () => {
    const i = randomIndex(wallets.length);
    const credit = hot ? accounts.hot : wallets[(i + 1 + randomIndex(wallets.length - 1)) % wallets.length]!;
    await ledger.transfer({ id: newId(), debitAccountId: wallets[i]!, creditAccountId: credit, amount: 1n });
  });
}

async function milletOn(
  db: Database,
  seconds: number,
): Promise<{
  uniform: RunResult;
  hot: RunResult;
  light: RunResult;
  verified: boolean;
  largest_batch: number;
}> {
  await applyMigrations(db, ledgerMigrations);
  const ledger = createLedger({ db, clock: systemClock });
  const accounts = await milletAccounts(ledger);
  const uniform = await milletRun(ledger, accounts, false, seconds);
  const hot = await milletRun(ledger, accounts, true, seconds);
  const light = await milletRun(ledger, accounts, false, Math.min(seconds, 5), LIGHT_IN_FLIGHT);
  const verified = (await ledger.verify()).ok;
  await ledger.close();
  return { uniform, hot, light, verified, largest_batch: ledger.writerStats.largestBatch };
}

function summary(
  naive: RunResult,
  naiveHot: RunResult,
  millet: RunResult,
  milletHot: RunResult,
  light: RunResult,
) {
  return {
    naive_tps: naive.tps,
    millet_tps: millet.tps,
    naive_hot_tps: naiveHot.tps,
    millet_hot_tps: milletHot.tps,
    ratio: round(millet.tps / naive.tps, 2),
    hot_ratio: round(milletHot.tps / millet.tps, 2),
    p50_ms: millet.p50_ms,
    p99_ms: millet.p99_ms,
    hot_p50_ms: milletHot.p50_ms,
    hot_p99_ms: milletHot.p99_ms,
    light_in_flight: LIGHT_IN_FLIGHT,
    light_tps: light.tps,
    light_p50_ms: light.p50_ms,
    light_p99_ms: light.p99_ms,
    naive_p50_ms: naive.p50_ms,
    naive_p99_ms: naive.p99_ms,
  };
}

export async function main(args: string[]): Promise<void> {
  const seconds = option(args, '--seconds', 10);
  const url = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
  const log = (message: string) => console.error(`[bench ledger] ${message}`);

  const settings = new pg.Client({ connectionString: url });
  await settings.connect();
  const durability: Record<string, string> = {};
  for (const setting of ['fsync', 'synchronous_commit', 'server_version']) {
    durability[setting] = (await settings.query(`SHOW ${setting}`)).rows[0][setting];
  }
  await settings.end();

  log(`PostgreSQL ${durability.server_version}: naive, ${NAIVE_CLIENTS} clients, ${seconds}s each`);
  const naive = await naivePostgres(url, false, seconds);
  const naiveHot = await naivePostgres(url, true, seconds);
  log(`naive ${naive.tps}/s, hot ${naiveHot.tps}/s; Millet, ${MILLET_IN_FLIGHT} transfers in flight`);
  const schema = `bench_millet_${process.pid}`;
  const pgDb = await openPostgres({ url, schema, maxConnections: 4 });
  let millet;
  try {
    millet = await milletOn(pgDb, seconds);
  } finally {
    await pgDb.close();
    await dropPostgresSchema(url, schema);
  }
  log(`millet ${millet.uniform.tps}/s, hot ${millet.hot.tps}/s; now PGlite`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-bench-'));
  let pglite;
  try {
    const naiveDb = await openPGlite(path.join(dir, 'naive'));
    const pgliteNaive = await naivePGlite(naiveDb, false, seconds);
    const pgliteNaiveHot = await naivePGlite(naiveDb, true, seconds);
    await naiveDb.close();
    log(`PGlite naive ${pgliteNaive.tps}/s, hot ${pgliteNaiveHot.tps}/s`);
    const milletDb = await openPGlite(path.join(dir, 'millet'));
    const pgliteMillet = await milletOn(milletDb, seconds);
    await milletDb.close();
    log(`PGlite millet ${pgliteMillet.uniform.tps}/s, hot ${pgliteMillet.hot.tps}/s`);
    pglite = {
      ...summary(pgliteNaive, pgliteNaiveHot, pgliteMillet.uniform, pgliteMillet.hot, pgliteMillet.light),
      naive_clients: 1,
      verified: pgliteMillet.verified,
      largest_batch: pgliteMillet.largest_batch,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  report(
    'ledger',
    {
      ...summary(naive, naiveHot, millet.uniform, millet.hot, millet.light),
      verified: millet.verified,
      largest_batch: millet.largest_batch,
      setup: {
        accounts: ACCOUNTS,
        naive_clients: NAIVE_CLIENTS,
        millet_in_flight: MILLET_IN_FLIGHT,
        seconds_per_run: seconds,
        postgres: durability,
      },
      pglite,
    },
    args,
  );
}
