/**
 * `npm run bench -- payments [--json] [--seconds N] [--users N] [--concurrency N]`
 *
 * HTTP load on loopback: users pay merchants' payment orders from their wallet balance
 * (`POST /v1/payment-orders/{id}/pay`, method balance) against the whole server — auth, idempotency
 * keys, the account-class limit, the payment record and the ledger entry — on PostgreSQL
 * (DATABASE_URL, default the local test database). Orders are created beforehand through the
 * merchants module, as a merchant's checkout would; the load generator is a separate process.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import pg from 'pg';
import { createLogger } from '../src/api/index.ts';
import { createApp } from '../src/app.ts';
import { derivedId, loadConfig, newId } from '../src/core/index.ts';
import { dropPostgresSchema } from '../src/db/index.ts';
import { makeResidentId } from '../test/support/resident-ids.ts';
import { report, round } from './_report.ts';

/**
 * What a payment costs the server process, counted at the driver: every statement sent to
 * PostgreSQL (a round trip), the transactions begun, and the statements sent outside one (each its
 * own commit). Installed before the app opens its pool.
 */
const driverCounts = { roundTrips: 0, transactions: 0, autocommit: 0 };
function countDriverCalls(): void {
  const clientQuery = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    driverCounts.roundTrips += 1;
    const first = args[0];
    const text = typeof first === 'string' ? first : (first as { text?: string } | undefined)?.text;
    if (text?.startsWith('BEGIN')) driverCounts.transactions += 1;
    return clientQuery.apply(this, args);
  } as typeof pg.Client.prototype.query;
  const poolQuery = pg.Pool.prototype.query as (...args: unknown[]) => unknown;
  pg.Pool.prototype.query = function (this: pg.Pool, ...args: unknown[]) {
    driverCounts.autocommit += 1;
    return poolQuery.apply(this, args);
  } as typeof pg.Pool.prototype.query;
}

/**
 * CPU seconds (user + system) used so far by every PostgreSQL process on this machine: the
 * backends serving the app and the WAL writer, checkpointer and others its commits set to work.
 * Read from /proc, so it needs PostgreSQL on this host (and a quiet one: other clients' backends
 * count too); a process that ends inside the window is left out.
 */
function postgresCpuSeconds(): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks.set(Number(entry), Number(fields[11]) + Number(fields[12]));
    } catch {
      // the process ended while we looked
    }
  }
  return ticks;
}

/** CPU seconds PostgreSQL used between two readings of postgresCpuSeconds, of these pids or all. */
function postgresCpuBetween(
  before: Map<number, number>,
  after: Map<number, number>,
  pids?: ReadonlySet<number>,
): number {
  let ticks = 0;
  for (const [pid, t] of after) if (!pids || pids.has(pid)) ticks += t - (before.get(pid) ?? 0);
  return ticks / 100;
}

function withApplicationName(url: string, name: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', name);
  return u.toString();
}

/** The pids of the backends serving connections named `name`. */
async function backendPids(url: string, name: string): Promise<Set<number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
      [name],
    );
    return new Set(result.rows.map((r) => r.pid));
  } finally {
    await client.end();
  }
}

function option(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function inParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const index = next++;
        await work(items[index]!, index);
      }
    }),
  );
}

/** wrk's threads: its share of the cores is small (about 28 µs of CPU per request), two keep up. */
const loadThreads = 2;

interface LoadResult {
  requests: number;
  succeeded: number;
  non_2xx: number;
  socket_errors: number;
  elapsed: number;
  p50_ms: number;
  p99_ms: number;
  ran_out_of_orders: boolean;
  load_cpu_us_per_request: number;
}

/**
 * One run of the load generator: wrk (the Debian package `wrk`) scripted by
 * bench/_payments-load.lua, in its own process so the server keeps its event loop; each request
 * pays the next unpaid order with a random user's token and a fresh Idempotency-Key. wrk took 28 µs
 * of CPU per request where autocannon, the load generator before it, took 116 (2026-12-02, same
 * machine): CPU the server under test would otherwise lose on a 2-core machine.
 */
