import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMigrations } from '../src/db/index.ts';
import { addDays, jobsMigrations } from '../src/jobs/index.ts';
import { businessDate } from '../src/core/index.ts';
import { openApiHarness, type ApiHarness } from './support/api-harness.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await openApiHarness();
  await applyMigrations(h.t.db, jobsMigrations);
});
afterAll(async () => {
  await h.close();
});

describe('end-of-day close runs over HTTP (the console)', () => {
  it('lists no runs, closes yesterday, then lists it with every step completed', async () => {
    const empty = await h.get('/v1/operator/close-runs', h.adminKey);
    expect(empty.statusCode, empty.body).toBe(200);
    expect(empty.json()).toEqual({ items: [], last_closed_date: null });

    const today = businessDate(h.clock);
    const yesterday = addDays(today, -1);
    const closed = await h.post('/v1/operator/close-runs', {}, { key: h.adminKey });
    expect(closed.statusCode, closed.body).toBe(200);
    expect(closed.json()).toMatchObject({ business_date: yesterday, status: 'completed', error: null });
    expect(closed.json().steps.length).toBeGreaterThan(0);
    for (const step of closed.json().steps) expect(step.status).toBe('completed');

    const next = await h.post(
      '/v1/operator/close-runs',
      { business_date: today, fast_forward: true },
      { key: h.adminKey },
    );
    expect(next.statusCode, next.body).toBe(200);
    const list = (await h.get('/v1/operator/close-runs?limit=5', h.adminKey)).json();
    expect(list.last_closed_date).toBe(today);
    expect(list.items.map((r: { business_date: string }) => r.business_date)).toEqual([today, yesterday]);
  });

  it('refuses dates out of order in plain words, and needs an operator key', async () => {
    const today = businessDate(h.clock);
    const gap = await h.post(
      '/v1/operator/close-runs',
      { business_date: addDays(today, 4), fast_forward: true },
      { key: h.adminKey },
    );
    expect(gap.statusCode).toBe(400);
    expect(gap.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(gap.json().detail).toContain(`close ${addDays(today, 1)} before ${addDays(today, 4)}`);
    expect((await h.request({ method: 'GET', url: '/v1/operator/close-runs' })).statusCode).toBe(401);
  });

  it('closes a date asked for three times at once once: the others are told it is running', async () => {
    const next = addDays((await h.get('/v1/operator/close-runs', h.adminKey)).json().last_closed_date, 1);
    const answers = await Promise.all(
      [1, 2, 3].map(() =>
        h.post('/v1/operator/close-runs', { business_date: next, fast_forward: true }, { key: h.adminKey }),
      ),
    );
    // On PostgreSQL the requests meet; PGlite runs one transaction at a time, so they may not.
    expect(answers.filter((r) => r.statusCode === 200).length).toBeGreaterThan(0);
    for (const r of answers) {
      if (r.statusCode === 200) expect(r.json()).toMatchObject({ business_date: next, status: 'completed' });
      else {
        expect(r.statusCode, r.body).toBe(409);
        expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(r.json().code).toBe('IDEMPOTENCY_KEY_IN_PROGRESS');
      }
    }
    const list = (await h.get('/v1/operator/close-runs?limit=5', h.adminKey)).json();
    expect(list.last_closed_date).toBe(next);
    expect(list.items.filter((r: { business_date: string }) => r.business_date === next)).toHaveLength(1);
  });
});
