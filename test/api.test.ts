import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, errorStatuses, PROBLEM_TYPE_BASE } from '../src/api/index.ts';
import { errorCodes } from '../src/core/index.ts';
import {
  openApiHarness,
  openWorldAndWallet,
  type ApiHarness,
  type ApiResponse,
  type JsonObject,
} from './support/api-harness.ts';

let h: ApiHarness;

beforeAll(async () => {
  h = await openApiHarness({
    beforeReady(app) {
      app.get('/v1/test/boom', { config: { scope: 'ledger:read' } }, async () => {
        throw new Error('connection string postgres://admin:hunter2@db leaked');
      });
    },
  });
});
afterAll(async () => {
  await h.close();
});

function expectProblem(response: ApiResponse, status: number, code: string): JsonObject {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = response.json();
  expect(problem).toMatchObject({
    status,
    code,
    type: PROBLEM_TYPE_BASE + code.toLowerCase().replaceAll('_', '-'),
  });
  expect(typeof problem.title).toBe('string');
  expect(typeof problem.detail).toBe('string');
  expect(typeof problem.instance).toBe('string');
  expect(problem.request_id).toBe(response.headers['x-request-id']);
  return problem;
}

describe('problem details', () => {
  it('maps every stable error code to an HTTP error status', () => {
    for (const code of errorCodes) {
      expect(errorStatuses[code], code).toBeGreaterThanOrEqual(400);
      expect(errorStatuses[code], code).toBeLessThan(600);
    }
  });

  it('answers unknown routes with a 404 problem', async () => {
    const problem = expectProblem(await h.get('/v1/nowhere?x=1'), 404, 'NOT_FOUND');
    expect(problem).toMatchObject({ title: 'Not found', instance: '/v1/nowhere' });
    expectProblem(await h.post('/v1/nowhere', {}), 404, 'NOT_FOUND');
  });

  it('keeps a caller-supplied request id', async () => {
    const response = await h.request({
      method: 'GET',
      url: '/nope',
      headers: { 'x-request-id': 'gateway-123' },
    });
    expect(expectProblem(response, 404, 'NOT_FOUND').request_id).toBe('gateway-123');
  });

  it('hides unexpected errors behind a 500 problem and logs them', async () => {
    const response = await h.get('/v1/test/boom');
    const problem = expectProblem(response, 500, 'INTERNAL');
    expect(response.body).not.toContain('hunter2');
    expect(problem.detail).toContain(problem.request_id);
    const logged = h.logs.find((l) => l.request_id === problem.request_id && l.level === 50);
    expect(JSON.stringify(logged)).toContain('hunter2');
  });

  it('never logs operator keys', async () => {
    await h.get('/v1/ledger/accounts');
    expect(h.logs.length).toBeGreaterThan(0);
    expect(JSON.stringify(h.logs)).not.toContain(h.adminKey);
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (line: string) => void lines.push(line) } });
    logger.info(
      { req: { headers: { authorization: 'Bearer mlt_op_secret' } }, headers: { authorization: 'x' } },
      'probe',
    );
    expect(lines.join('')).not.toContain('mlt_op_secret');
    expect(lines.join('')).toContain('[redacted]');
  });

  it('turns request validation failures into 400 with the field paths', async () => {
    const { world, wallet } = await openWorldAndWallet(h);
    const fractional = await h.post('/v1/ledger/transfers', {
      debit_account_id: world,
      credit_account_id: wallet,
      amount: '12.5',
    });
    const problem = expectProblem(fractional, 400, 'VALIDATION_FAILED');
    expect(problem.errors).toEqual([
      expect.objectContaining({ location: 'body', path: 'amount', pointer: '#/amount' }),
    ]);

    const numeric = await h.post('/v1/ledger/transfers', {
      debit_account_id: world,
      credit_account_id: wallet,
      amount: 125,
    });
    expect(expectProblem(numeric, 400, 'VALIDATION_FAILED').errors[0].path).toBe('amount');

    const legs = await h.post('/v1/ledger/entries', {
      legs: [
        { account_id: world, side: 'debit', amount: '5' },
        { account_id: 'not-a-uuid', side: 'sideways', amount: '5' },
      ],
    });
    const paths = expectProblem(legs, 400, 'VALIDATION_FAILED').errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['legs[1].account_id', 'legs[1].side']));

    const query = await h.get('/v1/ledger/accounts?limit=0');
    expect(expectProblem(query, 400, 'VALIDATION_FAILED').errors[0]).toMatchObject({
      location: 'querystring',
      path: 'limit',
    });
  });

  it('refuses malformed JSON and wrong media types with problems', async () => {
    const malformed = await h.request({
      method: 'POST',
      url: '/v1/ledger/accounts',
      body: '{"currency":',
      headers: {
        authorization: `Bearer ${h.adminKey}`,
        'idempotency-key': 'malformed-1',
        'content-type': 'application/json',
      },
    });
    expectProblem(malformed, 400, 'REQUEST_MALFORMED');
    const media = await h.request({
      method: 'POST',
      url: '/v1/ledger/accounts',
      body: 'currency=CNY',
      headers: {
        authorization: `Bearer ${h.adminKey}`,
        'idempotency-key': 'media-1',
        'content-type': 'application/x-www-form-urlencoded',
      },
    });
    expectProblem(media, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('renders ledger rule failures with their stable codes and details', async () => {
    const { world, wallet } = await openWorldAndWallet(h);
    const overdraw = await h.post('/v1/ledger/transfers', {
      debit_account_id: wallet,
      credit_account_id: world,
      amount: '100',
    });
    expect(expectProblem(overdraw, 422, 'INSUFFICIENT_FUNDS').account_id).toBe(wallet);
    const unbalanced = await h.post('/v1/ledger/entries', {
      legs: [
        { account_id: world, side: 'debit', amount: '5' },
        { account_id: wallet, side: 'credit', amount: '4' },
      ],
    });
    expect(expectProblem(unbalanced, 422, 'ENTRY_UNBALANCED')).toMatchObject({ debits: '5', credits: '4' });
    expectProblem(await h.get(`/v1/ledger/accounts/${crypto.randomUUID()}`), 404, 'ACCOUNT_NOT_FOUND');
    expectProblem(await h.get('/v1/ledger/entries/not-an-id'), 404, 'ENTRY_NOT_FOUND');
  });
});

describe('entries that move nothing', () => {
  it('refuses a transfer or entry with one account on both sides as a hold is refused (400)', async () => {
    const { world, wallet } = await openWorldAndWallet(h);
    await h.post('/v1/ledger/transfers', {
      debit_account_id: world,
      credit_account_id: wallet,
      amount: '100',
    });
    const self = await h.post('/v1/ledger/transfers', {
      debit_account_id: wallet,
      credit_account_id: wallet.toUpperCase(),
      amount: '10',
    });
    expectProblem(self, 400, 'VALIDATION_FAILED');
    const entry = await h.post('/v1/ledger/entries', {
      legs: [
        { account_id: wallet, side: 'debit', amount: '10' },
        { account_id: wallet, side: 'credit', amount: '10' },
      ],
    });
    expectProblem(entry, 400, 'VALIDATION_FAILED');
    const hold = await h.post('/v1/ledger/holds', {
      debit_account_id: wallet,
      credit_account_id: wallet,
      amount: '10',
    });
    expectProblem(hold, 400, 'VALIDATION_FAILED');
    const statement = await h.get(`/v1/ledger/accounts/${wallet}/statement`);
    expect(statement.json().items).toHaveLength(1);
  });
});

describe('ledger endpoints', () => {
  it('open → transfer → balance → statement pages → holds → reverse → verify', async () => {
    const { world, wallet } = await openWorldAndWallet(h);
    const merchant = (
      await h.post('/v1/ledger/accounts', {
        currency: 'CNY',
        code: 'merchant',
        bound: { kind: 'no_overdraft' },
      })
    ).json().id;
    const account = await h.get(`/v1/ledger/accounts/${wallet}`);
    expect(account.json()).toMatchObject({
      id: wallet,
      currency: 'CNY',
      code: 'user_wallet',
      bound: { kind: 'no_overdraft' },
    });

    const before = h.clock.now();
    h.clock.advance(60_000);
    const receipts = [];
    for (let i = 1; i <= 5; i++) {
      const r = await h.post('/v1/ledger/transfers', {
        debit_account_id: world,
        credit_account_id: wallet,
        amount: String(i * 1000),
        metadata: { n: i },
      });
      expect(r.statusCode, r.body).toBe(201);
      receipts.push(r.json());
      h.clock.advance(60_000);
    }
    expect(receipts[0]).toMatchObject({ kind: 'entry', hold_id: null });
    expect(typeof receipts[0].seq).toBe('string');

    const balances = (await h.get(`/v1/ledger/accounts/${wallet}`)).json().balances;
    expect(balances).toEqual({
      debits_posted: '0',
      credits_posted: '15000',
      debits_pending: '0',
      credits_pending: '0',
      posted: '15000',
      available: '15000',
    });

    // Point in time: before any transfer, and just after the second.
    expect(
      (await h.get(`/v1/ledger/accounts/${wallet}/balance?as_of=${before.toISOString()}`)).json().posted,
    ).toBe('0');
    const afterSecond = new Date(before.getTime() + 2 * 60_000 + 1).toISOString();
    const pit = await h.get(`/v1/ledger/accounts/${wallet}/balance?as_of=${encodeURIComponent(afterSecond)}`);
    expect(pit.json()).toMatchObject({ account_id: wallet, posted: '3000', credits_posted: '3000' });
    expect((await h.get(`/v1/ledger/accounts/${wallet}/balance`)).json().posted).toBe('15000');

    // Statement, two lines a page.
    const lines: Array<Record<string, string>> = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: ApiResponse = await h.get(
        `/v1/ledger/accounts/${wallet}/statement?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.statusCode, page.body).toBe(200);
      lines.push(...page.json().items);
      cursor = page.json().next_cursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(lines.map((l) => l.balance_after)).toEqual(['1000', '3000', '6000', '10000', '15000']);
    expect(lines[0]).toMatchObject({ side: 'credit', phase: 'posted', amount: '1000', kind: 'entry' });
    const windowed = await h.get(
      `/v1/ledger/accounts/${wallet}/statement?from=${encodeURIComponent(new Date(before.getTime() + 120_000).toISOString())}&to=${encodeURIComponent(new Date(before.getTime() + 240_000).toISOString())}`,
    );
    expect(windowed.json().items.map((l: { amount: string }) => l.amount)).toEqual(['2000', '3000']);

    // Multi-leg entry.
    const fee = (
      await h.post('/v1/ledger/accounts', {
        currency: 'CNY',
        code: 'fee_income',
        bound: { kind: 'credit_only' },
      })
    ).json().id;
    const entry = await h.post('/v1/ledger/entries', {
      legs: [
        { account_id: wallet, side: 'debit', amount: '1000' },
        { account_id: merchant, side: 'credit', amount: '994' },
        { account_id: fee, side: 'credit', amount: '6' },
      ],
      metadata: { order: 'o-1' },
    });
    expect(entry.statusCode, entry.body).toBe(201);
    const journal = (await h.get(`/v1/ledger/entries/${entry.json().entry_id}`)).json();
    expect(journal.legs).toHaveLength(3);
    expect(journal).toMatchObject({ kind: 'entry', metadata: { order: 'o-1' }, reverses_seq: null });

    // Hold: place, see available drop, post part.
    const hold = await h.post('/v1/ledger/holds', {
      debit_account_id: wallet,
      credit_account_id: merchant,
      amount: '4000',
      timeout_seconds: 3600,
    });
    expect(hold.statusCode, hold.body).toBe(201);
    const holdId = hold.json().hold_id;
    expect((await h.get(`/v1/ledger/accounts/${wallet}`)).json().balances).toMatchObject({
      posted: '14000',
      available: '10000',
    });
    expect((await h.get(`/v1/ledger/holds/${holdId}`)).json()).toMatchObject({
      status: 'pending',
      amount: '4000',
      posted_amount: '0',
    });
    const posted = await h.post(`/v1/ledger/holds/${holdId}/post`, { amount: '2500' });
    expect(posted.statusCode, posted.body).toBe(201);
    expect((await h.get(`/v1/ledger/holds/${holdId}`)).json()).toMatchObject({
      status: 'posted',
      posted_amount: '2500',
    });
    expectProblem(await h.post(`/v1/ledger/holds/${holdId}/void`), 409, 'HOLD_NOT_PENDING');

    // Another hold, voided with no body at all.
    const second = (
      await h.post('/v1/ledger/holds', {
        debit_account_id: wallet,
        credit_account_id: merchant,
        amount: '500',
      })
    ).json();
    const voided = await h.post(`/v1/ledger/holds/${second.hold_id}/void`);
    expect(voided.statusCode, voided.body).toBe(201);
    expect((await h.get(`/v1/ledger/holds/${second.hold_id}`)).json().status).toBe('voided');
    expect((await h.get(`/v1/ledger/accounts/${wallet}`)).json().balances).toMatchObject({
      posted: '11500',
      available: '11500',
    });

    // Reverse the entry; twice is refused.
    const reversal = await h.post(`/v1/ledger/entries/${entry.json().entry_id}/reverse`, {
      metadata: { reason: 'refund' },
    });
    expect(reversal.statusCode, reversal.body).toBe(201);
    expect((await h.get(`/v1/ledger/entries/${reversal.json().entry_id}`)).json().reverses_seq).toBe(
      entry.json().seq,
    );
    expect((await h.get(`/v1/ledger/accounts/${wallet}`)).json().balances.posted).toBe('12500');
    expectProblem(
      await h.post(`/v1/ledger/entries/${entry.json().entry_id}/reverse`, {}),
      409,
      'ENTRY_ALREADY_REVERSED',
    );

    const verify = await h.get('/v1/ledger/verify');
    expect(verify.statusCode).toBe(200);
    expect(verify.json().ok).toBe(true);
    expect(verify.json().checks.map((c: { name: string }) => c.name)).toContain('hash_chain');
  });

  it('pages through accounts with a cursor', async () => {
    for (let i = 0; i < 3; i++)
      await h.post('/v1/ledger/accounts', {
        currency: 'CNY',
        code: 'paging_probe',
        bound: { kind: 'unbounded' },
      });
    const first = (await h.get('/v1/ledger/accounts?code=paging_probe&limit=2')).json();
    expect(first.items).toHaveLength(2);
    const second = (
      await h.get(`/v1/ledger/accounts?code=paging_probe&limit=2&cursor=${first.next_cursor}`)
    ).json();
    expect(second.items).toHaveLength(1);
    expect(second.next_cursor).toBeNull();
    expect(new Set([...first.items, ...second.items].map((a: { id: string }) => a.id)).size).toBe(3);
    expectProblem(await h.get('/v1/ledger/accounts?cursor=%%%'), 400, 'VALIDATION_FAILED');
  });

  it('refuses tampered statement cursors and year-0 instants with 400, not 500', async () => {
    const { world, wallet } = await openWorldAndWallet(h);
    for (let i = 0; i < 2; i++)
      await h.post('/v1/ledger/transfers', {
        debit_account_id: world,
        credit_account_id: wallet,
        amount: '1',
      });
    const statement = (query: string) => h.get(`/v1/ledger/accounts/${wallet}/statement?${query}`);
    // Well-formed figures past the columns' ranges (int8 seq, int leg index).
    for (const forged of ['9223372036854775808|0', '99999999999999999999|0', '1|2147483648', '1|99999999999'])
      expectProblem(
        await statement(`cursor=${Buffer.from(forged).toString('base64url')}`),
        400,
        'VALIDATION_FAILED',
      );
    const last = Buffer.from('9223372036854775807|2147483647').toString('base64url');
    expect((await statement(`cursor=${last}`)).json()).toEqual({ items: [], next_cursor: null });
    // PostgreSQL has no year 0.
    for (const instant of ['0000-01-01T00:00:00Z', '0001-01-01T00:30:00+01:00']) {
      const q = encodeURIComponent(instant);
      expectProblem(await statement(`from=${q}`), 400, 'VALIDATION_FAILED');
      expectProblem(await statement(`to=${q}`), 400, 'VALIDATION_FAILED');
      expectProblem(
        await h.get(`/v1/ledger/accounts/${wallet}/balance?as_of=${q}`),
        400,
        'VALIDATION_FAILED',
      );
    }
    const first = await h.get(`/v1/ledger/accounts/${wallet}/balance?as_of=0001-01-01T00:00:00Z`);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json().posted).toBe('0');
  });

  it('refuses a lone surrogate in metadata and an absurdly deep body with 400, not 500', async () => {
    const { world, wallet } = await openWorldAndWallet(h);
    const send = (url: string, payload: string) =>
      h.request({
        method: 'POST',
        url,
        body: payload as unknown as object,
        headers: {
          'content-type': 'application/json',
          'idempotency-key': crypto.randomUUID(),
          authorization: `Bearer ${h.adminKey}`,
        },
      });
    const parties = `"debit_account_id":"${world}","credit_account_id":"${wallet}","amount":"1"`;
    for (const [url, payload] of [
      ['/v1/ledger/transfers', `{${parties},"metadata":{"memo":"\\ud800"}}`],
      ['/v1/ledger/holds', `{${parties},"metadata":{"\\udc00":1}}`],
      [
        '/v1/ledger/accounts',
        '{"currency":"CNY","code":"x","bound":{"kind":"unbounded"},"metadata":{"a":"\\udfff"}}',
      ],
      ['/v1/ledger/transfers', `{${parties},"metadata":{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`],
    ] as const)
      expectProblem(await send(url, payload), 400, 'VALIDATION_FAILED');
    expect((await h.get(`/v1/ledger/accounts/${wallet}`)).json().balances.posted).toBe('0');
  });

  it('refuses account metadata over 4096 UTF-8 bytes with 400', async () => {
    const open = (note: string) =>
      h.post('/v1/ledger/accounts', {
        currency: 'CNY',
        code: 'noted',
        bound: { kind: 'unbounded' },
        metadata: { note },
      });
    const tooBig = await open('汉'.repeat(1362));
    expectProblem(tooBig, 400, 'VALIDATION_FAILED');
    expect(tooBig.json().detail).toMatch(/4096 bytes/);
    expect((await open('汉'.repeat(1361))).statusCode).toBe(201);
  });

  it('uses the id in the body when the client gives one', async () => {
    const id = '0190a5b4-7c00-7000-8000-000000000001';
    const created = await h.post('/v1/ledger/accounts', {
      id,
      currency: 'CNY',
      code: 'chosen',
      bound: { kind: 'unbounded' },
    });
    expect(created.json().id).toBe(id);
    // Same id and fields under another Idempotency-Key: the ledger's own idempotency returns it.
    expect(
      (
        await h.post('/v1/ledger/accounts', {
          id,
          currency: 'CNY',
          code: 'chosen',
          bound: { kind: 'unbounded' },
        })
      ).json().id,
    ).toBe(id);
    const clash = await h.post('/v1/ledger/accounts', {
      id,
      currency: 'CNY',
      code: 'other',
      bound: { kind: 'unbounded' },
    });
    expectProblem(clash, 409, 'ACCOUNT_ID_CONFLICT');
  });

  it('carries amounts beyond 2^53 through JSON exactly', async () => {
    const { world, wallet } = await openWorldAndWallet(h);
    const legAmount = 10n ** 15n; // the ledger's largest leg
    for (let i = 0; i < 9; i++) {
      expect(
        (
          await h.post('/v1/ledger/transfers', {
            debit_account_id: world,
            credit_account_id: wallet,
            amount: legAmount.toString(),
          })
        ).statusCode,
      ).toBe(201);
    }
    const rest = 2n ** 53n + 1n - 9n * legAmount;
    await h.post('/v1/ledger/transfers', {
      debit_account_id: world,
      credit_account_id: wallet,
      amount: rest.toString(),
    });
    const response = await h.get(`/v1/ledger/accounts/${wallet}`);
    expect(response.json().balances.posted).toBe('9007199254740993');
    expect(response.body).toContain('"posted":"9007199254740993"');
    expect((await h.get(`/v1/ledger/accounts/${world}`)).json().balances.posted).toBe('-9007199254740993');
    const overdraft = await h.post('/v1/ledger/accounts', {
      currency: 'CNY',
      code: 'credit_line',
      bound: { kind: 'overdraft_limit', limit: '900000000000000' },
    });
    expect(overdraft.json().bound).toEqual({ kind: 'overdraft_limit', limit: '900000000000000' });
  });
});

describe('operations endpoints', () => {
  it('is live and ready', async () => {
    expect((await h.get('/health/live', '')).json()).toEqual({ status: 'ok' });
    const ready = await h.get('/health/ready', '');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ok', database: 'ok' });
  });

  it('exposes Prometheus metrics: process, HTTP by route and status, and the ledger', async () => {
    await h.get('/v1/ledger/accounts');
    const metrics = await h.get('/metrics', '');
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.body).toContain('process_cpu_user_seconds_total');
    expect(metrics.body).toMatch(
      /millet_http_request_duration_seconds_bucket\{[^}]*route="\/v1\/ledger\/accounts"[^}]*status="200"/,
    );
    expect(metrics.body).toContain('millet_ledger_batch_size');
    expect(metrics.body).toContain('millet_ledger_commands_total{outcome="accepted"}');
  });

  it('publishes OpenAPI 3.1 with the ledger paths, and Swagger UI', async () => {
    const response = await h.get('/openapi.json', '');
    expect(response.statusCode).toBe(200);
    const doc = response.json();
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.info.title).toBe('Millet API');
    for (const path of [
      '/v1/ledger/accounts',
      '/v1/ledger/accounts/{id}',
      '/v1/ledger/accounts/{id}/balance',
      '/v1/ledger/accounts/{id}/statement',
      '/v1/ledger/transfers',
      '/v1/ledger/entries',
      '/v1/ledger/entries/{id}',
      '/v1/ledger/entries/{id}/reverse',
      '/v1/ledger/holds',
      '/v1/ledger/holds/{id}',
      '/v1/ledger/holds/{id}/post',
      '/v1/ledger/holds/{id}/void',
      '/v1/ledger/verify',
      '/v1/operator/api-keys',
      '/v1/operator/api-keys/{id}/revoke',
      '/health/ready',
    ]) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
    expect(doc.paths).not.toHaveProperty(['/v1/test/boom']);
    const transfer = doc.paths['/v1/ledger/transfers'].post;
    expect(transfer.security).toEqual([{ operatorKey: [] }]);
    expect(transfer.parameters).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ in: 'header', name: 'idempotency-key', required: true }),
      ]),
    );
    // Partners' callbacks are identified by their signed webhook-id: the header is optional there.
    const callback = doc.paths['/v1/marketplace/partner-callbacks/{id}'].post;
    expect(callback.parameters).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ in: 'header', name: 'idempotency-key', required: false }),
      ]),
    );
    expect(transfer.requestBody.content['application/json'].schema.properties.amount).toMatchObject({
      type: 'string',
    });
    expect(doc.components.securitySchemes.operatorKey).toMatchObject({ type: 'http', scheme: 'bearer' });
    const ui = await h.get('/docs', '');
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toContain('swagger');
  });
});

describe('readiness without a database', () => {
  it('answers 503 with a problem once the database is closed', async () => {
    const lonely = await openApiHarness();
    try {
      await lonely.ledger.close();
      await lonely.t.db.close();
      const ready = await lonely.get('/health/ready', '');
      expectProblem(ready, 503, 'DATABASE_UNAVAILABLE');
      expect((await lonely.get('/health/live', '')).statusCode).toBe(200);
      expectProblem(await lonely.get('/v1/ledger/accounts'), 503, 'DATABASE_UNAVAILABLE');
    } finally {
      await lonely.close();
    }
  });
});
