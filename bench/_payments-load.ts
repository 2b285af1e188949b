/**
 * The load generator for bench/payments.ts, run as its own process so the server under test keeps
 * its event loop to itself. Reads its plan from the file named in argv[2]; writes one JSON line.
 */
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';

interface Plan {
  port: number;
  tokens: string[];
  orders: string[];
  concurrency: number;
  warmupSeconds: number;
  seconds: number;
}

const plan = JSON.parse(fs.readFileSync(process.argv[2]!, 'utf8')) as Plan;
let nextOrder = 0;
let ranOut = false;

/**
 * autocannon rather than undici: its client writes prebuilt request buffers on keep-alive sockets
 * and costs about a third of undici's CPU per request here, CPU the server under test would
 * otherwise lose on a 2-core machine. One request in flight per connection, as a client sends.
 */
function run(seconds: number, onResponse?: (status: number, ms: number) => void): Promise<void> {
  let done!: (error?: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => (done = (e) => (e ? reject(e) : resolve())));
  const instance = autocannon(
    {
      url: `http://127.0.0.1:${plan.port}`,
      connections: plan.concurrency,
      pipelining: 1,
      duration: seconds,
      requests: [
        {
          method: 'POST',
          body: '{"method":"balance"}',
          setupRequest: (request) => {
            if (nextOrder >= plan.orders.length) {
              // Paying an order again answers 409, which shows in the statuses.
              ranOut = true;
              nextOrder = 0;
            }
            const token = plan.tokens[Math.floor(Math.random() * plan.tokens.length)]!;
            return {
              ...request,
              path: `/v1/payment-orders/${plan.orders[nextOrder++]!}/pay`,
              headers: {
                authorization: `Bearer ${token}`,
                'content-type': 'application/json',
                'idempotency-key': randomUUID(),
              },
            };
          },
        },
      ],
    },
    (error) => done(error),
  );
  // autocannon times each request from its write to its whole response (ms, fractional).
  if (onResponse) instance.on('response', (_client, status, _bytes, ms) => onResponse(status, ms));
  return finished;
}

await run(plan.warmupSeconds);
const latencies: number[] = [];
const statuses: Record<string, number> = {};
process.stdout.write('measure:start\n');
const cpuBefore = process.cpuUsage();
const started = performance.now();
await run(plan.seconds, (status, ms) => {
  latencies.push(ms);
  statuses[status] = (statuses[status] ?? 0) + 1;
});
const elapsed = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
process.stdout.write('measure:end\n');
latencies.sort((a, b) => a - b);
const at = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
process.stdout.write(
  `${JSON.stringify({
    requests: latencies.length,
    succeeded: statuses['201'] ?? 0,
    elapsed,
    ran_out_of_orders: ranOut,
    p50_ms: at(50),
    p99_ms: at(99),
    statuses,
    load_cpu_us_per_request: (cpu.user + cpu.system) / Math.max(1, latencies.length),
  })}\n`,
);
