/**
 * `npm run bench -- flashsale [--json]`
 *
 * A launch-day crowd against the whole server over HTTP on loopback: `POST
 * /v1/store/sales/{id}/attempts` (stateless token check, anti-scalper rules, the stock engine) with
 * the order writer turning accepted attempts into orders on PostgreSQL (DATABASE_URL, default the
 * local test database) while the load runs. The server runs in this process; the load comes from
 * wrk (the Debian package `wrk`, 4.x with LuaJIT: `apt-get install wrk`) in its own process,
 * scripted by bench/_flashsale-load.lua: each attempt carries its user's access token, body and
 * Idempotency-Key, and its index as X-Request-Id, which the server echoes, so every response is
 * matched to its simulated user; latency is per attempt, from the moment wrk asks for its request
 * (the batch is written at once) to its response. 5% of the users are scripted bots: new
 * accounts, twenty to a device and fifty to an address, firing many attempts in the first
 * seconds. In the same run, a naive baseline through the same server and the same load generator:
 * a bench-only route, registered here and nowhere else, that checks the access token and the
 * Idempotency-Key as the real route does, then runs one PostgreSQL transaction per attempt (a
 * conditional UPDATE of a stock row and an INSERT), so the ratio compares architectures, not HTTP
 * with no HTTP. Last, the ceiling: the same crowd against servers that do no work per attempt
 * (bare node:http, and Fastify with one route), the most any server in this process could do here.
 *
 * CPU per attempt is reported for each process on the machine's cores: the server (with its order
 * writer), the load generator (wrk, from /proc) and Redis (INFO CPU before and after), the figure
 * to compare between runs on a busy machine.
 *
 * Size and engine from the environment:
 *   FLASHSALE_ATTEMPTS (300000), FLASHSALE_USERS (attempts / 3), FLASHSALE_UNITS (users / 10),
 *   FLASHSALE_ENGINE (redis | in-process | both; default both with REDIS_URL, else in-process),
 *   FLASHSALE_NAIVE_ATTEMPTS (min(attempts, 40000)), FLASHSALE_CONNECTIONS (8),
 *   FLASHSALE_NAIVE_CONNECTIONS (32), FLASHSALE_PIPELINING (4 requests in flight per connection),
 *   FLASHSALE_LOAD_THREADS (wrk's threads, 2), FLASHSALE_CEILING_ATTEMPTS (min(attempts, 100000);
 *   FLASHSALE_CEILING=0 skips the ceiling); BENCH_PROFILE=FILE.cpuprofile writes a CPU profile
 *   of the server over each engine's load (FILE-redis.cpuprofile, FILE-in-process.cpuprofile).
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import { z } from 'zod';
import { createLogger } from '../src/api/index.ts';
import { createApp } from '../src/app.ts';
import { loadConfig, MilletError, type Clock } from '../src/core/index.ts';
import { dropPostgresSchema } from '../src/db/index.ts';
import { derivePiiKeys } from '../src/identity/pii-crypto.ts';
import { signAccessToken } from '../src/identity/sessions.ts';
import { report, round } from './_report.ts';

const env = (name: string, fallback: number) => {
  const v = process.env[name];
  return v ? Number(v) : fallback;
};

/** HTTP/1.1 requests in flight per connection from the load generator. */
const pipelining = env('FLASHSALE_PIPELINING', 4);
/** The load generator's threads (wrk -t): its share of the cores is small, two keep up. */
const loadThreads = env('FLASHSALE_LOAD_THREADS', 2);

interface LoadResult {
  attempts: number;
  elapsed: number;
  p50_ms: number;
  p99_ms: number;
  statuses: Record<string, number>;
  genuine_users_held: number;
  bots_held: number;
  errors: number;
  /** The load generator's own CPU (user + system) while it ran, µs. */
  cpu_us: number;
  /** This process's (the server's) CPU while the load ran, µs, and its event loop's utilisation. */
  server_cpu_us: number;
  server_elu: number;
}

interface LoadPlan {
  port: number;
  jwtKey: Uint8Array;
  /** The attempt route (the store's, or the bench-only naive one). */
  path: string;
  crowd: Crowd;
  /** How many of the crowd's schedule to send. */
  attempts: number;
  connections: number;
  dir: string;
  /** Where to write a CPU profile of the server over the load, if anywhere. */
  profile?: string;
}

