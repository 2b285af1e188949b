/**
 * A child process for the order-writer crash test: an order writer over the Redis engine and the
 * database (DATABASE_URL + MILLET_DB_SCHEMA) that writes small batches slowly and prints
 * `wrote <n>` after each acknowledged batch, until it is killed. Input: WORKER_PLAN (JSON).
 */
import { systemClock } from '../../src/core/index.ts';
import { openDatabase } from '../../src/db/index.ts';
import { RedisStockEngine, createStandaloneOrderWriter, type StockEngine } from '../../src/store/index.ts';

const plan = JSON.parse(process.env.WORKER_PLAN ?? '{}') as {
  saleId: string;
  prefix: string;
  pauseMs: number;
};
const db = await openDatabase({
  databaseUrl: process.env.DATABASE_URL,
  schema: process.env.MILLET_DB_SCHEMA,
});
const redis = new RedisStockEngine({ url: process.env.REDIS_URL!, prefix: plan.prefix });
// Slow batches, each reported once acknowledged, so the test can kill the writer mid-sale.
const engine = new Proxy(redis, {
  get(target, name) {
    if (name === 'readAccepted')
      return async (...args: Parameters<StockEngine['readAccepted']>) => {
        await new Promise((r) => setTimeout(r, plan.pauseMs));
        return target.readAccepted(...args);
      };
    if (name === 'ack')
      return async (saleId: string, ids: readonly string[]) => {
        await target.ack(saleId, ids);
        process.stdout.write(`wrote ${ids.length}\n`);
      };
    const value = Reflect.get(target, name, target) as unknown;
    return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
  },
});
const writer = await createStandaloneOrderWriter({
  db,
  clock: systemClock,
  engine,
  saleIds: [plan.saleId],
  batchSize: 25,
  consumer: 'doomed-writer',
});
for (;;) {
  try {
    await writer.runOnce();
  } catch (error) {
    process.stderr.write(`order writer: ${String(error)}\n`);
  }
}
