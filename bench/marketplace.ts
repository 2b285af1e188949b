/**
 * `npm run bench -- marketplace [--json] [--rate N] [--seconds S] [--warmup-seconds W] [--partners N]
 *   [--timeout-ms T] [--applications N] [--all-eligible] [--no-breaker] [--pglite]`
 *
 * 1. Routing under load: N partner-sims (default 20) with latency uniform in 50–600 ms plus one that
 *    never answers, in a child process on 127.0.0.1; the marketplace's real `apply` (eligibility, co-debt
 *    guard, signed parallel pings answered at one deadline, ranking, the application, pings and
 *    offers written) on PostgreSQL (DATABASE_URL, default the local test database, in a throw-away
 *    schema; `--pglite`: PGlite in memory in this process), called in
 *    process (not over HTTP) at `--rate` applications/s (default 500, open loop) for `--seconds`
 *    (default 10), after `--warmup-seconds` (default 2) at the same rate that are not measured.
 *    routing_p99_ms is the 99th percentile of apply's duration; the goal is ≤ timeout_ms + 25. Each
 *    sim lends to a run of score bands, an amount and a term range, and the applications spread
 *    over bands, amounts and terms, so each pings the partners that would lend to it; the silent
 *    partner takes everything. After its first five pings go unanswered, PartnerPinger's breaker
 *    stops pinging it but for one probe a second (silent_partner_pinged_share); `--no-breaker`
 *    turns the breaker off, so every application waits on it until the deadline. Slow sims still
 *    time out. `--all-eligible`: every partner takes every application (N + 1 pings each).
 * 2. Ranking: `--applications` (default 50,000) simulated applications over 20 partners with hidden
 *    true approval rates per score band, ranked by expected value (the same rankByExpectedValue,
 *    Thompson sampling on Beta posteriors learned from the simulated outcomes) vs by a fixed priority
 *    (highest contractual payout first, never learning). Both see the same applications, offers,
 *    user choices (position bias: rank 1 70 %, 2 20 %, 3 10 %) and outcome draws. Goal: uplift ≥ 0.15
 *    with ev_decline_share ≤ fixed_decline_share.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../src/core/index.ts';
import { applyMigrations, dropPostgresSchema, openDatabase } from '../src/db/index.ts';
import { createLedger, ledgerMigrations } from '../src/ledger/index.ts';
import {
  createMarketplace,
  marketplaceMigrations,
  rankByExpectedValue,
  scoreBands,
  seededRandom,
  type Application,
  type ScoreBand,
} from '../src/marketplace/index.ts';
import { checkWebhookUrl, generateWebhookSecret, policyLookup } from '../src/webhooks/index.ts';
import { percentile, report, round } from './_report.ts';

function option(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

/** User + system CPU ms of a process so far (Linux /proc; -1 elsewhere). */
function processCpuMs(pid: number | string | undefined): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 a second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return -1;
  }
}

/** CPU ms of every PostgreSQL process on this machine (the server is local here), or -1. */
function postgresCpuMs(): number {
  let total = 0;
  let found = false;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let comm = '';
    try {
      comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (comm !== 'postgres') continue;
    const ms = processCpuMs(pid);
    if (ms < 0) continue;
    total += ms;
    found = true;
  }
  return found ? total : -1;
}

/** Busy CPU ms of the whole machine (all cores; /proc/stat), or -1. */
function machineBusyMs(): number {
  try {
    const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    const busy = cpu.slice(0, 8).reduce((a, b) => a + b, 0) - cpu[3]! - cpu[4]!;
    return (busy * 1000) / 100;
  } catch {
    return -1;
  }
}

