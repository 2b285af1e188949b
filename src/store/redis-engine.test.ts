import { randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';
import { RedisStockEngine } from './redis-engine.ts';
import { describeStockEngine } from './stock-engine.conformance.ts';

const url = process.env.REDIS_URL;
const prefix = `millet-test-${randomBytes(6).toString('hex')}:`;

// Skipped without REDIS_URL (CI sets it); each run gets its own key prefix, deleted afterwards.
describeStockEngine('redis', async () => new RedisStockEngine({ url: url!, prefix }), !url);

afterAll(async () => {
  if (url) await RedisStockEngine.deleteKeys(url, prefix);
});
