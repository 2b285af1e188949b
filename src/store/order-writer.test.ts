import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { InProcessStockEngine } from './in-process-engine.ts';
import { OrderWriter } from './order-writer.ts';
import type { Orders } from './orders.ts';
import type { AcceptedAttempt } from './stock-engine.ts';
import type { Sale } from './types.ts';

const T0 = Date.parse('2026-11-11T12:00:00Z');

function capturedLogger() {
  const lines: Array<{ level: number; msg: string; failures?: number }> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      callback();
    },
  });
  return { logger: pino({ level: 'info' }, destination), lines };
}

describe('order writer while its batches fail', () => {
  it('backs off and logs the first failure and the recovery, not a line per try', async () => {
    const engine = new InProcessStockEngine();
    const saleId = '00000000-0000-4000-8000-000000000001';
    await engine.configureSale({
      saleId,
      allotment: 10,
      perUserLimit: 1,
      startsAt: T0,
      endsAt: T0 + 3_600_000,
      earlyAccessFrom: null,
      admissionWindowMs: 0,
    });
    await engine.attempt({ saleId, userId: 'u1', attemptId: 'a1', quantity: 1, now: T0 + 1, ticket: 1 });
    // The database is away for the first 300 ms.
    const downUntil = performance.now() + 300;
    let tries = 0;
    const written: AcceptedAttempt[] = [];
    const orders = {
      async writeAccepted(_sale: Sale, entries: readonly AcceptedAttempt[]) {
        tries += 1;
        if (performance.now() < downUntil) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
        written.push(...entries);
      },
    } as unknown as Orders;
    const { logger, lines } = capturedLogger();
    const writer = new OrderWriter({
      engine,
      orders,
      sales: () => [{ id: saleId } as Sale],
      logger,
      idleMs: 5,
      minIdleMs: 0,
    });
    writer.start();
    for (let i = 0; i < 200 && written.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await writer.stop();

    expect(written.map((e) => e.attemptId)).toEqual(['a1']);
    // Retrying every 5 ms would have been about 60 tries in 300 ms; doubling pauses make it a few.
    expect(tries).toBeGreaterThanOrEqual(3);
    expect(tries).toBeLessThanOrEqual(10);
    expect(lines.filter((l) => l.msg.startsWith('order writer batch failed'))).toHaveLength(1);
    const recovered = lines.filter((l) => l.msg === 'order writer recovered');
    expect(recovered).toHaveLength(1);
    expect(recovered[0]!.failures).toBe(tries - 1);
  });
});