async function startSims(count: number, secret: string) {
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '_marketplace-sims.ts');
  // The bench's own node flags (--cpu-prof, say) apply to the sims too.
  const flags = [...process.execArgv.filter((a) => a.startsWith('--cpu-prof')), '--import', 'tsx'];
  const child = spawn(process.execPath, [...flags, file, String(count), '50', '600', secret], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const urls = await new Promise<string[]>((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes('\n')) resolve(JSON.parse(text.split('\n')[0]!) as string[]);
    });
    child.on('exit', (code) => reject(new Error(`partner-sims exited with ${code}`)));
  });
  return { urls, pid: child.pid, stop: () => child.kill('SIGTERM') };
}

async function routingLoad(args: readonly string[]) {
  const rate = option(args, '--rate', 500);
  const seconds = option(args, '--seconds', 10);
  const warmupSeconds = option(args, '--warmup-seconds', 2);
  const partnerCount = option(args, '--partners', 20);
  const timeoutMs = option(args, '--timeout-ms', 500);
  const allEligible = args.includes('--all-eligible');
  // --no-breaker: the silent partner is pinged by every application (no PartnerPinger breaker).
  const breaker = !args.includes('--no-breaker');
  // PostgreSQL like every other benchmark: PGlite runs the database's work on the router's own event
  // loop, so the routing p99 would measure that instead. --pglite opts in.
  const url = args.includes('--pglite')
    ? undefined
    : process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
  const schema = url ? `millet_bench_${randomBytes(4).toString('hex')}` : undefined;
  const db = await openDatabase({ databaseUrl: url, schema, maxConnections: 16 });
  await applyMigrations(db, [...ledgerMigrations, ...marketplaceMigrations]);
  const ledger = createLedger({ db, clock: systemClock });
  const secret = generateWebhookSecret();
  const sims = await startSims(partnerCount, secret);
  let closeMarketplace = async () => {};
  try {
    const world = seededRandom(7);
    const total = Math.round(rate * seconds);
    const warmup = Math.round(rate * warmupSeconds);
    // The applicants: scores across the bands (A 15 %, B 25 %, C 30 %, D 20 %, E 10 %), amounts
    // log-uniform in 5,000–300,000 CNY, the usual terms.
    const bandScores: Array<[number, number]> = [
      [0.15, 760],
      [0.4, 720],
      [0.7, 670],
      [0.9, 620],
      [1, 560],
    ];
    const terms = [3, 6, 12, 12, 24, 36];
    const applications = Array.from({ length: total + warmup }, () => {
      const u = world();
      return {
        userId: randomUUID(),
        score: bandScores.find(([upTo]) => u < upTo)![1],
        amount: BigInt(Math.round(500_000 * 60 ** world())),
        termMonths: terms[Math.floor(world() * terms.length)]!,
      };
    });
    const scoreOf = new Map<string, number>(applications.map((a) => [a.userId, a.score]));
    const benchLookup = policyLookup({ allowLoopback: true });
    const marketplace = createMarketplace({
      db,
      clock: systemClock,
      ledger,
      encryptionKey: randomBytes(32),
      // The partner-sims listen on this machine's loopback, which a deployment refuses as a partner
      // endpoint; the benchmark is the development case the setting exists for.
      webhooks: {
        checkUrl: (url, field = 'url') => checkWebhookUrl(url, field, { allowLoopback: true }),
        connectLookup: () => benchLookup,
      },
      applicants: {
        profile: async (userId) => ({
          verified: true,
          ageYears: 30,
          identityClass: 'II',
          score: scoreOf.get(userId) ?? 720,
        }),
      },
      publicUrl: 'http://127.0.0.1:1',
      bankClearingAccountId: () => randomUUID(),
      pingTimeoutMs: timeoutMs,
      seed: 1,
      pinger: breaker ? {} : { unresponsiveAfter: 0 },
    });
    closeMarketplace = () => marketplace.close();
    for (const [i, endpointUrl] of sims.urls.entries()) {
      const silent = i === sims.urls.length - 1;
      // Each lender's appetite as real marketplaces have it: a run of score bands, an amount range
      // and a term range (--all-eligible: every partner takes everything). The silent partner
      // takes everything, so every application waits on it and the timeout path always runs.
      const wide = silent || allEligible;
      const firstBand = [0, 0, 0, 1, 2][Math.floor(world() * 5)]!;
      const bandCount = 2 + Math.floor(world() * 3);
      const minAmount = [100_000n, 500_000n, 1_000_000n][Math.floor(world() * 3)]!;
      const maxAmount = [5_000_000n, 10_000_000n, 20_000_000n, 50_000_000n][Math.floor(world() * 4)]!;
      const minTerm = [3, 6, 12][Math.floor(world() * 3)]!;
      const maxTerm = [12, 24, 36, 60][Math.floor(world() * 4)]!;
      await marketplace.createPartner({
        name: silent ? 'silent' : `sim-${i}`,
        kind: 'lender',
        endpointUrl,
        secret,
        eligibility: {
          scoreBands: wide ? [...scoreBands] : scoreBands.slice(firstBand, firstBand + bandCount),
          minAge: 18,
          maxAge: 70,
          regions: [],
          minAmount: wide ? 1n : minAmount,
          maxAmount: wide ? 100_000_000n : maxAmount,
          minTermMonths: wide ? 1 : minTerm,
          maxTermMonths: wide ? 60 : maxTerm,
          identityClasses: ['I', 'II', 'III'],
        },
        pricing: { cpaFen: 5_000n, cpsBp: 150, revenueShareBp: 0 },
      });
    }
    let next = 0;
    const apply = () => {
      const a = applications[next++]!;
      return marketplace.apply({
        userId: a.userId,
        product: 'loan',
        amount: a.amount,
        termMonths: a.termMonths,
        regionCode: '110105',
      });
    };
    /**
     * Offers `count` applications open loop at `rate`, each timed from its call; resolves when all
     * are done, with when the last one was issued.
     */
    const offerLoad = async (count: number, done: (app: Application | null, ms: number) => void) => {
      const started = performance.now();
      let lastIssued = started;
      const runs: Promise<void>[] = [];
      for (let i = 0; i < count; i++) {
        const due = started + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        lastIssued = performance.now();
        runs.push(
          (async () => {
            const t0 = performance.now();
            let app: Application | null = null;
            try {
              app = await apply();
            } catch {
              // counted as an error by `done`
            }
            done(app, performance.now() - t0);
          })(),
        );
      }
      await Promise.all(runs);
      return lastIssued;
    };
    // Warm-up at the same rate, not measured: the connection pools to the partners open and the
    // JIT settles, as in the other benchmarks.
    await offerLoad(warmup, () => {});
    const latencies: number[] = [];
    let errors = 0;
    let offers = 0;
    let timeouts = 0;
    let pinged = 0;
    let silentPinged = 0;
    const simsCpu0 = processCpuMs(sims.pid);
    const postgresCpu0 = postgresCpuMs();
    const machine0 = machineBusyMs();
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    const lastIssued = await offerLoad(total, (app, ms) => {
      latencies.push(ms);
      if (!app) {
        errors += 1;
        return;
      }
      offers += app.offers.length;
      for (const r of app.routing) {
        if (r.outcome === 'timeout') timeouts += 1;
        if (r.latencyMs !== undefined) pinged += 1;
        if (r.partnerName === 'silent' && r.latencyMs !== undefined) silentPinged += 1;
      }
    });
    const elapsed = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const simsCpu = processCpuMs(sims.pid) - simsCpu0;
    const postgresCpu = postgresCpuMs() - postgresCpu0;
    const machineCpu = machineBusyMs() - machine0;
    latencies.sort((a, b) => a - b);
    const achieved = total / elapsed;
    // The load generator shares the router's event loop: when it falls behind, so does the offered
    // rate, and the run says so instead of reporting a latency at a rate it never offered.
    const issuedRate = total / Math.max(1e-3, (lastIssued - started) / 1000 + 1 / rate);
    return {
      database: url ? 'postgres' : 'pglite',
      partners: partnerCount + 1,
      target_rate: rate,
      issued_rate: round(issuedRate),
      achieved_rate: round(achieved),
      sustained: issuedRate >= 0.95 * rate && achieved >= 0.9 * rate,
      router_cpu_ms_per_application: round((cpu.user + cpu.system) / 1000 / total, 3),
      router_cpu_share: round((cpu.user + cpu.system) / 1e6 / elapsed, 2),
      sims_cpu_ms_per_application: simsCpu >= 0 ? round(simsCpu / total, 3) : null,
      // Every PostgreSQL process and the whole machine: only this run's when the machine is quiet.
      postgres_cpu_ms_per_application: postgresCpu >= 0 ? round(postgresCpu / total, 3) : null,
      machine_cpu_ms_per_application: machineCpu >= 0 ? round(machineCpu / total, 3) : null,
      breaker: breaker ? 'on' : 'off',
      eligibility: allEligible
        ? 'all partners take every application'
        : 'per partner (bands, amounts, terms)',
      applications: total,
      errors,
      timeout_ms: timeoutMs,
      routing_p50_ms: round(percentile(latencies, 50)),
      routing_p99_ms: round(percentile(latencies, 99)),
      routing_max_ms: round(latencies[latencies.length - 1] ?? 0),
      pings_per_application: round(pinged / Math.max(1, total - errors), 2),
      silent_partner_pinged_share: round(silentPinged / Math.max(1, total - errors), 3),
      offers_per_application: round(offers / Math.max(1, total - errors), 2),
      timeouts_per_application: round(timeouts / Math.max(1, total - errors), 2),
    };
  } finally {
    await closeMarketplace();
    sims.stop();
    await ledger.close();
    await db.close();
    if (url && schema) await dropPostgresSchema(url, schema);
  }
}

