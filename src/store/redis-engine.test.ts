import { randomBytes } from 'node:crypto';
import { RedisStockEngine } from './redis-engine.ts';
import { describeStockEngine } from './stock-engine.conformance.ts';

const url = process.env.REDIS_URL;

// Skipped without REDIS_URL (CI sets it); each run gets its own key prefix.
describeStockEngine(
  'redis',
  async () => new RedisStockEngine({ url: url!, prefix: `millet-test-${randomBytes(6).toString('hex')}:` }),
  !url,
);
