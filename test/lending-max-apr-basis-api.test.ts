import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../src/core/index.ts';
import { openApiHarness, type ApiHarness, type JsonObject } from './support/api-harness.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await openApiHarness();
});
afterAll(async () => {
  await h.close();
});

/**
 * A product row as lending migration 0001 wrote it (12 monthly instalments, 30/360): no loan named
 * and no basis, so the column's default says its max APR was found at the ends of its amounts only.
 */
async function insertOldProduct(
  code: string,
  row: { rate: string; terms: number[]; min: bigint; max: bigint; maxAprE4: bigint },
): Promise<void> {
  await h.t.db.query(
    `INSERT INTO lending_products (id, code, version, name, schedule_type, day_count, annual_rate, rounding,
       terms, min_amount, max_amount, min_score, account_classes, allocation_order, past_due_first,
       prepayment_mode, grace_days, penalty_rate, charge_off_days, max_apr_e4, created_at)
     VALUES ($1, $2, 1, $2, 'equal_instalments', '30/360', $3::numeric, 'half_even', $4::int[], $5, $6, 550,
       '{II,III}', '{penalty,fee,interest,principal}', true, 'lower_instalment', 0, $3::numeric, 180, $7, $8)`,
    [newId(), code, row.rate, row.terms, row.min, row.max, row.maxAprE4, h.clock.now()],
  );
}

async function listed(code: string): Promise<JsonObject> {
  const response = await h.get('/v1/operator/lending/products');
  expect(response.statusCode, response.body).toBe(200);
  const product = (response.json().items as JsonObject[]).find((p) => p.code === code);
  expect(product, code).toBeDefined();
  return product!;
}

const basisOf = (p: JsonObject) => ({
  max_apr: p.max_apr,
  max_apr_at: p.max_apr_at,
  max_apr_basis: p.max_apr_basis,
});

describe('how a loan product’s max APR was found, over HTTP', () => {
  it('says a new product’s max APR is over every amount, where it was created and where it is listed', async () => {
    const created = await h.post('/v1/operator/lending/products', {
      code: 'seven-new',
      name: 'Seven',
      schedule_type: 'equal_instalments',
      day_count: '30/360',
      annual_rate: '7',
      terms: [12],
      min_amount: '10000',
      max_amount: '10600',
    });
    expect(created.statusCode, created.body).toBe(201);
    // 7% over 12 months, 100.00–106.00 CNY: 7.0120% at both ends, 7.0452% at 103.73 CNY.
    const expected = {
      max_apr: '7.0452',
      max_apr_at: { amount: '10373', terms: 12 },
      max_apr_basis: 'every_amount',
    };
    expect(basisOf(created.json())).toEqual(expected);
    expect(basisOf(await listed('seven-new'))).toEqual(expected);
    const versions = await h.get('/v1/operator/lending/products/seven-new/versions');
    expect(versions.json().items.map(basisOf)).toEqual([expected]);
  });

  it('says an old product’s max APR was found at the ends only, and what the recompute made of it', async () => {
    await insertOldProduct('seven-old', {
      rate: '7',
      terms: [12],
      min: 10_000n,
      max: 10_600n,
      maxAprE4: 70_120n,
    });
    // 23.99% over one month, 100.00–101.00 CNY: 24.0000% at both ends, 24.0479% at 100.30.
    await insertOldProduct('near-cap-old', {
      rate: '23.99',
      terms: [1],
      min: 10_000n,
      max: 10_100n,
      maxAprE4: 240_000n,
    });
    // Not an upper bound: below the true highest (7.0452%).
    expect(basisOf(await listed('seven-old'))).toEqual({
      max_apr: '7.0120',
      max_apr_at: null,
      max_apr_basis: 'ends',
    });
    expect(basisOf(await listed('near-cap-old'))).toEqual({
      max_apr: '24.0000',
      max_apr_at: null,
      max_apr_basis: 'ends',
    });

    await h.lending.recomputeMaxApr({ logger: { warn: () => {}, error: () => {} } });

    expect(basisOf(await listed('seven-old'))).toEqual({
      max_apr: '7.0452',
      max_apr_at: { amount: '10373', terms: 12 },
      max_apr_basis: 'every_amount',
    });
    expect(basisOf(await listed('near-cap-old'))).toEqual({
      max_apr: '24.0000',
      max_apr_at: null,
      max_apr_basis: 'cap',
    });
  });

  it('documents the basis in the OpenAPI document', async () => {
    const doc = (await h.get('/openapi.json', '')).json();
    const schema =
      doc.paths['/v1/operator/lending/products'].get.responses['200'].content['application/json'].schema;
    const product = schema.properties.items.items;
    const resolved = product.$ref
      ? doc.components.schemas[(product.$ref as string).split('/').at(-1)!]
      : product;
    expect(resolved.required).toContain('max_apr_basis');
    expect(resolved.properties.max_apr_basis).toMatchObject({ enum: ['ends', 'every_amount', 'cap'] });
    expect(resolved.properties.max_apr_basis.description).toMatch(/lending\.recompute-max-apr/);
  });
});
