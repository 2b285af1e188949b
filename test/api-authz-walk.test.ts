import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorScopes } from '../src/api/index.ts';
import { openApiHarness, type ApiHarness, type ApiResponse, type JsonObject } from './support/api-harness.ts';
import { newCustomer, type Customer } from './support/customers.ts';
import { newMerchant } from './support/merchants.ts';

/**
 * Authorisation over every route the app serves, walked from its OpenAPI document so a route added
 * later is covered without being named here.
 */
let h: ApiHarness;
let user: Customer;
let merchant: { id: string; key: string };

interface Operation {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  security: 'operatorKey' | 'userAccessToken' | 'merchantKey' | null;
  scope: string | undefined;
}
let operations: Operation[];

/** Routes anyone may call: sign-up and log-in, health, and partner callbacks (signed per request). */
const publicRoutes = new Set([
  'GET /health/live',
  'GET /health/ready',
  'POST /v1/phone-verifications',
  'POST /v1/users',
  'POST /v1/sessions',
  'POST /v1/sessions/refresh',
  'POST /v1/sessions/logout',
  'POST /v1/auth/password-reset',
  'POST /v1/marketplace/partner-callbacks/{id}',
]);

beforeAll(async () => {
  h = await openApiHarness();
  user = await newCustomer(h);
  merchant = await newMerchant(h, 'walk');
  const doc = (await h.get('/openapi.json', '')).json();
  operations = Object.entries<Record<string, JsonObject>>(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase() as Operation['method'],
      path,
      security: op.security ? (Object.keys(op.security[0])[0] as Operation['security']) : null,
      scope: /Requires the `([^`]+)` scope/.exec(op.description ?? '')?.[1],
    })),
  );
}, 60_000);
afterAll(async () => {
  await h.close();
});

const filled = (path: string) => path.replace(/\{[^}]+\}/g, '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b');

function send(op: Operation, token: string | null): Promise<ApiResponse> {
  return h.request({
    method: op.method,
    url: filled(op.path),
    body: op.method === 'POST' ? {} : undefined,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      'idempotency-key': randomUUID(),
    },
  });
}

function expectRefused(response: ApiResponse, status: number, what: string): void {
  expect(response.statusCode, `${what}: ${response.body}`).toBe(status);
  expect(response.headers['content-type'], what).toContain('application/problem+json');
}

describe('authorisation over every route', () => {
  it('every route needs an operator key, a user token or a merchant key, save the public few', () => {
    expect(operations.length).toBeGreaterThan(150);
    const unguarded = operations
      .filter((op) => op.security === null)
      .map((op) => `${op.method} ${op.path}`)
      .filter((name) => !publicRoutes.has(name));
    expect(unguarded).toEqual([]);
    // Every operator path is an operator route with a scope.
    const operatorPaths = operations.filter((op) => op.path.startsWith('/v1/operator/'));
    expect(operatorPaths.filter((op) => op.security !== 'operatorKey' || !op.scope)).toEqual([]);
  });

  it('operator routes refuse no credentials, a user token, a merchant key and a key without the scope', async () => {
    const keys = new Map<string, string>();
    // A key with every scope but the route's own.
    for (const scope of operatorScopes) {
      const others = operatorScopes.filter((s) => s !== scope);
      const created = await h.post('/v1/operator/api-keys', { name: `all but ${scope}`, scopes: others });
      expect(created.statusCode, created.body).toBe(201);
      keys.set(scope, created.json().key as string);
    }
    const operatorOps = operations.filter((op) => op.security === 'operatorKey');
    expect(operatorOps.length).toBeGreaterThan(80);
    for (const op of operatorOps) {
      const name = `${op.method} ${op.path}`;
      expectRefused(await send(op, null), 401, `${name} without credentials`);
      expectRefused(await send(op, user.token), 401, `${name} with a user token`);
      expectRefused(await send(op, merchant.key), 401, `${name} with a merchant key`);
      const wrong = await send(op, keys.get(op.scope!)!);
      expectRefused(wrong, 403, `${name} without ${op.scope}`);
      expect(wrong.json()).toMatchObject({ code: 'FORBIDDEN_SCOPE', required_scope: op.scope });
    }
  }, 120_000);

  it('user routes refuse no credentials, an operator key and a merchant key', async () => {
    const userOps = operations.filter((op) => op.security === 'userAccessToken');
    expect(userOps.length).toBeGreaterThan(50);
    for (const op of userOps) {
      const name = `${op.method} ${op.path}`;
      expectRefused(await send(op, null), 401, `${name} without credentials`);
      expectRefused(await send(op, h.adminKey), 401, `${name} with an operator key`);
      expectRefused(await send(op, merchant.key), 401, `${name} with a merchant key`);
    }
  }, 60_000);

  it('merchant routes refuse no credentials, a user token and an operator key', async () => {
    const merchantOps = operations.filter((op) => op.security === 'merchantKey');
    expect(merchantOps.length).toBeGreaterThan(10);
    for (const op of merchantOps) {
      const name = `${op.method} ${op.path}`;
      expectRefused(await send(op, null), 401, `${name} without credentials`);
      expectRefused(await send(op, user.token), 401, `${name} with a user token`);
      expectRefused(await send(op, h.adminKey), 401, `${name} with an operator key`);
    }
  }, 60_000);

  it('every operator request that can change state is in the audit log, which no route changes', async () => {
    const walker = await h.post('/v1/operator/api-keys', { name: 'audit walker', scopes: operatorScopes });
    const { id: walkerId, key } = walker.json() as { id: string; key: string };
    const changing = operations.filter((op) => op.security === 'operatorKey' && op.method !== 'GET');
    expect(changing.length).toBeGreaterThan(40);
    for (const op of changing) await send(op, key);

    const recorded: JsonObject[] = [];
    let cursor: string | null = null;
    do {
      const page = await h.get(
        `/v1/operator/audit-log?actor_kind=operator&actor_id=${walkerId}&limit=500${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.statusCode, page.body).toBe(200);
      recorded.push(...(page.json().items as JsonObject[]));
      cursor = page.json().next_cursor as string | null;
    } while (cursor);
    const name = (method: string, path: string) =>
      `${method} ${path.replace(/:(\w+)/g, '{$1}').replace(/(.)\/$/, '$1')}`;
    const routes = new Set(recorded.map((e) => name(String(e.method), String(e.route))));
    expect(changing.map((op) => name(op.method, op.path)).filter((n) => !routes.has(n))).toEqual([]);
    for (const entry of recorded)
      expect(entry).toMatchObject({ actor_kind: 'operator', actor_id: walkerId, actor_name: 'audit walker' });

    // The log is read-only through the API: its one route is GET.
    const auditOps = operations.filter((op) => op.path.includes('audit'));
    expect(auditOps.map((op) => op.method)).toEqual(['GET']);
    for (const method of ['POST', 'PUT', 'DELETE'] as const) {
      const response = await h.request({
        method,
        url: `/v1/operator/audit-log/${String(recorded[0]!.id)}`,
        headers: { authorization: `Bearer ${h.adminKey}`, 'idempotency-key': randomUUID() },
        body: method === 'DELETE' ? undefined : {},
      });
      expect(response.statusCode).toBe(404);
    }
  }, 120_000);
});
