/**
 * The load generator for bench/flashsale.ts, run as its own process so the server under test keeps
 * its event loop to itself. Reads its plan from the file named in argv[2]; mints the users' access
 * tokens with the server's key (no log-in per simulated user); fires the attempts over keep-alive
 * connections (undici Pool) with many in flight; writes one JSON line.
 */
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';
import { signAccessToken } from '../src/identity/sessions.ts';

interface Plan {
  port: number;
  jwtKey: string;
  /** The attempt route (the store's, or the bench-only naive one). */
  path: string;
  /** User ids; the first `bots` are the scripted bots. */
  users: string[];
  bots: number;
  /** Per attempt: the user's index. */
  schedule: number[];
  devices: string[];
  addresses: string[];
  connections: number;
  /** Requests in flight per connection (HTTP/1.1 pipelining). */
  pipelining: number;
  inFlight: number;
  startAt: number;
}

const plan = JSON.parse(fs.readFileSync(process.argv[2]!, 'utf8')) as Plan;
const key = Buffer.from(plan.jwtKey, 'base64');
const now = new Date();
const tokens = await Promise.all(
  plan.users.map((userId) => signAccessToken(key, { userId, sessionId: randomUUID() }, now, 86_400)),
);
// Several requests per connection in flight: the server reads them in one go and answers them in
// one write, so neither side pays a system call per attempt.
const pool = new Pool(`http://127.0.0.1:${plan.port}`, {
  connections: plan.connections,
  pipelining: plan.pipelining,
});
const path = plan.path;
// Built once per user rather than per attempt, so the generator spends its share of the cores on
// sending, not on string building.
const authorizations = tokens.map((t) => `Bearer ${t}`);
const bodies = plan.users.map((_, u) =>
  Buffer.from(JSON.stringify({ quantity: 1, device_id: plan.devices[u], address: plan.addresses[u] })),
);

/**
 * One attempt through undici's dispatcher with a small handler: the status and the body's bytes,
 * without the stream objects `request()` builds around every response.
 */
function send(headers: string[], body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    let status = -1;
    const chunks: Buffer[] = [];
    pool.dispatch(
      // undici sends a POST only on an idle connection unless told it is idempotent (it may not be
      // retried) and not blocking: without both, "pipelining" never puts two attempts in flight on
      // a connection. An attempt is idempotent by its Idempotency-Key, so it may be pipelined.
      { method: 'POST', path, headers, body, idempotent: true, blocking: false },
      {
        onRequestStart() {},
        onResponseStart(_controller, statusCode) {
          status = statusCode;
        },
        onResponseData(_controller, chunk) {
          chunks.push(chunk);
        },
        onResponseEnd() {
          resolve({
            status,
            text: chunks.length === 1 ? chunks[0]!.toString() : Buffer.concat(chunks).toString(),
          });
        },
        onResponseError(_controller, error) {
          reject(error);
        },
      },
    );
  });
}

const latencies = new Float64Array(plan.schedule.length);
const statuses: Record<string, number> = {};
/** Genuine users who got a risk response (429 slow down, 403 challenge/block). */
const wronglyHeld = new Set<number>();
const botsHeld = new Set<number>();
let next = 0;
/** Genuine users retry with the same Idempotency-Key once: a timeout in real life. */
const lastKey = new Map<number, string>();

async function one(i: number): Promise<void> {
  const u = plan.schedule[i]!;
  const bot = u < plan.bots;
  const retry = !bot && lastKey.has(u) && Math.random() < 0.5;
  const idempotencyKey = retry ? lastKey.get(u)! : randomUUID();
  if (!bot) lastKey.set(u, idempotencyKey);
  const started = performance.now();
  let status = -1;
  let text = '';
  try {
    const r = await send(
      [
        'authorization',
        authorizations[u]!,
        'content-type',
        'application/json',
        'idempotency-key',
        idempotencyKey,
      ],
      bodies[u]!,
    );
    status = r.status;
    text = r.text;
  } catch {
    status = -1;
  }
  latencies[i] = performance.now() - started;
  statuses[status] = (statuses[status] ?? 0) + 1;
  const held =
    status === 429 ||
    (status === 403 && (text.includes('STORE_CHALLENGE_REQUIRED') || text.includes('STORE_ATTEMPT_BLOCKED')));
  if (held) (bot ? botsHeld : wronglyHeld).add(u);
}

async function worker(): Promise<void> {
  while (next < plan.schedule.length) await one(next++);
}

await new Promise((r) => setTimeout(r, Math.max(0, plan.startAt - Date.now())));
const cpu0 = process.cpuUsage();
const started = performance.now();
await Promise.all(Array.from({ length: plan.inFlight }, worker));
const elapsed = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpu0);
await pool.close();
const sorted = Array.from(latencies).sort((a, b) => a - b);
const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
process.stdout.write(
  `${JSON.stringify({
    attempts: plan.schedule.length,
    elapsed,
    p50_ms: at(50),
    p99_ms: at(99),
    statuses,
    genuine_users_held: wronglyHeld.size,
    bots_held: botsHeld.size,
    cpu_us: cpu.user + cpu.system,
  })}\n`,
);