/** A process's CPU so far (user + system, all threads) from /proc, µs. */
function processCpuUs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat, in clock ticks (100 a second on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/**
 * Runs the crowd through wrk (bench/_flashsale-load.lua) in its own process: the users' access
 * tokens are minted here with the server's key (no log-in per simulated user), each thread of wrk
 * gets its users and their attempts in a file, and wrk is stopped once every attempt is answered.
 * `atStart` learns the moment (Date.now()) the first attempts go out, before wrk is started, so
 * the server's clock can be set to reach the sale's start then.
 */
async function runLoad(plan: LoadPlan, atStart: (startAt: number) => void = () => {}): Promise<LoadResult> {
  const { crowd } = plan;
  const now = new Date();
  const authorizations = await Promise.all(
    crowd.users.map(
      async (userId) =>
        `Bearer ${await signAccessToken(plan.jwtKey, { userId, sessionId: randomUUID() }, now, 86_400)}`,
    ),
  );
  const threads = Math.min(loadThreads, plan.connections);
  const perThread = Array.from({ length: threads }, () => ({
    users: [] as string[],
    attempts: [] as string[],
  }));
  crowd.users.forEach((_, u) => {
    const body = JSON.stringify({ quantity: 1, device_id: crowd.devices[u], address: crowd.addresses[u] });
    perThread[u % threads]!.users.push(`${u}\t${u < crowd.bots ? 1 : 0}\t${authorizations[u]}\t${body}`);
  });
  crowd.schedule
    .slice(0, plan.attempts)
    .forEach((u, i) => perThread[u % threads]!.attempts.push(`${i}\t${u}`));
  perThread.forEach((t, n) =>
    fs.writeFileSync(
      path.join(plan.dir, `thread-${n}.tsv`),
      [`${t.users.length} ${t.attempts.length}`, ...t.users, ...t.attempts, ''].join('\n'),
    ),
  );
  // Time for wrk to start and read its files; its threads wait for this moment to send.
  const startAt = Date.now() + 3_000;
  atStart(startAt);
  const child = spawn(
    'wrk',
    [
      ...['-t', String(threads), '-c', String(plan.connections), '-d', '3600s', '--timeout', '60s'],
      ...['-s', path.join(import.meta.dirname, '_flashsale-load.lua')],
      `http://127.0.0.1:${plan.port}`,
      ...['--', plan.dir, plan.path, String(pipelining), String(startAt)],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<{ code: number | null; out: string; err: string; cpuUs: number }>(
    (resolve, reject) => {
      let out = '';
      let err = '';
      let cpuUs = 0;
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => {
        err += chunk.toString();
        // Every thread has its answers: wrk's CPU is read before it is stopped and prints its summary.
        if (cpuUs === 0 && err.split('done\n').length - 1 === threads && child.pid) {
          cpuUs = processCpuUs(child.pid);
          child.kill('SIGINT');
        }
      });
      child.on('error', (error) =>
        reject(new Error(`wrk could not be started (apt-get install wrk): ${error.message}`)),
      );
      child.on('exit', (code) => resolve({ code, out, err, cpuUs }));
    },
  );
  // Awaited below; a failure to start is thrown there, not reported as unhandled meanwhile.
  exited.catch(() => {});
  await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
  const profiler = plan.profile ? new Session() : undefined;
  if (profiler) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const { code, out, err, cpuUs } = await exited;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  if (profiler) {
    const { profile } = await profiler.post('Profiler.stop');
    fs.writeFileSync(plan.profile!, JSON.stringify(profile));
    profiler.disconnect();
  }
  const line = out.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !line.startsWith('{')) throw new Error(`wrk exited ${code}: ${out}${err}`);
  return {
    ...(JSON.parse(line) as Omit<LoadResult, 'cpu_us' | 'server_cpu_us' | 'server_elu'>),
    cpu_us: cpuUs,
    server_cpu_us: cpu.user + cpu.system,
    server_elu: elu.utilization,
  };
}

/** Redis's own CPU so far (INFO CPU, user + system), µs; undefined without Redis. */
async function redisCpuUs(url: string | undefined): Promise<number | undefined> {
  if (!url) return undefined;
  const redis = new Redis(url);
  try {
    const info = await redis.info('cpu');
    const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
    return Math.round((field('used_cpu_user') + field('used_cpu_sys')) * 1e6);
  } finally {
    redis.disconnect();
  }
}

/** Deterministic pseudo-random numbers, so every engine gets the same crowd. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Crowd {
  users: string[];
  bots: number;
  devices: string[];
  addresses: string[];
  schedule: number[];
}

function makeCrowd(userCount: number, attempts: number): Crowd {
  const random = mulberry32(20261111);
  const bots = Math.round(userCount * 0.05);
  const users = Array.from({ length: userCount }, () => randomUUID());
  const devices = users.map((_, i) => (i < bots ? `bot-device-${Math.floor(i / 20)}` : `phone-${i}`));
  // Genuine users: their own address, one in ten shares it with a family member.
  const addresses = users.map((_, i) =>
    i < bots ? `仓库路 ${Math.floor(i / 50)} 号` : `幸福小区 ${i - (i % 10 === 1 ? 1 : 0)} 栋`,
  );
  const events: Array<[number, number]> = [];
  for (let u = bots; u < userCount; u++) events.push([random(), u]);
  // A third of the genuine users try again (half with the same Idempotency-Key: a retry).
  for (let u = bots; u < userCount && events.length < attempts; u += 3) events.push([0.05 + random(), u]);
  // The bots take the rest, fast: all in the first fifth of the sale.
  for (let i = 0; events.length < attempts; i++) events.push([random() * 0.2, i % bots]);
  events.sort((a, b) => a[0] - b[0]);
  return { users, bots, devices, addresses, schedule: events.map((e) => e[1]) };
}

async function runEngine(
  engine: 'redis' | 'in-process',
  crowd: Crowd,
  units: number,
  connections: number,
  log: (m: string) => void,
) {
  const url = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `bench_flashsale_${process.pid}_${engine === 'redis' ? 'r' : 'i'}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-bench-flashsale-'));
  const piiKey = randomBytes(32);
  let offset = 0;
  const clock: Clock = { now: () => new Date(Date.now() + offset) };
  const config = {
    ...loadConfig({}),
    port: 0,
    host: '127.0.0.1',
    databaseUrl: url,
    databaseSchema: schema,
    redisUrl: engine === 'redis' ? process.env.REDIS_URL || 'redis://127.0.0.1:6379' : undefined,
    dataDir,
    demo: false,
    logLevel: 'warn',
    piiKey: piiKey.toString('base64'),
  };
  const app = await createApp(config, {
    clock,
    logger: createLogger({ level: 'warn' }),
    jobsIntervalMs: 1_000,
  });
  try {
    const address = await app.listen();
    const port = Number(new URL(address).port);
    const product = await app.store.createProduct({ id: randomUUID(), name: 'Millet 15 Pro' });
    const sku = await app.store.createSku({
      id: randomUUID(),
      productId: product.id,
      code: `BENCH-${engine}`,
      name: '16 GB + 512 GB',
      price: 549_900n,
      stock: BigInt(units),
    });
    const startsAt = new Date(Date.now() + 3_600_000);
    const sale = await app.store.createSale({
      id: randomUUID(),
      skuId: sku.id,
      name: 'Launch day',
      price: 499_900n,
      allotment: units,
      perUserLimit: 1,
      startsAt,
      endsAt: new Date(startsAt.getTime() + 3_600_000),
      admissionWindowMs: 2_000,
    });
    log(`${engine}: registering ${crowd.users.length} users (${crowd.bots} bots)`);
    const day = 86_400_000;
    await app.store.registerMany(
      sale.id,
      crowd.users.map((userId, i) => ({
        userId,
        accountCreatedAt: new Date(Date.now() - (i < crowd.bots ? 2 * 3_600_000 : (30 + (i % 900)) * day)),
      })),
    );
    log(
      `${engine}: ${crowd.schedule.length} attempts over ${connections} connections × ${pipelining} in flight`,
    );
    const redis0 = await redisCpuUs(config.redisUrl);
    const load = await runLoad(
      {
        port,
        jwtKey: derivePiiKeys(piiKey).jwt,
        path: `/v1/store/sales/${sale.id}/attempts`,
        crowd,
        attempts: crowd.schedule.length,
        connections,
        dir: dataDir,
        profile:
          process.env.BENCH_PROFILE &&
          `${process.env.BENCH_PROFILE.replace(/\.cpuprofile$/, '')}-${engine}.cpuprofile`,
      },
      // The server's clock reaches the sale's start when the first attempts go out.
      (startAt) => (offset = startsAt.getTime() - startAt),
    );
    const redis1 = await redisCpuUs(config.redisUrl);
    log(`${engine}: load done in ${load.elapsed.toFixed(1)} s; waiting for the order writer`);
    for (let i = 0; i < 600; i++) {
      await app.store.admitLobbies();
      const c = await app.store.engine.counters(sale.id);
      if (c.lobby === 0 && c.pendingHandOff === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const counters = await app.store.engine.counters(sale.id);
    const botIds = crowd.users.slice(0, crowd.bots);
    const db = await app.db.query<{ units: bigint | null; bot_units: bigint | null; buyers: bigint }>(
      `SELECT sum(quantity) AS units, sum(quantity) FILTER (WHERE user_id = ANY($2::uuid[])) AS bot_units,
              count(DISTINCT user_id) AS buyers
       FROM store_orders WHERE sale_id = $1`,
      [sale.id, botIds],
    );
    const sold = Number(db.rows[0]!.units ?? 0);
    const botUnits = Number(db.rows[0]!.bot_units ?? 0);
    const drift = await app.store.reconcile(sale.id);
    const genuine = crowd.users.length - crowd.bots;
    return {
      engine,
      attempts_per_s: Math.round(load.attempts / load.elapsed),
      p50_ms: round(load.p50_ms, 2),
      p99_ms: round(load.p99_ms, 2),
      attempts: load.attempts,
      allotment: units,
      sold,
      engine_accepted_units: counters.unitsAccepted,
      oversold: Math.max(0, sold - units, counters.unitsAccepted - units),
      bot_user_share: round(crowd.bots / crowd.users.length, 4),
      bot_unit_share: sold === 0 ? 0 : round(botUnits / sold, 4),
      false_positive_rate: round(load.genuine_users_held / genuine, 4),
      bots_held: load.bots_held,
      // What an attempt costs the server, whatever else the machine is doing (the order writer's
      // share included): the figure to compare between runs on a busy machine.
      server_cpu_us_per_attempt: round(load.server_cpu_us / load.attempts, 1),
      load_cpu_us_per_attempt: round(load.cpu_us / load.attempts, 1),
      redis_cpu_us_per_attempt:
        redis0 === undefined || redis1 === undefined ? null : round((redis1 - redis0) / load.attempts, 1),
      server_event_loop_utilization: round(load.server_elu, 2),
      statuses: load.statuses,
      rejections: counters.rejected,
      drift: drift.drift,
      drift_status: drift.status,
    };
  } finally {
    await app.close();
    await dropPostgresSchema(url, schema);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The naive baseline through the same server and the same load generator: a route registered by
 * this bench only, with the store route's auth (stateless token check) and Idempotency-Key check,
 * whose handler runs one PostgreSQL transaction per attempt — a conditional UPDATE of a stock row,
 * then the order INSERT (unique user × sale) — over its own pool.
 */
async function naiveBaseline(
  crowd: Crowd,
  attempts: number,
  units: number,
  connections: number,
  log: (m: string) => void,
) {
  const url = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `bench_flashsale_naive_${process.pid}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-bench-flashsale-'));
  const piiKey = randomBytes(32);
  // PostgreSQL's default max_connections is 100; the app keeps its own pool beside this one.
  const pool = new pg.Pool({
    connectionString: url,
    max: 64,
    options: `-c search_path=${schema}`,
  });
  const app = await createApp(
    {
      ...loadConfig({}),
      port: 0,
      host: '127.0.0.1',
      databaseUrl: url,
      databaseSchema: `${schema}_app`,
      redisUrl: undefined,
      dataDir,
      demo: false,
      logLevel: 'warn',
      piiKey: piiKey.toString('base64'),
    },
    { logger: createLogger({ level: 'warn' }), jobsIntervalMs: 1_000 },
  );
  try {
    await pool.query(`CREATE SCHEMA ${schema}`);
    await pool.query(`CREATE TABLE ${schema}.naive_stock (id int PRIMARY KEY, stock int8 NOT NULL)`);
    await pool.query(
      `CREATE TABLE ${schema}.naive_orders (id uuid PRIMARY KEY, sale int NOT NULL, user_id uuid NOT NULL, UNIQUE (sale, user_id))`,
    );
    await pool.query(`INSERT INTO ${schema}.naive_stock VALUES (1, $1)`, [units]);
    let sold = 0;
    app.server.post(
      '/bench/naive/attempts',
      {
        config: { userAuth: 'stateless', ownIdempotency: true },
        schema: {
          hide: true,
          body: z.object({
            quantity: z.number().int().min(1).max(100).default(1),
            device_id: z.string().min(1).max(128).optional(),
            address: z.string().min(1).max(500).optional(),
          }),
        },
      },
      async (request, reply) => {
        const client = await pool.connect();
        let broken = false;
        try {
          await client.query('BEGIN');
          const taken = await client.query(
            'UPDATE naive_stock SET stock = stock - 1 WHERE id = 1 AND stock >= 1',
          );
          if (taken.rowCount === 1) {
            const id = randomUUID();
            const placed = await client.query(
              'INSERT INTO naive_orders VALUES ($1, 1, $2) ON CONFLICT DO NOTHING',
              [id, request.user!.userId],
            );
            if (placed.rowCount === 1) {
              await client.query('COMMIT');
              sold += 1;
              return reply.code(201).send({ status: 'accepted', attempt_id: id, quantity: 1 });
            }
          }
          await client.query('ROLLBACK');
          throw new MilletError('STORE_ATTEMPT_REJECTED', 'Refused', {
            reason: taken.rowCount === 1 ? 'limit_reached' : 'sold_out',
          });
        } catch (error) {
          // A connection that failed mid-transaction is not handed back to the pool.
          broken = !(error instanceof MilletError);
          throw error;
        } finally {
          client.release(broken);
        }
      },
    );
    const address = await app.listen();
    log(
      `naive baseline: ${Math.min(attempts, crowd.schedule.length)} attempts over HTTP, one PostgreSQL transaction each`,
    );
    const load = await runLoad({
      port: Number(new URL(address).port),
      jwtKey: derivePiiKeys(piiKey).jwt,
      path: '/bench/naive/attempts',
      crowd,
      attempts,
      connections,
      dir: dataDir,
    });
    return {
      naive_attempts_per_s: Math.round(load.attempts / load.elapsed),
      naive_attempts: load.attempts,
      naive_p99_ms: round(load.p99_ms, 2),
      naive_sold: sold,
      naive_server_cpu_us_per_attempt: round(load.server_cpu_us / load.attempts, 1),
      naive_statuses: load.statuses,
    };
  } finally {
    await app.close();
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.end();
    await dropPostgresSchema(url, `${schema}_app`);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The ceiling this machine and load generator allow: the same crowd through the same wrk script
 * against servers in this process that do no work, each answering every attempt with a fixed 409
 * problem+json (the sold-out answer most attempts get) after parsing its JSON body. One is bare
 * `node:http`, the floor of any Node.js HTTP server; one is Fastify with one route, the framework
 * the real route runs on. `ceiling_ratio` is the bare server's rate over the naive baseline's: the
 * highest ratio any server in this process could reach here, whatever it did for an attempt.
 */
async function httpCeiling(crowd: Crowd, attempts: number, connections: number, log: (m: string) => void) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-bench-flashsale-'));
  const answer = JSON.stringify({
    type: 'about:blank',
    title: 'Refused',
    status: 409,
    code: 'STORE_ATTEMPT_REJECTED',
    reason: 'sold_out',
  });
  const headersOf = (requestId: string | string[] | undefined) => ({
    'content-type': 'application/problem+json; charset=utf-8',
    'content-length': Buffer.byteLength(answer),
    'x-request-id': String(requestId ?? ''),
  });
  const bare = http.createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      JSON.parse(body);
      response.writeHead(409, headersOf(request.headers['x-request-id']));
      response.end(answer);
    });
  });
  const fastify = Fastify();
  fastify.post('/ceiling/attempts', (request, reply) => {
    reply.code(409).headers(headersOf(request.headers['x-request-id'])).send(answer);
  });
  const jwtKey = randomBytes(32);
  const measure = async (name: string, port: number) => {
    log(`ceiling (${name}, no work per attempt): ${attempts} attempts`);
    const load = await runLoad({
      port,
      jwtKey,
      path: '/ceiling/attempts',
      crowd,
      attempts,
      connections,
      dir: dataDir,
    });
    return {
      attempts_per_s: Math.round(load.attempts / load.elapsed),
      p99_ms: round(load.p99_ms, 2),
      server_cpu_us_per_attempt: round(load.server_cpu_us / load.attempts, 1),
      load_cpu_us_per_attempt: round(load.cpu_us / load.attempts, 1),
    };
  };
  try {
    await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
    const nodeHttp = await measure('node:http', (bare.address() as AddressInfo).port);
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    const withFastify = await measure('fastify', (fastify.server.address() as AddressInfo).port);
    return { node_http: nodeHttp, fastify: withFastify, attempts };
  } finally {
    bare.closeAllConnections();
    await new Promise((resolve) => bare.close(resolve));
    await fastify.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function main(args: string[]): Promise<void> {
  const attempts = env('FLASHSALE_ATTEMPTS', 300_000);
  const users = env('FLASHSALE_USERS', Math.round(attempts / 3));
  const units = env('FLASHSALE_UNITS', Math.round(users / 10));
  // 8 × 4 = 32 attempts in flight keep the server's event loop busy (more only queue, adding latency);
  // the naive baseline keeps 32 × 4, its best: its attempts wait on PostgreSQL, not on the CPU.
  const connections = env('FLASHSALE_CONNECTIONS', 8);
  const naiveConnections = env('FLASHSALE_NAIVE_CONNECTIONS', 32);
  const naiveAttempts = env('FLASHSALE_NAIVE_ATTEMPTS', Math.min(attempts, 40_000));
  const choice = process.env.FLASHSALE_ENGINE || (process.env.REDIS_URL ? 'both' : 'in-process');
  const engines = (choice === 'both' ? ['redis', 'in-process'] : [choice]) as Array<'redis' | 'in-process'>;
  const log = (m: string) => console.error(`[bench flashsale] ${m}`);
  const crowd = makeCrowd(users, attempts);
  const results: Record<string, Awaited<ReturnType<typeof runEngine>>> = {};
  for (const engine of engines) results[engine] = await runEngine(engine, crowd, units, connections, log);
  // The same share of stock to attempts as the real run, so the contention phase is alike.
  const naive = await naiveBaseline(
    crowd,
    naiveAttempts,
    Math.max(1, Math.round((units * naiveAttempts) / attempts)),
    naiveConnections,
    log,
  );
  const ceiling =
    process.env.FLASHSALE_CEILING === '0'
      ? undefined
      : await httpCeiling(
          crowd,
          env('FLASHSALE_CEILING_ATTEMPTS', Math.min(attempts, 100_000)),
          connections,
          log,
        );
  const primary = results.redis ?? results['in-process']!;
  report(
    'flashsale',
    {
      ...primary,
      ...naive,
      ratio: round(primary.attempts_per_s / naive.naive_attempts_per_s, 1),
      ...(ceiling && {
        http_ceiling_attempts_per_s: ceiling.node_http.attempts_per_s,
        ceiling_ratio: round(ceiling.node_http.attempts_per_s / naive.naive_attempts_per_s, 1),
        ceiling,
      }),
      engines: Object.fromEntries(
        Object.entries(results).map(([k, r]) => [
          k,
          { ...r, ratio: round(r.attempts_per_s / naive.naive_attempts_per_s, 1) },
        ]),
      ),
      setup: {
        attempts,
        users,
        bots: crowd.bots,
        units,
        connections,
        pipelining,
        in_flight: connections * pipelining,
        naive_connections: naiveConnections,
        load_generator: 'wrk',
        admission_window_ms: 2_000,
        database: 'postgres',
      },
    },
    args,
  );
}
