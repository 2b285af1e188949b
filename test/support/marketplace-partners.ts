import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { startPartnerSim, type PartnerSim, type PartnerSimOptions } from '../../src/marketplace/index.ts';
import { generateWebhookSecret } from '../../src/webhooks/index.ts';
import type { ApiHarness } from './api-harness.ts';

/** Registration fields a test sets over the defaults (a whole `eligibility`, `daily_cap`, …). */
export type PartnerOverrides = Record<string, unknown>;

/**
 * Registers a lender through the operator API: eligible in `region` only (a region code prefix,
 * so each test's partners see only its own applications), score bands A–D, 1,000.00 to 300,000.00
 * CNY over 3 to 36 months, needing the real name, priced CPA 50.00 CNY + CPS 1.5% + revenue share
 * 10%. Its id.
 */
export async function registerPartner(
  h: ApiHarness,
  p: { region: string; url: string; secret: string; name: string; overrides?: PartnerOverrides },
): Promise<string> {
  const created = await h.post('/v1/operator/marketplace/partners', {
    name: `${p.name}-${randomUUID().slice(0, 8)}`,
    kind: 'lender',
    endpoint_url: p.url,
    eligibility: {
      score_bands: ['A', 'B', 'C', 'D'],
      regions: [p.region],
      min_amount: '100000',
      max_amount: '30000000',
      min_term_months: 3,
      max_term_months: 36,
    },
    required_fields: ['real_name'],
    pricing: { cpa: '5000', cps_bp: 150, revenue_share_bp: 1000 },
    secret: p.secret,
    ...p.overrides,
  });
  expect(created.statusCode, created.body).toBe(201);
  // The secret given is the one kept: callbacks signed with it verify.
  expect(created.json().secret).toBe(p.secret);
  return created.json().id as string;
}

/**
 * A partner-sim on port 0, on the harness's clock, registered as `registerPartner` does (named
 * after the sim unless `name` is given). It is added to `sims` for the test file to close.
 */
export async function simPartner(
  h: ApiHarness,
  sims: PartnerSim[],
  p: {
    region: string;
    sim?: Omit<PartnerSimOptions, 'secret'>;
    overrides?: PartnerOverrides | ((sim: PartnerSim) => PartnerOverrides);
    name?: string;
  },
): Promise<{ id: string; sim: PartnerSim; secret: string }> {
  const secret = generateWebhookSecret();
  const started = await startPartnerSim({ secret, now: () => h.clock.now(), ...p.sim });
  sims.push(started);
  const overrides = typeof p.overrides === 'function' ? p.overrides(started) : p.overrides;
  const id = await registerPartner(h, {
    region: p.region,
    url: started.url,
    secret,
    name: p.name ?? p.sim?.name ?? 'lender',
    overrides,
  });
  return { id, sim: started, secret };
}
