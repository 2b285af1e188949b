import { expect } from 'vitest';
import { addDays } from '../../src/jobs/index.ts';
import type { ApiHarness } from './api-harness.ts';
import type { Customer } from './customers.ts';

/**
 * Business time for tests that span months over the API: `advanceTo` closes every business day
 * before `date` (the close's fast-forward, each run completed), moves the clock to 10:00 that day
 * and logs every customer in `customers` in again (access tokens last 15 minutes of business time).
 * The harness is read when a day moves, so it may be opened in a `beforeAll` after this is made.
 */
export function businessDays(harness: () => ApiHarness): {
  customers: Customer[];
  advanceTo(date: string): Promise<void>;
} {
  const customers: Customer[] = [];
  async function advanceTo(date: string): Promise<void> {
    const h = harness();
    const last = (await h.endOfDay.lastClosedDate()) ?? addDays('2025-06-01', -2);
    let days = 0;
    while (addDays(last, days + 1) < date) days += 1;
    if (days > 0) {
      const runs = await h.endOfDay.closeDays(days);
      for (const run of runs) expect(run.status, `${run.businessDate}: ${run.error}`).toBe('completed');
    }
    h.clock.set(`${date}T10:00:00+08:00`);
    for (const c of customers) {
      const session = await h.post('/v1/sessions', { phone: c.phone, password: 'password-1' }, { key: null });
      c.token = session.json().access_token as string;
    }
  }
  return { customers, advanceTo };
}
