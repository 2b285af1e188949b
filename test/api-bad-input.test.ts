import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { checkedApiHarness } from './support/checked-harness.ts';
import { newCustomer, scoreCustomer } from './support/customers.ts';
import type { ApiHarness, ApiResponse, RequestOptions } from './support/api-harness.ts';
import { cashLoanTerms, statementProductTerms } from './support/credit-products.ts';

/**
 * Every operation in the OpenAPI document, sent bad input: malformed path and query parameters,
 * bodies that are not objects, bodies with each property in turn of the wrong type, out of range
 * or absurdly long, random JSON, broken JSON, and missing or malformed Idempotency-Keys. The
 * promise under test is the brief's: bad input gets a clear error (application/problem+json with
 * a stable code), never a 5xx, and the ledger still verifies afterwards (checkedApiHarness).
 */

const h = checkedApiHarness();

/** The JSON Schema subset the zod → OpenAPI transform writes. */
interface Schema {
  type?: string | string[];
  format?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  minimum?: number;
  minLength?: number;
  pattern?: string;
}

interface Operation {
  method: 'GET' | 'POST';
  path: string;
  security?: Array<Record<string, unknown>>;
  parameters?: Array<{ in: string; name: string; schema?: Schema }>;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}

/** A value the schema accepts (or close to it), so a mutation of one property is the only fault. */
function plausible(schema: Schema | undefined, depth = 0): unknown {
  if (!schema || depth > 4) return null;
  if (schema.const !== undefined) return schema.const;
  if (schema.enum?.length) return schema.enum[0];
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives?.length)
    return plausible(alternatives.find((s) => s.type !== 'null') ?? alternatives[0], depth + 1);
  if (schema.allOf?.length) return plausible(schema.allOf[0], depth + 1);
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const name of schema.required ?? []) out[name] = plausible(schema.properties?.[name], depth + 1);
      return out;
    }
    case 'array':
      return [plausible(schema.items, depth + 1)];
    case 'integer':
    case 'number':
      return Math.max(1, schema.minimum ?? 1);
    case 'boolean':
      return true;
    case 'string':
      if (schema.format === 'uuid') return randomUUID();
      if (schema.format === 'date-time') return '2025-06-01T00:00:00.000Z';
      if (schema.format === 'date') return '2025-06-01';
      if (schema.format === 'uri') return 'https://example.com/hook';
      if (schema.pattern?.includes('\\d') || schema.pattern?.includes('[0-9]')) return '100';
      return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
    default:
      return 'x';
  }
}

/** Values that are wrong for almost any field: types, signs, sizes, encodings. */
const wrongValues: unknown[] = [
  null,
  '',
  'x'.repeat(20_000),
  -1,
  0,
  1.5,
  1e308,
  '-1',
  '1.5',
  '1e400',
  '99999999999999999999999999999999',
  // Amounts the schemas' pattern lets through, at and past the int8 columns' range.
  '9223372036854775807',
  '9223372036854775808',
  '9999999999999999999',
  '0x10',
  '\u0000',
  'not-a-uuid',
  '2025-02-30',
  true,
  {},
  [],
  [[[[[]]]]],
  { $gt: '' },
];

const badPathValues = [
  'not-a-uuid',
  '00000000-0000-0000-0000-000000000000',
  '%00',
  'x'.repeat(5_000),
  '..%2F..',
];

const badQueryValues = ['-1', '0', '1.5', '1e9', '', 'x'.repeat(5_000), '2025-13-45', '%00', 'null'];

interface Failure {
  request: string;
  status: number;
  contentType: string | undefined;
  body: string;
  logged?: unknown;
}

function check(failures: Failure[], what: string, res: ApiResponse): void {
  const contentType = res.headers['content-type'] as string | undefined;
  let code: unknown;
  try {
    code = (JSON.parse(res.body) as { code?: unknown }).code;
  } catch {
    code = undefined;
  }
  const badError =
    res.statusCode >= 400 &&
    (!contentType?.startsWith('application/problem+json') || typeof code !== 'string');
  if (res.statusCode >= 500 || badError)
    failures.push({ request: what, status: res.statusCode, contentType, body: res.body.slice(0, 300) });
}

/**
 * The operations of the OpenAPI document and what it takes to call them: a verified customer with
 * money, a merchant's API key, the operator key, and a `send` that records every answer breaking
 * the rule (with the error the server logged for a 5xx).
 */