interface SimPartner {
  key: string;
  cpaFen: bigint;
  cpsBp: bigint;
  bands: Set<ScoreBand>;
  truth: Record<ScoreBand, number>;
}

/** Ranking by expected value vs fixed priority over simulated applications (no HTTP). */
export function simulateRanking(applications: number, seed = 42) {
  const world = seededRandom(seed);
  const bandFactor: Record<ScoreBand, number> = { A: 1, B: 0.85, C: 0.65, D: 0.45, E: 0.25 };
  const partners: SimPartner[] = [];
  for (let k = 0; k < 20; k++) {
    const cpaFen = BigInt(2_000 + Math.floor(world() * 8_000));
    const cpsBp = BigInt(80 + Math.floor(world() * 220));
    partners.push({ key: `p${k}`, cpaFen, cpsBp, bands: new Set(), truth: { A: 0, B: 0, C: 0, D: 0, E: 0 } });
  }
  // Partners that pay more are pickier (their risk appetite is lower): the trap a fixed order falls in.
  const reference = (p: SimPartner) => p.cpaFen + (5_000_000n * p.cpsBp) / 10_000n;
  const byPayout = [...partners].sort((a, b) => Number(reference(b) - reference(a)));
  byPayout.forEach((p, rank) => {
    // Appetite falls with the rate paid (about 0.35 for the best payer, 0.9 for the worst, ±0.15),
    // and each partner's strictness decides how fast its approvals fall across the bands.
    const appetite = 0.35 + 0.55 * (rank / (partners.length - 1)) + (world() - 0.5) * 0.3;
    const strictness = 0.5 + world() * 1.5;
    const reach = 3 + Math.floor(world() * 3); // covers bands A.. (3–5 of them)
    for (const [i, band] of scoreBands.entries()) {
      p.truth[band] = Math.min(0.98, Math.max(0.02, appetite * bandFactor[band] ** strictness));
      if (i < reach) p.bands.add(band);
    }
  });
  const priority = new Map(byPayout.map((p, i) => [p.key, i]));
  const bandWeights: Array<[ScoreBand, number]> = [
    ['A', 0.15],
    ['B', 0.25],
    ['C', 0.3],
    ['D', 0.2],
    ['E', 0.1],
  ];
  const stream = seededRandom(seed + 1);
  const thompson = seededRandom(seed + 2);
  const posterior = new Map<string, { approvals: number; declines: number }>();
  const result = {
    ev: { revenue: 0n, posts: 0, declines: 0 },
    fixed: { revenue: 0n, posts: 0, declines: 0 },
  };
  for (let n = 0; n < applications; n++) {
    let u = stream();
    let band: ScoreBand = 'E';
    for (const [b, w] of bandWeights) {
      if (u < w) {
        band = b;
        break;
      }
      u -= w;
    }
    const amount = BigInt(1_000_000 + Math.floor(stream() * 9_000_000));
    const offering = partners.filter((p) => p.bands.has(band) && stream() < 0.9);
    const choice = stream();
    const position = choice < 0.7 ? 0 : choice < 0.9 ? 1 : 2;
    const outcomeDraw = stream();
    if (offering.length === 0) continue;
    const payout = (p: SimPartner) => p.cpaFen + (amount * p.cpsBp + 5_000n) / 10_000n;
    const post = (arm: 'ev' | 'fixed', ordered: SimPartner[]) => {
      const chosen = ordered[Math.min(position, ordered.length - 1)]!;
      const approved = outcomeDraw < chosen.truth[band];
      result[arm].posts += 1;
      if (approved) result[arm].revenue += payout(chosen);
      else result[arm].declines += 1;
      return { chosen, approved };
    };
    // Fixed priority: the operator's order, highest contractual payout first.
    post(
      'fixed',
      [...offering].sort((a, b) => priority.get(a.key)! - priority.get(b.key)!),
    );
    // Expected value: learned approval × payout, Thompson exploration.
    const ranked = rankByExpectedValue(
      offering.map((p) => ({
        key: p.key,
        partnerKey: p.key,
        payoutFen: payout(p),
        aprBp: 0,
        posterior: posterior.get(`${p.key}:${band}`) ?? { approvals: 0, declines: 0 },
        partner: p,
      })),
      { exploration: 'thompson', random: thompson },
    );
    const { chosen, approved } = post(
      'ev',
      ranked.map((r) => r.candidate.partner),
    );
    const key = `${chosen.key}:${band}`;
    const counts = posterior.get(key) ?? { approvals: 0, declines: 0 };
    if (approved) counts.approvals += 1;
    else counts.declines += 1;
    posterior.set(key, counts);
  }
  const share = (arm: { posts: number; declines: number }) => round(arm.declines / Math.max(1, arm.posts), 4);
  return {
    simulated_applications: applications,
    ev_revenue: Number(result.ev.revenue) / 100,
    fixed_revenue: Number(result.fixed.revenue) / 100,
    uplift: round(Number(result.ev.revenue) / Number(result.fixed.revenue) - 1, 4),
    ev_decline_share: share(result.ev),
    fixed_decline_share: share(result.fixed),
  };
}

export async function main(args: readonly string[]): Promise<void> {
  const ranking = simulateRanking(option(args, '--applications', 50_000), option(args, '--seed', 42));
  const routing = await routingLoad(args);
  report(
    'marketplace',
    {
      ...routing,
      ...ranking,
      revenue_unit: 'CNY',
      goals: {
        routing_p99_ms: `≤ timeout_ms + 25 = ${routing.timeout_ms + 25}`,
        uplift: '≥ 0.15',
        decline_share: 'ev ≤ fixed',
      },
      met: {
        routing: routing.routing_p99_ms <= routing.timeout_ms + 25,
        uplift: ranking.uplift >= 0.15,
        decline_share: ranking.ev_decline_share <= ranking.fixed_decline_share,
      },
    },
    args,
  );
}
