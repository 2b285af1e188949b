import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Ledger } from '../ledger/index.ts';
import { startJobs } from './scheduler.ts';

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: pino({ level: 'info' }, destination), lines };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('startJobs', () => {
  it('expires holds periodically without ever overlapping itself', async () => {
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    const ledger = {
      async expireHolds() {
        calls += 1;
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await sleep(30); // slower than the interval
        running -= 1;
        return 1;
      },
    } as unknown as Ledger;
    const { logger } = capturingLogger();
    const jobs = startJobs({ ledger, logger, intervalMs: 5 });
    await sleep(200);
    await Promise.all([jobs.runNow(), jobs.runNow()]);
    await jobs.stop();
    const after = calls;
    await sleep(50);
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(calls).toBe(after); // nothing runs after stop()
    expect(maxRunning).toBe(1);
  });

  it('logs a failing job and keeps going with the others and later rounds', async () => {
    let failures = 0;
    let cleanups = 0;
    const ledger = {
      async expireHolds() {
        failures += 1;
        throw new Error('database went away');
      },
    } as unknown as Ledger;
    const { logger, lines } = capturingLogger();
    const jobs = startJobs({
      ledger,
      logger,
      intervalMs: 5,
      jobs: [{ name: 'cleanup', run: async () => void (cleanups += 1) }],
    });
    await sleep(100);
    await jobs.stop();
    expect(failures).toBeGreaterThanOrEqual(2);
    expect(cleanups).toBe(failures);
    const logged = lines.find((l) => l.msg === 'job failed');
    expect(logged).toMatchObject({ job: 'ledger.expire-holds', level: 50 });
    expect(JSON.stringify(logged)).toContain('database went away');
  });

  it('waits for a round in progress when stopped', async () => {
    let finished = false;
    const ledger = {
      async expireHolds() {
        await sleep(50);
        finished = true;
        return 0;
      },
    } as unknown as Ledger;
    const jobs = startJobs({ ledger, logger: capturingLogger().logger, intervalMs: 1 });
    await sleep(10);
    await jobs.stop();
    expect(finished).toBe(true);
  });
});
