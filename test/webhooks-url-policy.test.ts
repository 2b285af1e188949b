import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateWebhookSecret } from '../src/webhooks/index.ts';
import { openApiHarness, type ApiHarness, type ApiResponse } from './support/api-harness.ts';

// Two apps in one process: the embedded demo's policy (loopback allowed) and a deployment's (not).
// Were the policy process-wide, the app opened last would decide for both, and one side of each
// check below would fail.
let demo: ApiHarness;
let deployed: ApiHarness;
beforeAll(async () => {
  demo = await openApiHarness({ webhooksAllowLoopback: true });
  deployed = await openApiHarness({ webhooksAllowLoopback: false });
});
afterAll(async () => {
  await demo?.close();
  await deployed?.close();
});

async function orderWithNotifyUrl(h: ApiHarness, notifyUrl: string): Promise<ApiResponse> {
  const merchant = await h.post('/v1/operator/merchants', {
    name: `policy shop ${randomUUID().slice(0, 8)}`,
    fee_bps: 60,
  });
  expect(merchant.statusCode, merchant.body).toBe(201);
  const key = await h.post(`/v1/operator/merchants/${merchant.json().id as string}/api-keys`, {
    name: 'till',
    scopes: ['payments:write'],
  });
  expect(key.statusCode, key.body).toBe(201);
  return h.post(
    '/v1/merchant/payment-orders',
    {
      merchant_reference: randomUUID().slice(0, 20),
      amount: '100',
      description: 'tea',
      notify_url: notifyUrl,
    },
    { key: key.json().key as string },
  );
}

const partnerAt = (h: ApiHarness, endpointUrl: string) =>
  h.post('/v1/operator/marketplace/partners', {
    name: `lender-${randomUUID().slice(0, 6)}`,
    kind: 'lender',
    endpoint_url: endpointUrl,
    eligibility: {
      score_bands: ['A', 'B'],
      regions: ['11'],
      min_amount: '100000',
      max_amount: '30000000',
      min_term_months: 3,
      max_term_months: 36,
    },
    pricing: { cpa: '5000', cps_bp: 150, revenue_share_bp: 1000 },
    secret: generateWebhookSecret(),
  });

describe('the webhook URL policy belongs to each app', () => {
  it('a notify_url on this machine is taken by the app that allows loopback, refused by the one that does not', async () => {
    const taken = await orderWithNotifyUrl(demo, 'http://127.0.0.1:9/notify');
    expect(taken.statusCode, taken.body).toBe(201);
    expect(taken.json().notify_url).toBe('http://127.0.0.1:9/notify');
    const refused = await orderWithNotifyUrl(deployed, 'http://127.0.0.1:9/notify');
    expect(refused.statusCode, refused.body).toBe(422);
    expect(refused.json()).toMatchObject({ code: 'WEBHOOK_URL_INVALID', field: 'notify_url' });
    // A private address is refused by both.
    for (const h of [demo, deployed]) {
      const internal = await orderWithNotifyUrl(h, 'https://10.0.0.5/notify');
      expect(internal.json().code).toBe('WEBHOOK_URL_INVALID');
    }
  });

  it('a partner endpoint on this machine likewise', async () => {
    const taken = await partnerAt(demo, 'http://127.0.0.1:9/partner');
    expect(taken.statusCode, taken.body).toBe(201);
    const refused = await partnerAt(deployed, 'http://127.0.0.1:9/partner');
    expect(refused.statusCode, refused.body).toBe(422);
    expect(refused.json()).toMatchObject({ code: 'WEBHOOK_URL_INVALID', field: 'endpoint_url' });
    for (const h of [demo, deployed]) {
      const metadata = await partnerAt(h, 'https://169.254.169.254/latest/meta-data/');
      expect(metadata.json().code).toBe('WEBHOOK_URL_INVALID');
    }
  });

  it('the instances answer for their own policy', () => {
    expect(demo.webhooks.checkUrl('http://localhost:8080/x')).toBe('http://localhost:8080/x');
    expect(() => deployed.webhooks.checkUrl('http://localhost:8080/x', 'notify_url')).toThrow(
      expect.objectContaining({ code: 'WEBHOOK_URL_INVALID', details: { field: 'notify_url' } }),
    );
    expect(deployed.webhooks.checkUrl('https://shop.example/notify')).toBe('https://shop.example/notify');
  });
});
