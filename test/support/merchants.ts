import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { ApiHarness } from './api-harness.ts';

/** A merchant onboarded by the operator, with a till key that takes and reads payments. */
export async function newMerchant(h: ApiHarness, name: string): Promise<{ id: string; key: string }> {
  // Merchant names are unique (MERCHANT_NAME_TAKEN): a suffix lets a test onboard several.
  const created = await h.post('/v1/operator/merchants', {
    name: `${name} ${randomUUID().slice(0, 8)}`,
    fee_bps: 60,
  });
  expect(created.statusCode, created.body).toBe(201);
  const id = created.json<{ id: string }>().id;
  const key = await h.post(`/v1/operator/merchants/${id}/api-keys`, {
    name: 'till',
    scopes: ['payments:write', 'payments:read'],
  });
  expect(key.statusCode, key.body).toBe(201);
  return { id, key: key.json<{ key: string }>().key };
}
