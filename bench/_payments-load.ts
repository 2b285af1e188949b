/**
 * The load generator for bench/payments.ts, run as its own process so the server under test keeps
 * its event loop to itself. Reads its plan from the file named in argv[2]; writes one JSON line.
 */
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';

interface Plan {
  port: number;
  tokens: string[];
  orders: string[];
  concurrency: number;
  warmupSeconds: number;
  seconds: number;
}

const plan = JSON.parse(fs.readFileSync(process.argv[2]!, 'utf8')) as Plan;
// undici: keep-alive connections, one request in flight on each; far less client CPU per request
// than node:http, which matters because the load shares the machine with the server.
const pool = new Pool(`http://127.0.0.1:${plan.port}`, { connections: plan.concurrency, pipelining: 1 });
let nextOrder = 0;
const body = '{"method":"balance"}';

async function pay(orderId: string, token: string): Promise<number> {
  const response = await pool.request({
    method: 'POST',
    path: `/v1/payment-orders/${orderId}/pay`,
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'idempotency-key': randomUUID(),
    },
    body,
  });
  await response.body.dump();
  return response.statusCode;
}

const latencies: number[] = [];
const statuses: Record<string, number> = {};
let measuring = false;
let stop = false;

async function loop(): Promise<void> {
  while (!stop && nextOrder < plan.orders.length) {
    const orderId = plan.orders[nextOrder++]!;
    const token = plan.tokens[Math.floor(Math.random() * plan.tokens.length)]!;
    const started = performance.now();
    const status = await pay(orderId, token).catch(() => -1);
    if (!measuring) continue;
    latencies.push(performance.now() - started);
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
}

const loops = Array.from({ length: plan.concurrency }, loop);
await new Promise((r) => setTimeout(r, plan.warmupSeconds * 1000));
measuring = true;
process.stdout.write('measure:start\n');
const cpuBefore = process.cpuUsage();
const started = performance.now();
await new Promise((r) => setTimeout(r, plan.seconds * 1000));
measuring = false;
const elapsed = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
process.stdout.write('measure:end\n');
stop = true;
await Promise.all(loops);
await pool.close();
latencies.sort((a, b) => a - b);
const at = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
process.stdout.write(
  `${JSON.stringify({
    requests: latencies.length,
    succeeded: statuses['201'] ?? 0,
    elapsed,
    ran_out_of_orders: nextOrder >= plan.orders.length,
    p50_ms: at(50),
    p99_ms: at(99),
    statuses,
    load_cpu_us_per_request: (cpu.user + cpu.system) / Math.max(1, latencies.length),
  })}\n`,
);
