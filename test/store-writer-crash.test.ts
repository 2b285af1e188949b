import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStockEngine } from '../src/store/index.ts';
import { openApiHarness, type ApiHarness } from './support/api-harness.ts';

const redisUrl = process.env.REDIS_URL;
const databaseUrl = process.env.DATABASE_URL;

// A real process killed with SIGKILL mid-sale: needs Redis (the hand-off outlives the process) and
// PostgreSQL (shared between this process and the writer's).
describe.skipIf(!redisUrl || !databaseUrl)('order writer killed with SIGKILL (Redis engine)', () => {
  let h: ApiHarness;
  const prefix = `millet-test-${randomBytes(6).toString('hex')}:`;
  beforeAll(async () => {
    h = await openApiHarness({ storeEngine: new RedisStockEngine({ url: redisUrl!, prefix }) });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('loses no accepted attempt: the next writer claims what the dead one held', async () => {
    const store = h.store;
    await store.writer!.stop();
    const product = await store.createProduct({ id: randomUUID(), name: 'Millet Band' });
    const sku = await store.createSku({
      id: randomUUID(),
      productId: product.id,
      code: 'BAND-9',
      name: 'black',
      price: 24_900n,
      stock: 1_000n,
    });
    const startsAt = new Date(h.clock.now().getTime() + 60_000);
    const sale = await store.createSale({
      id: randomUUID(),
      skuId: sku.id,
      name: 'Band launch',
      price: 19_900n,
      allotment: 400,
      perUserLimit: 1,
      startsAt,
      endsAt: new Date(startsAt.getTime() + 3_600_000),
      admissionWindowMs: 0,
    });
    const users = Array.from({ length: 400 }, () => randomUUID());
    await store.registerMany(
      sale.id,
      users.map((userId) => ({ userId, accountCreatedAt: new Date('2020-01-01') })),
    );
    h.clock.set(new Date(startsAt.getTime() + 1));
    const accepted = await Promise.all(
      users.map((userId) => store.attempt({ saleId: sale.id, userId, key: randomUUID(), quantity: 1 })),
    );

    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(import.meta.dirname, 'support/store-writer-worker.ts')],
      {
        env: {
          ...process.env,
          MILLET_DB_SCHEMA: h.t.schema,
          WORKER_PLAN: JSON.stringify({ saleId: sale.id, prefix, pauseMs: 30 }),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let written = 0;
    let errors = '';
    child.stderr.on('data', (c: Buffer) => {
      errors += c.toString();
      process.stderr.write(c);
    });
    const exited = new Promise<unknown>((resolve) =>
      child.on('exit', (code, signal) => resolve(code ?? signal)),
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        for (const m of chunk.toString().matchAll(/wrote (\d+)/g)) written += Number(m[1]);
        if (written >= 75) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      void exited.then(() => reject(new Error(`the writer exited early: ${errors}`)));
    });
    expect(await exited).toBe('SIGKILL');
    const before = (await store.listOrders({ saleId: sale.id, limit: 500 })).items.length;
    expect(before).toBeGreaterThanOrEqual(75);
    expect(before).toBeLessThan(400);

    // The dead writer's unacknowledged entries are claimed; the rest are read as new.
    const next = store.createWriter({ consumer: 'next-writer', minIdleMs: 0 });
    while ((await next.runOnce()) > 0);
    const orders = await store.listOrders({ saleId: sale.id, limit: 500 });
    expect(orders.items.map((o) => o.attemptId).sort()).toEqual(accepted.map((a) => a.attemptId).sort());
    expect((await store.getSale(sale.id)).unitsTaken).toBe(400);
    expect(await store.reconcile(sale.id)).toMatchObject({ drift: 0, status: 'ok', dbConsistent: true });
    await (store.engine as RedisStockEngine).dropSale(sale.id);
  });
});
