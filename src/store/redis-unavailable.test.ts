import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RedisStockEngine } from './redis-engine.ts';
import { isRedisUnavailable } from './redis-unavailable.ts';
import { rejection } from '../../test/support/rejection.ts';

describe('a Redis stock engine that cannot reach Redis', () => {
  it('fails each command as STORE_ENGINE_UNAVAILABLE within about a second, not as a fault', async () => {
    // Port 1 on loopback: nothing listens, every connection is refused.
    const engine = new RedisStockEngine({ url: 'redis://127.0.0.1:1', prefix: 'unreachable:' });
    try {
      const saleId = randomUUID();
      const started = performance.now();
      const calls = [
        engine.attempt({
          saleId,
          userId: randomUUID(),
          attemptId: randomUUID(),
          quantity: 1,
          now: 0,
          ticket: 1,
        }),
        engine.counters(saleId),
        engine.snapshot(saleId),
      ];
      for (const error of await Promise.all(calls.map(rejection)))
        expect(error.code, String(error)).toBe('STORE_ENGINE_UNAVAILABLE');
      expect(performance.now() - started).toBeLessThan(3_000);
    } finally {
      await engine.close().catch(() => {});
    }
  });

  it('tells an unreachable Redis from an error Redis answered with', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const retries = Object.assign(new Error('Reached the max retries per request limit'), {
      name: 'MaxRetriesPerRequestError',
    });
    expect(isRedisUnavailable(refused)).toBe(true);
    expect(isRedisUnavailable(retries)).toBe(true);
    expect(isRedisUnavailable(new Error('Connection is closed.'))).toBe(true);
    expect(isRedisUnavailable(new Error('ERR Error running script (call to f_1): bad argument'))).toBe(false);
    expect(isRedisUnavailable('ECONNREFUSED')).toBe(false);
  });
});
