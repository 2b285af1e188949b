import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/api/index.ts';
import { createApp, type App } from '../src/app.ts';
import { dropPostgresSchema } from '../src/db/index.ts';
import { freePort } from './support/free-port.ts';

/**
 * The composition root runs the recompute as a job: a product left with an ends-only max APR (as
 * products made before lending migration 0003 are) gets its true one once the server runs, with
 * no command typed.
 */
describe('the job lending.recompute-max-apr', () => {
  let app: App;
  let dataDir: string;
  const url = process.env.DATABASE_URL || undefined;
  const schema = url ? `millet_test_${randomBytes(6).toString('hex')}` : undefined;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-max-apr-job-'));
    app = await createApp(
      {
        port: await freePort(),
        host: '127.0.0.1',
        dataDir,
        databaseUrl: url,
        databaseSchema: schema,
        redisUrl: undefined,
        logLevel: 'warn',
        demo: false,
        piiKey: randomBytes(32).toString('base64'),
        trustProxy: false,
      },
      { logger: createLogger({ level: 'silent' }), jobsIntervalMs: 50 },
    );
    // Every module's migrations on a fresh embedded database: slow on a loaded machine.
  }, 180_000);

  afterAll(async () => {
    await app?.close();
    if (url && schema) await dropPostgresSchema(url, schema);
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('gives an old product its true max APR in the background', async () => {
    const product = await app.lending.createProduct('seven', {
      name: 'Seven',
      scheduleType: 'equal_instalments',
      dayCount: '30/360',
      annualRate: '7',
      terms: [12],
      minAmount: 10_000n,
      maxAmount: 10_600n,
    });
    // Back to what a product made before 2026-12-04 holds: the ends' 7.0120%, no loan named.
    await app.db.query(
      `UPDATE lending_products SET max_apr_e4 = 70120, max_apr_amount = NULL, max_apr_terms = NULL,
         max_apr_basis = 'ends' WHERE id = $1`,
      [product.id],
    );
    expect((await app.lending.getProduct(product.id)).maxApr).toBe('7.0120');
    await app.listen();
    const deadline = Date.now() + 30_000;
    while ((await app.lending.getProduct(product.id)).maxAprBasis === 'ends' && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    const after = await app.lending.getProduct(product.id);
    expect([after.maxApr, after.maxAprAt]).toEqual(['7.0452', { amount: 10_373n, terms: 12 }]);
    expect(await app.lending.maxAprRecomputeProgress()).toMatchObject({
      status: 'completed',
      done: 1,
      raised: 1,
    });
  }, 60_000);
});
