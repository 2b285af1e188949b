import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStockEngine } from '../src/store/index.ts';
import { openApiHarness, type ApiHarness, type ApiResponse } from './support/api-harness.ts';
import { newCustomer } from './support/customers.ts';
import { freePort } from './support/free-port.ts';

/**
 * Redis goes away in the middle of a sale: attempts and the console's figures answer 503
 * STORE_ENGINE_UNAVAILABLE problem+json within about a second (they were 500s after seven), and
 * once Redis is back the engine finds it again. Needs the redis-server binary (the machine's
 * Debian package, as in CI) to run a Redis of its own that it can stop; skipped without it.
 */
const hasRedis = spawnSync('redis-server', ['--version']).status === 0;

async function startRedis(port: number): Promise<void> {
  execFileSync('redis-server', [
    '--daemonize',
    'yes',
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--save',
    '',
    '--appendonly',
    'no',
  ]);
  for (let i = 0; i < 100; i++) {
    if (
      spawnSync('redis-cli', ['-p', String(port), 'ping'])
        .stdout?.toString()
        .trim() === 'PONG'
    )
      return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('redis-server did not start');
}

const stopRedis = (port: number) => spawnSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave']);

describe.skipIf(!hasRedis)('the Redis stock engine when Redis goes away mid-sale', () => {
  let h: ApiHarness;
  let port = 0;
  beforeAll(async () => {
    port = await freePort();
    await startRedis(port);
    h = await openApiHarness({
      storeEngine: new RedisStockEngine({ url: `redis://127.0.0.1:${port}`, prefix: 'outage:' }),
      store: { admitIntervalMs: 10 },
    });
  });
  afterAll(async () => {
    await h?.close().catch(() => {});
    stopRedis(port);
  });

  const ok = (r: ApiResponse, status: number) => {
    expect(r.statusCode, r.body).toBe(status);
    return r.json();
  };
  const unavailable = (r: ApiResponse) => {
    expect(r.statusCode, r.body).toBe(503);
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(r.json().code).toBe('STORE_ENGINE_UNAVAILABLE');
  };

  it('answers 503 STORE_ENGINE_UNAVAILABLE within about a second, and finds Redis again when it is back', async () => {
    const product = ok(await h.post('/v1/operator/store/products', { name: 'Millet 15' }), 201);
    const sku = ok(
      await h.post('/v1/operator/store/skus', {
        product_id: product.id,
        code: `M15-${randomUUID().slice(0, 8)}`,
        name: '12 GB + 256 GB',
        price: '399900',
        stock: 100,
      }),
      201,
    );
    const startsAt = h.clock.now().getTime() + 60_000;
    const sale = ok(
      await h.post('/v1/operator/store/sales', {
        sku_id: sku.id,
        name: 'Launch',
        price: '359900',
        allotment: 10,
        per_user_limit: 1,
        starts_at: new Date(startsAt).toISOString(),
        ends_at: new Date(startsAt + 3_600_000).toISOString(),
        admission_window_ms: 0,
      }),
      201,
    );
    const buyer = await newCustomer(h, { funds: 1_000_000n, accountClass: 'III' });
    ok(await h.post(`/v1/store/sales/${sale.id}/registrations`, {}, { key: buyer.token }), 201);
    h.clock.set(new Date(startsAt + 1));
    const metrics = `/v1/operator/store/sales/${sale.id}/metrics`;
    ok(await h.get(metrics), 200);

    stopRedis(port);
    const started = performance.now();
    unavailable(
      await h.post(`/v1/store/sales/${sale.id}/attempts`, { device_id: 'phone-1' }, { key: buyer.token }),
    );
    expect(performance.now() - started).toBeLessThan(3_000);
    unavailable(await h.get(metrics));

    await startRedis(port);
    let back: ApiResponse | undefined;
    for (let i = 0; i < 50 && back?.statusCode !== 200; i++) {
      back = await h.get(metrics);
      if (back.statusCode !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    ok(back!, 200);

    // This Redis keeps nothing on disk: it came back empty. The store's check finds the sale gone and
    // rebuilds it from the database without anyone attempting, and the sale goes on.
    const engine = h.store.engine;
    for (let i = 0; i < 50 && !(await engine.holdsSale(sale.id)); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(await engine.holdsSale(sale.id)).toBe(true);
    const attempt = ok(
      await h.post(`/v1/store/sales/${sale.id}/attempts`, { device_id: 'phone-1' }, { key: buyer.token }),
      201,
    );
    expect(attempt.status).toBe('accepted');
    expect(ok(await h.get(metrics), 200).remaining).toBe(9);
  }, 30_000);
});