async function prober(api: ApiHarness) {
  const spec = (await api.get('/openapi.json')).json<{
    paths: Record<string, Record<string, Omit<Operation, 'method' | 'path'>>>;
  }>();
  const operations: Operation[] = Object.entries(spec.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      ...op,
      method: method.toUpperCase() as Operation['method'],
      path,
    })),
  );
  expect(operations.length).toBeGreaterThan(150);

  const customer = await newCustomer(api, { funds: 1_000_00n });
  const merchant = await api.post('/v1/operator/merchants', { name: 'Bad input shop', fee_bps: 60 });
  const merchantKey = (
    await api.post(`/v1/operator/merchants/${merchant.json().id}/api-keys`, {
      name: 'till',
      scopes: ['payments:write', 'payments:read', 'refunds:write'],
    })
  ).json().key as string;
  const credential = (op: Operation): string | undefined => {
    const scheme = Object.keys(op.security?.[0] ?? {})[0];
    if (scheme === 'operatorKey') return api.adminKey;
    if (scheme === 'userAccessToken') return customer.token;
    if (op.path.startsWith('/v1/merchant/')) return merchantKey;
    return undefined;
  };

  const failures: Failure[] = [];
  const counts = { sent: 0 };
  const send = async (what: string, options: RequestOptions): Promise<ApiResponse> => {
    counts.sent += 1;
    const logged = api.logs.length;
    const res = await api.request(options);
    check(failures, what, res);
    // A 5xx names the error the server logged for it.
    const last = failures.at(-1);
    if (last?.request === what && last.status >= 500)
      last.logged = api.logs.slice(logged).find((l) => Number(l.level) >= 50)?.err;
    return res;
  };
  const headersFor = (op: Operation, extra: Record<string, string> = {}) => {
    const key = credential(op);
    return {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(op.method === 'POST' ? { 'idempotency-key': randomUUID() } : {}),
      ...extra,
    };
  };
  const url = (op: Operation, pathValue: () => string, query = '') =>
    op.path.replace(/\{[^}]+\}/g, () => encodeURIComponent(pathValue())).replace(/\/$/, '') + query;

  return { operations, send, headersFor, url, failures, counts, merchantKey, customer };
}

/** Each property of a body in turn set to each wrong value. */
function mutations(schema: Schema | undefined, base: unknown): Array<[string, unknown]> {
  if (!base || typeof base !== 'object' || Array.isArray(base)) return [];
  return Object.keys({ ...schema?.properties }).flatMap((name) =>
    wrongValues.map((wrong): [string, unknown] => [
      `${name}=${JSON.stringify(wrong).slice(0, 20)}`,
      { ...base, [name]: wrong },
    ]),
  );
}

/**
 * One prober for the file, each test starting with no failures and no count: its customer logs in
 * once (the log-in limiter would refuse a second customer after the first test's bad log-ins).
 */
let probing: ReturnType<typeof prober> | undefined;
async function probe() {
  probing ??= prober(h());
  const p = await probing;
  p.failures.length = 0;
  p.counts.sent = 0;
  return p;
}

const bodyOf = (op: Operation) => op.requestBody?.content?.['application/json']?.schema;

