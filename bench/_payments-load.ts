/**
 * The load generator for bench/payments.ts, run as its own process so the server under test keeps
 * its event loop to itself. Reads its plan from the file named in argv[2]; writes one JSON line.
 */
import fs from 'node:fs';
import http from 'node:http';
import { randomUUID } from 'node:crypto';

interface Plan {
  port: number;
  tokens: string[];
  orders: string[];
  concurrency: number;
  warmupSeconds: number;
  seconds: number;
}

const plan = JSON.parse(fs.readFileSync(process.argv[2]!, 'utf8')) as Plan;
const agent = new http.Agent({ keepAlive: true, maxSockets: plan.concurrency });
let nextOrder = 0;

function pay(orderId: string, token: string): Promise<number> {
  const body = '{"method":"balance"}';
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        agent,
        host: '127.0.0.1',
        port: plan.port,
        method: 'POST',
        path: `/v1/payment-orders/${orderId}/pay`,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'idempotency-key': randomUUID(),
        },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
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
agent.destroy();
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