async function runPaymentsLoad(plan: {
  port: number;
  concurrency: number;
  seconds: number;
  orders: string;
  tokens: string;
  run: string;
}): Promise<LoadResult> {
  const threads = Math.min(loadThreads, plan.concurrency);
  const child = spawn(
    'wrk',
    [
      ...[
        '-t',
        String(threads),
        '-c',
        String(plan.concurrency),
        '-d',
        `${plan.seconds}s`,
        '--timeout',
        '30s',
      ],
      ...['-s', path.join(import.meta.dirname, '_payments-load.lua')],
      `http://127.0.0.1:${plan.port}`,
      ...['--', plan.orders, plan.tokens, plan.run, String(threads)],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const { code, out, err } = await new Promise<{ code: number | null; out: string; err: string }>(
    (resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.on('error', (error) =>
        reject(new Error(`wrk could not be started (apt-get install wrk): ${error.message}`)),
      );
      child.on('exit', (exitCode) => resolve({ code: exitCode, out, err }));
    },
  );
  const line = out.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !line.startsWith('{')) throw new Error(`wrk exited ${code}: ${out}${err}`);
  const r = JSON.parse(line) as Omit<LoadResult, 'succeeded' | 'load_cpu_us_per_request'> & {
    cpu_ticks: number;
  };
  return {
    ...r,
    // Every request pays a distinct order with a fresh key: a success is 201, anything else is not 2xx.
    succeeded: r.requests - r.non_2xx,
    load_cpu_us_per_request: (r.cpu_ticks * 10_000) / Math.max(1, r.requests),
  };
}

export async function main(args: string[]): Promise<void> {
  const seconds = option(args, '--seconds', 10);
  const userCount = option(args, '--users', 200);
  const concurrency = option(args, '--concurrency', 64);
  const merchantCount = 5;
  const warmupSeconds = 2;
  /** Enough orders for a run well above the goal; unused ones just expire. */
  const orderCount = option(args, '--orders', (seconds + warmupSeconds) * 6_000);
  const log = (message: string) => console.error(`[bench payments] ${message}`);
  const url = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `bench_payments_${process.pid}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-bench-payments-'));

  countDriverCalls();
  const config = {
    ...loadConfig({}),
    port: 0,
    host: '127.0.0.1',
    // Named so its backends can be told from other clients' (postgres_backends_cpu_us_per_payment).
    databaseUrl: withApplicationName(url, schema),
    databaseSchema: schema,
    dataDir,
    demo: false,
    piiKey: randomBytes(32).toString('base64'),
  };
  const app = await createApp(config, { logger: createLogger({ level: 'warn' }), jobsIntervalMs: 60_000 });
  try {
    const address = await app.listen();
    const port = Number(new URL(address).port);

    log(`setting up ${userCount} verified users with funded wallets and ${merchantCount} merchants`);
    const world = await app.ledger.openAccount({
      currency: 'CNY',
      code: 'bench_funding',
      bound: { kind: 'unbounded' },
    });
    const merchants = await Promise.all(
      Array.from({ length: merchantCount }, (_, i) =>
        app.merchants.createMerchant({ id: newId(), name: `Bench shop ${i + 1}`, feeBps: 60 }),
      ),
    );
    const tokens: string[] = [];
    await inParallel(
      Array.from({ length: userCount }, (_, i) => i),
      8,
      async (i) => {
        const phone = `139${String(10_000_000 + i).slice(-8)}`;
        const password = `bench-password-${i}`;
        const user = await app.identity.createUser({ phone, password });
        const birth = `1990${String(1 + (i % 12)).padStart(2, '0')}${String(1 + (Math.floor(i / 12) % 28)).padStart(2, '0')}`;
        await app.identity.verifyIdentity(user.id, {
          realName: '测试用户',
          residentId: makeResidentId('110105', birth, String(100 + Math.floor(i / 336)).padStart(3, '0')),
          accountClass: 'III',
        });
        const wallet = await app.wallet.openWallet(user.id);
        await app.ledger.transfer({
          id: derivedId('bench.funding', user.id),
          debitAccountId: world.id,
          creditAccountId: wallet.ledgerAccountId,
          amount: 100_000_000n,
        });
        tokens.push((await app.identity.logIn({ phone, password })).accessToken);
      },
    );
    log(`creating ${orderCount} payment orders of 1.00 to 99.99`);
    const orders: string[] = [];
    await inParallel(
      Array.from({ length: orderCount }, (_, i) => i),
      64,
      async (i) => {
        const order = await app.merchants.createOrder({
          id: newId(),
          merchantId: merchants[i % merchantCount]!.id,
          merchantReference: `bench-${i}`,
          amount: BigInt(100 + (i % 9_900)),
          description: 'bench checkout',
          expiresInSeconds: 3_600,
        });
        orders.push(order.id);
      },
    );

    log(`${concurrency} connections for ${seconds}s after ${warmupSeconds}s of warm-up`);
    const sample = () => ({ cpu: process.cpuUsage(), counts: { ...driverCounts }, at: performance.now() });
    const window: { start?: ReturnType<typeof sample>; end?: ReturnType<typeof sample> } = {};
    const postgres: { before?: Map<number, number>; after?: Map<number, number> } = {};
    // BENCH_PROFILE=FILE.cpuprofile: a CPU profile of the server over the measured window.
    const profileFile = process.env.BENCH_PROFILE;
    const profiler = profileFile ? new Session() : undefined;
    if (profiler) {
      profiler.connect();
      await profiler.post('Profiler.enable');
    }
    const ordersFile = (run: string) => path.join(dataDir, `orders-${run}.txt`);
    const tokensFile = path.join(dataDir, 'tokens.txt');
    fs.writeFileSync(tokensFile, `${tokens.join('\n')}\n`);
    // The warm-up pays its own orders, so the measured run starts on unpaid ones.
    const warmupOrders = Math.min(orders.length >> 1, warmupSeconds * 6_000);
    fs.writeFileSync(ordersFile('warmup'), `${orders.slice(0, warmupOrders).join('\n')}\n`);
    fs.writeFileSync(ordersFile('measured'), `${orders.slice(warmupOrders).join('\n')}\n`);
    const runWrk = (run: string, runSeconds: number) =>
      runPaymentsLoad({
        port,
        concurrency,
        seconds: runSeconds,
        orders: ordersFile(run),
        tokens: tokensFile,
        run,
      });
    await runWrk('warmup', warmupSeconds);
    window.start = sample();
    postgres.before = postgresCpuSeconds();
    await profiler?.post('Profiler.start');
    const load = await runWrk('measured', seconds);
    window.end = sample();
    postgres.after = postgresCpuSeconds();
    if (profiler) {
      const { profile } = await profiler.post('Profiler.stop');
      fs.writeFileSync(profileFile!, JSON.stringify(profile));
    }
    // The load stops with requests in flight; the writer finishes what is queued and takes no
    // more, so the verification reads a journal that no batch is writing to.
    await app.ledger.close();
    const verified = (await app.ledger.verify()).ok;
    const { start, end } = window;
    const per = (n: number) => round(n / Math.max(1, load.requests), 2);
    const server =
      start && end
        ? {
            round_trips_per_payment: per(end.counts.roundTrips - start.counts.roundTrips),
            transactions_per_payment: per(end.counts.transactions - start.counts.transactions),
            autocommit_statements_per_payment: per(end.counts.autocommit - start.counts.autocommit),
            server_cpu_us_per_payment: per(end.cpu.user + end.cpu.system - start.cpu.user - start.cpu.system),
            // The kernel's part of it: socket reads and writes (HTTP and PostgreSQL), timers.
            server_system_cpu_us_per_payment: per(end.cpu.system - start.cpu.system),
            postgres_cpu_us_per_payment:
              postgres.before && postgres.after
                ? per(postgresCpuBetween(postgres.before, postgres.after) * 1e6)
                : undefined,
            // The app's own backends only: the figure to compare while other clients use PostgreSQL
            // (it leaves out the WAL writer and the other background processes).
            postgres_backends_cpu_us_per_payment:
              postgres.before && postgres.after
                ? per(
                    postgresCpuBetween(postgres.before, postgres.after, await backendPids(url, schema)) * 1e6,
                  )
                : undefined,
            server_cpu_share: round(
              (end.cpu.user + end.cpu.system - start.cpu.user - start.cpu.system) /
                1000 /
                (end.at - start.at),
              2,
            ),
          }
        : undefined;
    report(
      'payments',
      {
        payments_per_s: Math.round(load.succeeded / load.elapsed),
        p50_ms: round(load.p50_ms, 2),
        p99_ms: round(load.p99_ms, 2),
        requests: load.requests,
        non_2xx: load.non_2xx,
        socket_errors: load.socket_errors,
        ran_out_of_orders: load.ran_out_of_orders,
        verified,
        cost: {
          ...server,
          load_cpu_us_per_request: round(load.load_cpu_us_per_request, 2),
          // What one payment costs the machine: server, PostgreSQL and load generator together.
          total_cpu_us_per_payment:
            server?.postgres_cpu_us_per_payment === undefined
              ? undefined
              : round(
                  server.server_cpu_us_per_payment +
                    server.postgres_cpu_us_per_payment +
                    load.load_cpu_us_per_request,
                  2,
                ),
        },
        load_average: os.loadavg().map((l) => round(l, 2)),
        setup: {
          users: userCount,
          merchants: merchantCount,
          connections: concurrency,
          seconds,
          warmup_seconds: warmupSeconds,
          database: 'postgres',
          load_generator: 'wrk',
        },
      },
      args,
    );
  } finally {
    await app.close();
    await dropPostgresSchema(url, schema);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