test('no operation answers bad input with a 5xx or an error that is not problem+json with a code', async () => {
  const { operations, send, headersFor, url, failures, counts } = await probe();
  // Fixed seed: a failure names its request and reproduces.
  const randomBodies = fc.sample(fc.jsonValue({ maxDepth: 3 }), {
    numRuns: 3 * operations.length,
    seed: 20261202,
  });

  for (const [n, op] of operations.entries()) {
    if (op.path === '/openapi.json' || op.path.startsWith('/docs')) continue;
    const hasPathParams = op.path.includes('{');
    for (const value of hasPathParams ? badPathValues : [])
      await send(`${op.method} ${op.path} path=${value.slice(0, 20)}`, {
        method: op.method,
        url: url(op, () => value),
        headers: headersFor(op),
        body: op.method === 'POST' ? {} : undefined,
      });
    const okUrl = url(op, () => randomUUID());
    for (const param of (op.parameters ?? []).filter((p) => p.in === 'query'))
      for (const value of badQueryValues)
        await send(`${op.method} ${op.path} ?${param.name}=${value.slice(0, 20)}`, {
          method: op.method,
          url: `${okUrl}?${param.name}=${encodeURIComponent(value)}`,
          headers: headersFor(op),
        });
    if (op.method !== 'POST') continue;

    const schema = bodyOf(op);
    const base = plausible(schema);
    const bodies: Array<[string, unknown]> = [
      ['plausible body', base],
      ['no body', undefined],
      ['null', null],
      ['array', []],
      ['string', 'text'],
      ['number', 42],
      ...randomBodies.slice(3 * n, 3 * n + 3).map((b, i): [string, unknown] => [`random body ${i}`, b]),
    ];
    bodies.push(...mutations(schema, base));
    if (base && typeof base === 'object' && !Array.isArray(base))
      bodies.push(['unknown property', { ...base, __proto__x: 1, constructor: { prototype: {} } }]);
    for (const [what, body] of bodies)
      await send(`POST ${op.path} ${what}`, {
        method: 'POST',
        url: okUrl,
        headers: headersFor(op, body === undefined ? {} : { 'content-type': 'application/json' }),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    for (const [what, extra, payload] of [
      ['broken JSON', { 'content-type': 'application/json' }, '{"a":'],
      ['text/plain', { 'content-type': 'text/plain' }, 'hello'],
      ['form', { 'content-type': 'application/x-www-form-urlencoded' }, 'a=1'],
      [
        'idempotency key empty',
        { 'content-type': 'application/json', 'idempotency-key': '' },
        JSON.stringify(base),
      ],
      [
        'idempotency key too long',
        { 'content-type': 'application/json', 'idempotency-key': 'k'.repeat(5_000) },
        JSON.stringify(base),
      ],
      [
        'bad bearer',
        { 'content-type': 'application/json', authorization: 'Bearer x.y.z' },
        JSON.stringify(base),
      ],
      [
        'bad scheme',
        { 'content-type': 'application/json', authorization: 'Basic Zm9vOmJhcg==' },
        JSON.stringify(base),
      ],
    ] as Array<[string, Record<string, string>, string]>)
      await send(`POST ${op.path} ${what}`, {
        method: 'POST',
        url: okUrl,
        headers: headersFor(op, extra),
        body: payload,
      });
  }
  expect(counts.sent).toBeGreaterThan(7_000);
  expect(failures).toEqual([]);
}, 300_000);

const UUID_IN_TEXT = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

test('operations on records that exist answer plausible and bad bodies with no 5xx', async () => {
  const { operations, send, headersFor, url, failures, counts, merchantKey, customer } = await probe();
  const api = h();
  // Records of many kinds: whatever the lists hold and the creating POSTs make from plausible
  // bodies, their ids harvested from every answer.
  const ids = new Set<string>();
  const harvest = (res: ApiResponse) => {
    for (const id of res.body.match(UUID_IN_TEXT) ?? []) ids.add(id);
  };
  /** A record the rest of the test finds: created as a user or operator would, its ids harvested. */
  const fixture = async <T = { id: string }>(what: string, url: string, body: unknown, key: string) => {
    const res = await send(`POST ${url} (fixture: ${what})`, {
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${key}`, 'idempotency-key': randomUUID() },
      body,
    });
    expect(res.statusCode, res.body).toBeLessThan(300);
    harvest(res);
    return res.json<T>();
  };
  // Money records: an order left open, another paid from the wallet and partly refunded.
  const order = { merchant_reference: 'bad-input', amount: '1000', description: 'fixture' };
  await fixture('open order', '/v1/merchant/payment-orders', order, merchantKey);
  const paid = await fixture(
    'order to pay',
    '/v1/merchant/payment-orders',
    { ...order, merchant_reference: 'bad-input-paid' },
    merchantKey,
  );
  const payment = await fixture(
    'payment',
    `/v1/payment-orders/${paid.id}/pay`,
    { method: 'balance' },
    customer.token,
  );
  await fixture('refund', '/v1/merchant/refunds', { payment_id: payment.id, amount: '300' }, merchantKey);
  // A store order: a sale that has started, the customer registered, an accepted attempt.
  const admin = api.adminKey;
  const product = await fixture('product', '/v1/operator/store/products', { name: 'Bad input phone' }, admin);
  const sku = await fixture(
    'sku',
    '/v1/operator/store/skus',
    { product_id: product.id, code: 'BAD-INPUT-1', name: 'phone', price: '2000', stock: 10 },
    admin,
  );
  const startsAt = api.clock.now().getTime() + 60_000;
  const sale = await fixture(
    'sale',
    '/v1/operator/store/sales',
    {
      sku_id: sku.id,
      name: 'Bad input sale',
      price: '1000',
      allotment: 5,
      per_user_limit: 2,
      starts_at: new Date(startsAt).toISOString(),
      ends_at: new Date(startsAt + 3_600_000).toISOString(),
      admission_window_ms: 0,
    },
    admin,
  );
  await fixture('registration', `/v1/store/sales/${sale.id}/registrations`, {}, customer.token);
  api.clock.advance(61_000);
  const attempt = await fixture<{ attempt_id: string }>(
    'attempt',
    `/v1/store/sales/${sale.id}/attempts`,
    { device_id: 'bad-input-device' },
    customer.token,
  );
  for (let i = 0; i < 200; i++) {
    const state = await send('GET attempt (fixture)', {
      method: 'GET',
      url: `/v1/store/sales/${sale.id}/attempts/${attempt.attempt_id}`,
      headers: { authorization: `Bearer ${customer.token}` },
    });
    harvest(state);
    if (state.json<{ order: unknown }>().order) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  // Credit records: the customer scored, a pay-later line with a purchase on it, a cash loan drawn
  // to the wallet, and a marketplace application with the platform's own offer.
  await scoreCustomer(api, customer);
  const paylater = await fixture(
    'pay-later product',
    '/v1/operator/paylater/products',
    {
      code: 'bad-input-later',
      name: 'Later',
      ...statementProductTerms,
    },
    admin,
  );
  await fixture(
    'limit bands',
    '/v1/operator/paylater/limit-bands',
    { bands: [{ min_score: 350, limit: '1000000' }] },
    admin,
  );
  await fixture('pay-later line', '/v1/paylater/line', { product_id: paylater.id }, customer.token);
  const laterOrder = await fixture(
    'order paid later',
    '/v1/merchant/payment-orders',
    { ...order, merchant_reference: 'bad-input-later' },
    merchantKey,
  );
  await fixture(
    'pay-later purchase',
    `/v1/payment-orders/${laterOrder.id}/pay`,
    { method: 'pay_later' },
    customer.token,
  );
  await fixture(
    'cash loan product',
    '/v1/operator/lending/products',
    {
      code: 'bad-input-cash',
      name: 'Cash',
      ...cashLoanTerms,
    },
    admin,
  );
  const loanApplication = await fixture<{ offer: { id: string } }>(
    'loan application',
    '/v1/loans/applications',
    { product_code: 'bad-input-cash', amount: '100000', terms: 6 },
    customer.token,
  );
  await fixture(
    'loan',
    `/v1/loans/offers/${loanApplication.offer.id}/accept`,
    { to: 'wallet' },
    customer.token,
  );
  await fixture(
    'marketplace application',
    '/v1/marketplace/applications',
    { product: 'loan', amount: '100000', term_months: 6, region_code: '110105' },
    customer.token,
  );
  const flat = operations.filter((op) => !op.path.includes('{') && op.path !== '/openapi.json');
  for (const op of flat.filter((o) => o.method === 'POST'))
    harvest(
      await send(`POST ${op.path} plausible body`, {
        method: 'POST',
        url: url(op, () => ''),
        headers: headersFor(op, { 'content-type': 'application/json' }),
        body: JSON.stringify(plausible(bodyOf(op))),
      }),
    );
  for (const op of flat.filter((o) => o.method === 'GET'))
    harvest(await send(`GET ${op.path}`, { method: 'GET', url: url(op, () => ''), headers: headersFor(op) }));
  expect(ids.size).toBeGreaterThan(20);

  // Every id in every path; where the record is of the route's kind, the bad bodies too.
  let matched = 0;
  const sample = [...ids].slice(0, 150);
  for (const op of operations.filter((o) => o.path.includes('{'))) {
    const base = op.method === 'POST' ? plausible(bodyOf(op)) : undefined;
    for (const id of sample) {
      const at = url(op, () => id);
      const res = await send(`${op.method} ${op.path} id=${id} plausible`, {
        method: op.method,
        url: at,
        headers: headersFor(op, op.method === 'POST' ? { 'content-type': 'application/json' } : {}),
        body: op.method === 'POST' ? JSON.stringify(base) : undefined,
      });
      // The record is of the route's kind where the route did its work or refused it on business
      // grounds; a 404, a 400 on the plausible body or a 403 says nothing about the id.
      if (res.statusCode >= 300 && res.statusCode !== 409 && res.statusCode !== 422) continue;
      matched += 1;
      for (const [what, body] of mutations(bodyOf(op), base))
        await send(`POST ${op.path} id=${id} ${what}`, {
          method: 'POST',
          url: at,
          headers: headersFor(op, { 'content-type': 'application/json' }),
          body: JSON.stringify(body),
        });
    }
  }
  expect(matched).toBeGreaterThan(150);
  expect(counts.sent).toBeGreaterThan(3_000);
  expect(failures).toEqual([]);
}, 300_000);
