import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiHarness, type ApiHarness, type ApiResponse } from './support/api-harness.ts';
import { newCustomer, signUpOverHttp } from './support/customers.ts';
import { newMerchant } from './support/merchants.ts';
import { makeResidentId } from './support/resident-ids.ts';

let h: ApiHarness;

beforeAll(async () => {
  h = await openApiHarness();
});
afterAll(async () => {
  await h.close();
});

let counter = 0;
function freshPhone(): string {
  counter += 1;
  return `137${String(20_000_000 + counter * 6113).slice(-8)}`;
}

/** A POST as a user (or anonymous): never the operator key. */
function postAs(token: string | null, url: string, body: unknown, idempotencyKey: string = randomUUID()) {
  return h.post(url, body, { key: token, idempotencyKey });
}

function getAs(token: string | null, url: string): Promise<ApiResponse> {
  return h.get(url, token ?? '');
}

async function signUpAndLogIn(phone = freshPhone(), password = 'password-1') {
  const user = await signUpOverHttp(h, phone, password);
  expect(user.statusCode).toBe(201);
  const session = await postAs(null, '/v1/sessions', { phone, password });
  expect(session.statusCode).toBe(201);
  return { phone, user: user.json(), tokens: session.json() };
}

describe('users and sessions over HTTP', () => {
  it('signs up (masked phone), logs in, reads /v1/me with the access token', async () => {
    const phone = freshPhone();
    const created = await signUpOverHttp(h, phone, 'password-1');
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({
      phone: `${phone.slice(0, 3)}****${phone.slice(-4)}`,
      kyc_status: 'none',
      account_class: null,
      is_adult: false,
    });
    expect(created.body).not.toContain(phone);

    const session = await postAs(null, '/v1/sessions', { phone: `+86${phone}`, password: 'password-1' });
    expect(session.statusCode).toBe(201);
    const tokens = session.json();
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 900, user_id: created.json().id });

    const me = await getAs(tokens.access_token, '/v1/me');
    expect(me.statusCode).toBe(200);
    expect(me.json().id).toBe(created.json().id);
  });

  it('answers 409 for a duplicate phone and 422 for a weak password', async () => {
    const phone = freshPhone();
    await signUpOverHttp(h, phone, 'password-1');
    h.clock.advance(60_000);
    const again = await signUpOverHttp(h, phone, 'password-2');
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('PHONE_ALREADY_REGISTERED');
    expect(again.body).not.toContain(phone);
    const weak = await signUpOverHttp(h, freshPhone(), 'short');
    expect([weak.statusCode, weak.json().code]).toEqual([422, 'PASSWORD_TOO_WEAK']);
    const badPhone = await postAs(null, '/v1/users', {
      phone: '12345',
      password: 'password-1',
      verification_code: '123456',
    });
    expect([badPhone.statusCode, badPhone.json().code]).toEqual([422, 'PHONE_INVALID']);
  });

  it('needs a user token on /v1/me: none, an operator key, an expired token are 401', async () => {
    const { tokens } = await signUpAndLogIn();
    expect((await getAs(null, '/v1/me')).statusCode).toBe(401);
    const withOperatorKey = await getAs(h.adminKey, '/v1/me');
    expect([withOperatorKey.statusCode, withOperatorKey.json().code]).toEqual([401, 'UNAUTHENTICATED']);
    // …and a user token does not open operator routes.
    expect((await getAs(tokens.access_token, '/v1/ledger/accounts')).statusCode).toBe(401);
    h.clock.advance(15 * 60_000);
    const expired = await getAs(tokens.access_token, '/v1/me');
    expect([expired.statusCode, expired.json().code]).toEqual([401, 'ACCESS_TOKEN_EXPIRED']);
  });

  it('refreshes with rotation, detects reuse, and logs out', async () => {
    const { tokens } = await signUpAndLogIn();
    const refreshed = await postAs(null, '/v1/sessions/refresh', { refresh_token: tokens.refresh_token });
    expect(refreshed.statusCode).toBe(200);
    const next = refreshed.json();
    expect(next.refresh_token).not.toBe(tokens.refresh_token);

    const reused = await postAs(null, '/v1/sessions/refresh', { refresh_token: tokens.refresh_token });
    expect([reused.statusCode, reused.json().code]).toEqual([401, 'REFRESH_TOKEN_REUSED']);
    expect((await getAs(next.access_token, '/v1/me')).statusCode).toBe(401);

    const again = await signUpAndLogIn();
    const out = await postAs(null, '/v1/sessions/logout', { refresh_token: again.tokens.refresh_token });
    expect(out.statusCode).toBe(204);
    expect((await getAs(again.tokens.access_token, '/v1/me')).statusCode).toBe(401);
    const after = await postAs(null, '/v1/sessions/refresh', { refresh_token: again.tokens.refresh_token });
    expect([after.statusCode, after.json().code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
  });

  it('keys anonymous requests by what they ask: strangers sharing an Idempotency-Key each get their own answer', async () => {
    const key = `shared-${randomUUID()}`;
    const [first, second] = [freshPhone(), freshPhone()];
    const a = await postAs(null, '/v1/phone-verifications', { phone: first, purpose: 'sign_up' }, key);
    const b = await postAs(null, '/v1/phone-verifications', { phone: second, purpose: 'sign_up' }, key);
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    expect(b.headers['idempotent-replayed']).toBeUndefined();
    expect(h.sms.lastCodeTo(second)).toMatch(/^\d{6}$/);
    // Another route under the same key runs too, and no answer names what the other caller asked.
    const other = await postAs(null, '/v1/sessions', { phone: second, password: 'not-the-password' }, key);
    expect([other.statusCode, other.json().code]).toEqual([401, 'INVALID_CREDENTIALS']);
    expect(other.body).not.toContain('/v1/phone-verifications');
    // The identical request is still a retry: replayed, no second SMS.
    const sent = h.sms.messages().length;
    const retry = await postAs(null, '/v1/phone-verifications', { phone: first, purpose: 'sign_up' }, key);
    expect([retry.statusCode, retry.headers['idempotent-replayed']]).toEqual([202, 'true']);
    expect(h.sms.messages()).toHaveLength(sent);
  });

  it('logs in again on a retry under the same key: tokens are never stored, so never replayed as null', async () => {
    const { phone } = await signUpAndLogIn();
    const key = randomUUID();
    const first = await postAs(null, '/v1/sessions', { phone, password: 'password-1' }, key);
    const retry = await postAs(null, '/v1/sessions', { phone, password: 'password-1' }, key);
    expect([first.statusCode, retry.statusCode]).toEqual([201, 201]);
    expect(retry.json().access_token).toEqual(expect.any(String));
    expect(retry.json().session_id).not.toBe(first.json().session_id);
    expect((await getAs(retry.json().access_token, '/v1/me')).statusCode).toBe(200);
    const stored = await h.t.db.query('SELECT 1 FROM api_idempotency_keys WHERE idempotency_key = $1', [key]);
    expect(stored.rows).toHaveLength(0);
  });

  it('rate-limits failed log-ins with 429 and Retry-After, then lets the user in after the window', async () => {
    const { phone } = await signUpAndLogIn();
    for (let i = 0; i < 5; i += 1) {
      const wrong = await postAs(null, '/v1/sessions', { phone, password: 'not-the-password' });
      expect([wrong.statusCode, wrong.json().code]).toEqual([401, 'INVALID_CREDENTIALS']);
    }
    const key = randomUUID();
    const limited = await postAs(null, '/v1/sessions', { phone, password: 'password-1' }, key);
    expect(limited.statusCode).toBe(429);
    expect(limited.json().code).toBe('RATE_LIMITED');
    expect(limited.headers['retry-after']).toBe('900');
    expect(limited.json().retry_after_seconds).toBe(900);

    h.clock.advance(900_000);
    // The same Idempotency-Key works after the wait: a 429 is not remembered.
    const ok = await postAs(null, '/v1/sessions', { phone, password: 'password-1' }, key);
    expect(ok.statusCode).toBe(201);
  });

  it('limits per client address across phone numbers', async () => {
    const ip = '203.0.113.9';
    const attempt = () =>
      h.request({
        method: 'POST',
        url: '/v1/sessions',
        body: { phone: freshPhone(), password: 'guess-guess' },
        headers: { 'idempotency-key': randomUUID() },
      });
    // inject() comes from 127.0.0.1; use the app directly to set the remote address.
    const fromIp = async () =>
      h.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        remoteAddress: ip,
        headers: { 'idempotency-key': randomUUID() },
        payload: { phone: freshPhone(), password: 'guess-guess' },
      });
    for (let i = 0; i < 20; i += 1) expect((await fromIp()).statusCode).toBe(401);
    expect((await fromIp()).statusCode).toBe(429);
    expect((await attempt()).statusCode).toBe(401); // another address
    h.clock.advance(900_000);
  });

  it('holds both limits against guesses sent together, with the same answer for an unknown phone', async () => {
    const { phone } = await signUpAndLogIn();
    const burst = async (target: string, remoteAddress: string, length: number) => {
      const responses = await Promise.all(
        Array.from({ length }, (_, i) =>
          h.app.inject({
            method: 'POST',
            url: '/v1/sessions',
            remoteAddress,
            headers: { 'idempotency-key': randomUUID() },
            payload: { phone: target, password: `wrong-guess-${i}` },
          }),
        ),
      );
      const codes = responses.map((r) => r.statusCode);
      return {
        counts: [codes.filter((c) => c === 401).length, codes.filter((c) => c === 429).length],
        limited: responses.find((r) => r.statusCode === 429)!,
      };
    };
    // 40 guesses from one address at one phone: 5 reach the password check, as one by one.
    const known = await burst(phone, '203.0.113.50', 40);
    expect(known.counts).toEqual([5, 35]);
    const unknown = await burst(freshPhone(), '203.0.113.51', 40);
    expect(unknown.counts).toEqual([5, 35]);
    const answer = (r: typeof known.limited) => ({ ...r.json(), request_id: undefined });
    expect(answer(unknown.limited)).toEqual(answer(known.limited));
    expect(unknown.limited.headers['retry-after']).toBe(known.limited.headers['retry-after']);
    const right = (remoteAddress: string) =>
      h.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        remoteAddress,
        headers: { 'idempotency-key': randomUUID() },
        payload: { phone, password: 'password-1' },
      });
    // The right password is refused from the guessing address only: the owner elsewhere gets in.
    expect((await right('203.0.113.50')).statusCode).toBe(429);
    expect((await right('203.0.113.52')).statusCode).toBe(201);
    h.clock.advance(900_000);
  });

  it('limits "already registered" answers from one address, even sent together', async () => {
    // Only a phone's holder reaches that answer now (it takes the code sent to the phone), so the
    // burst is thirty registered numbers, each with its own code.
    const registered = Array.from({ length: 30 }, () => freshPhone());
    const codes = new Map<string, string>();
    for (const phone of registered) {
      await h.identity.createUser({ phone, password: 'password-1' });
      const sent = await postAs(null, '/v1/phone-verifications', { phone, purpose: 'sign_up' });
      codes.set(phone, sent.json().sandbox_code as string);
    }
    const signUpFrom = (remoteAddress: string, target: string, code = codes.get(target)!) =>
      h.app.inject({
        method: 'POST',
        url: '/v1/users',
        remoteAddress,
        headers: { 'idempotency-key': randomUUID() },
        payload: { phone: target, password: 'password-2', verification_code: code },
      });
    const signUpNewFrom = async (remoteAddress: string) => {
      const phone = freshPhone();
      const sent = await postAs(null, '/v1/phone-verifications', { phone, purpose: 'sign_up' });
      return signUpFrom(remoteAddress, phone, sent.json().sandbox_code as string);
    };
    const responses = await Promise.all(registered.map((phone) => signUpFrom('203.0.113.60', phone)));
    const answers = responses.map((r) => `${r.statusCode} ${r.json().code}`);
    expect(answers.filter((c) => c === '409 PHONE_ALREADY_REGISTERED')).toHaveLength(20);
    expect(answers.filter((c) => c === '429 RATE_LIMITED')).toHaveLength(10);
    const limited = await signUpNewFrom('203.0.113.60');
    expect([limited.statusCode, limited.headers['retry-after']]).toEqual([429, '900']);
    // Everyone else signs up as before.
    expect((await signUpNewFrom('203.0.113.61')).statusCode).toBe(201);
    h.clock.advance(900_000);
    expect((await signUpNewFrom('203.0.113.60')).statusCode).toBe(201);
  });

  it('keys the address limit on the socket, not on an X-Forwarded-For anyone can send', async () => {
    const failFrom = (forwardedFor: string) =>
      h.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        remoteAddress: '203.0.113.77',
        headers: { 'idempotency-key': randomUUID(), 'x-forwarded-for': forwardedFor },
        payload: { phone: freshPhone(), password: 'guess-guess' },
      });
    for (let i = 0; i < 20; i += 1) expect((await failFrom(`198.51.100.${i}`)).statusCode).toBe(401);
    expect((await failFrom('198.51.100.200')).statusCode).toBe(429);
    h.clock.advance(900_000);
  });

  it('behind a trusted proxy (MILLET_TRUST_PROXY), keys it on the forwarded client address', async () => {
    const behind = await openApiHarness({ trustProxy: '10.0.0.0/8' });
    try {
      const failFrom = (client: string, proxy = '10.1.2.3') =>
        behind.app.inject({
          method: 'POST',
          url: '/v1/sessions',
          remoteAddress: proxy,
          headers: { 'idempotency-key': randomUUID(), 'x-forwarded-for': client },
          payload: { phone: freshPhone(), password: 'guess-guess' },
        });
      for (let i = 0; i < 20; i += 1) expect((await failFrom('198.51.100.7')).statusCode).toBe(401);
      expect((await failFrom('198.51.100.7')).statusCode).toBe(429);
      // Another client through the same proxy is not locked out with the first.
      expect((await failFrom('198.51.100.8')).statusCode).toBe(401);
      // A peer outside the trusted range is its own client whatever the header says.
      expect((await failFrom('198.51.100.8', '203.0.113.5')).statusCode).toBe(401);
      expect((await failFrom('198.51.100.7', '203.0.113.5')).statusCode).toBe(401);
    } finally {
      await behind.close();
    }
  });
});

describe('identity verification over HTTP', () => {
  it('verifies identity, answers masked, and keeps no plaintext PII in the database or the logs', async () => {
    const { phone, tokens, user } = await signUpAndLogIn();
    const residentId = makeResidentId('110105', '19920229', '321');
    const verified = await postAs(tokens.access_token, '/v1/me/identity', {
      real_name: '王小明',
      resident_id: residentId,
      account_class: 'II',
    });
    expect(verified.statusCode).toBe(200);
    expect(verified.json()).toMatchObject({
      kyc_status: 'verified',
      account_class: 'II',
      real_name: '王**',
      resident_id: `1101**********${residentId.slice(-4)}`,
      birth_date: '1992-02-29',
      age_years: 33,
      is_adult: true,
    });
    for (const body of [verified.body, (await getAs(tokens.access_token, '/v1/me')).body]) {
      expect(body).not.toContain(residentId);
      expect(body).not.toContain('王小明');
      expect(body).not.toContain(phone);
    }

    const raw = JSON.stringify(
      (await h.t.db.query('SELECT * FROM identity_users WHERE id = $1', [user.id])).rows,
    );
    for (const plaintext of [phone, '王小明', residentId, residentId.slice(0, 14)])
      expect(raw).not.toContain(plaintext);
    // Nor in the idempotency records (their fingerprints use keyed digests)…
    const idempotency = JSON.stringify((await h.t.db.query('SELECT * FROM api_idempotency_keys')).rows);
    for (const plaintext of [phone, '王小明', residentId, 'password-1'])
      expect(idempotency).not.toContain(plaintext);
    expect(idempotency).not.toContain(tokens.refresh_token);
    // …nor in any log line.
    const logs = JSON.stringify(h.logs);
    for (const plaintext of [phone, '王小明', residentId, 'password-1', tokens.access_token])
      expect(logs).not.toContain(plaintext);
  });

  it('scopes idempotency to the user: the same key from two users runs twice', async () => {
    const a = await signUpAndLogIn();
    const b = await signUpAndLogIn();
    const key = randomUUID();
    const body = (id: string) => ({ real_name: '周杰', resident_id: id });
    const first = await postAs(
      a.tokens.access_token,
      '/v1/me/identity',
      body(makeResidentId('350203', '19790118', '111')),
      key,
    );
    const second = await postAs(
      b.tokens.access_token,
      '/v1/me/identity',
      body(makeResidentId('350203', '19790118', '113')),
      key,
    );
    expect([first.statusCode, second.statusCode]).toEqual([200, 200]);
    expect(second.headers['idempotent-replayed']).toBeUndefined();
    const replay = await postAs(
      a.tokens.access_token,
      '/v1/me/identity',
      body(makeResidentId('350203', '19790118', '111')),
      key,
    );
    expect(replay.headers['idempotent-replayed']).toBe('true');
    const rows = await h.t.db.query<{ principal: string }>(
      'SELECT principal FROM api_idempotency_keys WHERE idempotency_key = $1 ORDER BY principal',
      [key],
    );
    expect(rows.rows.map((r) => r.principal).sort()).toEqual(
      [`user:${a.user.id}`, `user:${b.user.id}`].sort(),
    );
  });

  it('refuses an ID already verified by another user (409) and a bad check digit (422)', async () => {
    const a = await signUpAndLogIn();
    const b = await signUpAndLogIn();
    const id = makeResidentId('420106', '19850505', '202');
    expect(
      (await postAs(a.tokens.access_token, '/v1/me/identity', { real_name: '吴一', resident_id: id }))
        .statusCode,
    ).toBe(200);
    const dup = await postAs(b.tokens.access_token, '/v1/me/identity', {
      real_name: '吴一',
      resident_id: id,
    });
    expect([dup.statusCode, dup.json().code]).toEqual([409, 'RESIDENT_ID_ALREADY_REGISTERED']);
    expect(dup.body).not.toContain(id);
    const bad = id.slice(0, 17) + (id.endsWith('0') ? '1' : '0');
    const invalid = await postAs(b.tokens.access_token, '/v1/me/identity', {
      real_name: '吴一',
      resident_id: bad,
    });
    expect([invalid.statusCode, invalid.json().code]).toEqual([422, 'RESIDENT_ID_INVALID']);
    expect(invalid.body).not.toContain(bad);
  });

  it('re-verifying as Class I after paying as Class II leaves only what is left of the lifetime 1,000 CNY', async () => {
    const payee = await newCustomer(h);
    const payer = await newCustomer(h, { verify: false, wallet: false });
    const residentId = makeResidentId('320102', '19870303', '555');
    const verify = (accountClass: string) =>
      postAs(payer.token, '/v1/me/identity', {
        real_name: '陈静',
        resident_id: residentId,
        account_class: accountClass,
      });
    expect((await verify('II')).statusCode).toBe(200);
    expect((await postAs(payer.token, '/v1/wallet', {})).statusCode).toBe(201);
    await h.ledger.transfer({
      id: randomUUID(),
      debitAccountId: h.wallet.bankClearingAccountId(),
      creditAccountId: (await h.wallet.getWallet(payer.id)).ledgerAccountId,
      amount: 1_000_000n,
    });
    const pay = (amount: string) => postAs(payer.token, '/v1/transfers', { to_user_id: payee.id, amount });
    expect((await pay('500000')).statusCode).toBe(201);
    const down = await verify('I');
    expect([down.statusCode, down.json().account_class]).toEqual([200, 'I']);
    const more = await pay('100000');
    expect([more.statusCode, more.json().code]).toEqual([422, 'PAYMENT_LIMIT_EXCEEDED']);
    expect(more.json()).toMatchObject({ account_class: 'I', used: '500000', period: 'life' });
    expect((await pay('1')).json().code).toBe('PAYMENT_LIMIT_EXCEEDED');
  });

  describe("a Class II year counts that year's Class I payments", () => {
    let payers = 0;
    /** A Class I customer with 200,000 CNY; `verify` re-verifies the same person in another class. */
    async function classOnePayer() {
      const payer = await newCustomer(h, { verify: false, wallet: false });
      const residentId = makeResidentId('330106', `199007${String(10 + (payers += 1))}`, '717');
      const verify = async (accountClass: string) => {
        const done = await postAs(payer.token, '/v1/me/identity', {
          real_name: '许明',
          resident_id: residentId,
          account_class: accountClass,
        });
        expect([done.statusCode, done.json().account_class]).toEqual([200, accountClass]);
      };
      await verify('I');
      expect((await postAs(payer.token, '/v1/wallet', {})).statusCode).toBe(201);
      await h.ledger.transfer({
        id: randomUUID(),
        debitAccountId: h.wallet.bankClearingAccountId(),
        creditAccountId: (await h.wallet.getWallet(payer.id)).ledgerAccountId,
        amount: 20_000_000n,
      });
      return Object.assign(payer, { verify });
    }

    it('transfers: 1,000 CNY as Class I, then only 99,000 more as Class II in the same year', async () => {
      const payee = await newCustomer(h);
      const payer = await classOnePayer();
      const pay = (amount: string) => postAs(payer.token, '/v1/transfers', { to_user_id: payee.id, amount });
      expect((await pay('100000')).statusCode).toBe(201);
      await payer.verify('II');
      expect((await pay('9900000')).statusCode).toBe(201);
      const over = await pay('1');
      expect([over.statusCode, over.json().code]).toEqual([422, 'PAYMENT_LIMIT_EXCEEDED']);
      expect(over.json()).toMatchObject({ account_class: 'II', used: '10000000', limit: '10000000' });
      // Class III's 200,000 a year counts the same year's Class I and Class II payments.
      await payer.verify('III');
      expect((await pay('9999999')).statusCode).toBe(201);
      expect((await pay('2')).json()).toMatchObject({ code: 'PAYMENT_LIMIT_EXCEEDED', used: '19999999' });
      // Class I still counts every class's payments over the account's life.
      await payer.verify('I');
      expect((await pay('1')).json()).toMatchObject({
        code: 'PAYMENT_LIMIT_EXCEEDED',
        period: 'life',
        used: '19999999',
      });
    });

    it('merchant payments (the ledger-batch path) count the same way', async () => {
      const merchant = await newMerchant(h, '许记面馆');
      const payer = await classOnePayer();
      const payOrder = async (amount: string) => {
        const order = await h.post(
          '/v1/merchant/payment-orders',
          { merchant_reference: `I-II-${randomUUID()}`, amount, description: 'noodles' },
          { key: merchant.key },
        );
        expect(order.statusCode, order.body).toBe(201);
        return postAs(payer.token, `/v1/payment-orders/${order.json().id}/pay`, { method: 'balance' });
      };
      expect((await payOrder('60000')).json()).toMatchObject({ status: 'succeeded' });
      await payer.verify('II');
      expect((await payOrder('9940000')).json()).toMatchObject({ status: 'succeeded' });
      const over = await payOrder('1');
      expect([over.statusCode, over.json().code]).toEqual([422, 'PAYMENT_LIMIT_EXCEEDED']);
      expect(over.json()).toMatchObject({ account_class: 'II', used: '10000000' });
    });

    it("last year's Class I payments do not count against this year's Class II allowance", async () => {
      const payee = await newCustomer(h);
      const payer = await classOnePayer();
      const pay = (amount: string) => postAs(payer.token, '/v1/transfers', { to_user_id: payee.id, amount });
      const start = h.clock.now();
      try {
        expect((await pay('100000')).statusCode).toBe(201);
        h.clock.set(new Date(Date.UTC(start.getUTCFullYear() + 1, 1, 1, 4)));
        const session = await postAs(null, '/v1/sessions', { phone: payer.phone, password: 'password-1' });
        payer.token = session.json().access_token;
        await payer.verify('II');
        expect((await pay('10000000')).statusCode).toBe(201);
        expect((await pay('1')).json().code).toBe('PAYMENT_LIMIT_EXCEEDED');
      } finally {
        h.clock.set(start);
      }
    });
  });

  it('flags a minor: is_adult false', async () => {
    const { tokens } = await signUpAndLogIn();
    const minor = await postAs(tokens.access_token, '/v1/me/identity', {
      real_name: '郑小',
      resident_id: makeResidentId('610102', '20100101', '404'),
    });
    expect(minor.statusCode).toBe(200);
    expect(minor.json()).toMatchObject({ is_adult: false, birth_date: '2010-01-01' });
    expect(minor.json().age_years).toBeLessThan(18);
  });

  it('documents the user routes in OpenAPI with the user security scheme', async () => {
    const doc = (await getAs(null, '/openapi.json')).json();
    expect(doc.paths['/v1/me'].get.security).toEqual([{ userAccessToken: [] }]);
    expect(doc.paths['/v1/users'].post).toBeTruthy();
    expect(doc.components.securitySchemes.userAccessToken).toMatchObject({
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
  });
});

describe('phone verification (SMS code) over HTTP', () => {
  const sendCode = (phone: string, idempotencyKey?: string) =>
    postAs(null, '/v1/phone-verifications', { phone, purpose: 'sign_up' }, idempotencyKey);
  const signUpWith = (phone: string, code: unknown, password = 'password-1') =>
    postAs(null, '/v1/users', { phone, password, verification_code: code });

  it('sends a 6-digit code by SMS, which signs the phone up once', async () => {
    const phone = freshPhone();
    const sent = await sendCode(phone);
    expect(sent.statusCode).toBe(202);
    const code = h.sms.lastCodeTo(phone)!;
    expect(code).toMatch(/^\d{6}$/);
    expect(sent.json()).toEqual({
      phone: `${phone.slice(0, 3)}****${phone.slice(-4)}`,
      purpose: 'sign_up',
      expires_in: 300,
      resend_after: 60,
      sandbox_code: code,
    });
    expect(sent.body).not.toContain(phone);
    expect(h.sms.messages().at(-1)).toMatchObject({ to: `+86${phone}`, purpose: 'sign_up', code });

    const created = await signUpWith(phone, code);
    expect(created.statusCode).toBe(201);
    const session = await postAs(null, '/v1/sessions', { phone, password: 'password-1' });
    expect([session.statusCode, session.json().user_id]).toEqual([201, created.json().id]);
    // Single use: the same code again is refused before anything is looked up.
    const again = await signUpWith(phone, code, 'password-2');
    expect([again.statusCode, again.json().code]).toEqual([422, 'PHONE_VERIFICATION_INVALID']);
  });

  it('refuses sign-up without a code, with a wrong one, with another phone’s, and with an expired one', async () => {
    const phone = freshPhone();
    const missing = await postAs(null, '/v1/users', { phone, password: 'password-1' });
    expect([missing.statusCode, missing.json().code]).toEqual([400, 'VALIDATION_FAILED']);
    const neverSent = await signUpWith(phone, '123456');
    expect([neverSent.statusCode, neverSent.json().code]).toEqual([422, 'PHONE_VERIFICATION_INVALID']);

    await sendCode(phone);
    const code = h.sms.lastCodeTo(phone)!;
    const wrong = await signUpWith(phone, code === '000000' ? '000001' : '000000');
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json()).toMatchObject({
      code: 'PHONE_VERIFICATION_INVALID',
      field: 'verification_code',
      attempts_remaining: 4,
    });
    // A code is bound to the phone it was sent to.
    const other = freshPhone();
    await sendCode(other);
    const borrowed = await signUpWith(other, code);
    expect([borrowed.statusCode, borrowed.json().code]).toEqual([422, 'PHONE_VERIFICATION_INVALID']);
    expect((await signUpWith(other, h.sms.lastCodeTo(other))).statusCode).toBe(201);

    h.clock.advance(5 * 60_000);
    const expired = await signUpWith(phone, code);
    expect([expired.statusCode, expired.json().code]).toEqual([422, 'PHONE_VERIFICATION_EXPIRED']);
    // A new code (the minute has passed) works.
    await sendCode(phone);
    expect((await signUpWith(phone, h.sms.lastCodeTo(phone))).statusCode).toBe(201);
  });

  it('answers a registered number exactly as an unknown one', async () => {
    const { phone: registered } = await signUpAndLogIn();
    h.clock.advance(60_000);
    const unknown = freshPhone();
    const a = await sendCode(registered);
    const b = await sendCode(unknown);
    const shape = (r: ApiResponse) => ({ ...r.json(), phone: undefined, sandbox_code: undefined });
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    expect(shape(a)).toEqual(shape(b));
    expect(Object.keys(a.json())).toEqual(Object.keys(b.json()));
    // Only the phone's holder learns that it has an account: the code is needed to ask.
    const taken = await signUpWith(registered, h.sms.lastCodeTo(registered));
    expect([taken.statusCode, taken.json().code]).toEqual([409, 'PHONE_ALREADY_REGISTERED']);
  });

  it('limits resends to one a minute (429 with Retry-After) and replays an idempotent retry without the code', async () => {
    const phone = freshPhone();
    const key = randomUUID();
    const first = await sendCode(phone, key);
    const sent = h.sms.messages().length;
    const replay = await sendCode(phone, key);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json()).toEqual({ ...first.json(), sandbox_code: null });
    expect(h.sms.messages()).toHaveLength(sent);

    h.clock.advance(59_000);
    const early = await sendCode(phone);
    expect([early.statusCode, early.json().code, early.headers['retry-after']]).toEqual([
      429,
      'RATE_LIMITED',
      '1',
    ]);
    h.clock.advance(1_000);
    expect((await sendCode(phone)).statusCode).toBe(202);
    // The new code replaces the old one.
    const stale = await signUpWith(phone, first.json().sandbox_code);
    expect(stale.json().code).toBe('PHONE_VERIFICATION_INVALID');
  });

  it('sends at most 20 codes an hour to any phones from one client address (429 with Retry-After)', async () => {
    // The default limit, behind a trusted proxy: the address is request.ip, the forwarded client.
    const behind = await openApiHarness({ trustProxy: '10.0.0.0/8', identity: { smsAddressLimit: {} } });
    try {
      const sendFrom = (client: string, proxy = '10.1.2.3') =>
        behind.app.inject({
          method: 'POST',
          url: '/v1/phone-verifications',
          remoteAddress: proxy,
          headers: { 'idempotency-key': randomUUID(), 'x-forwarded-for': client },
          payload: { phone: freshPhone(), purpose: 'sign_up' },
        });
      for (let i = 0; i < 20; i += 1) expect((await sendFrom('198.51.100.20')).statusCode).toBe(202);
      const sentBefore = behind.sms.messages().length;
      const limited = await sendFrom('198.51.100.20');
      expect([limited.statusCode, limited.json().code, limited.headers['retry-after']]).toEqual([
        429,
        'RATE_LIMITED',
        '3600',
      ]);
      expect(behind.sms.messages()).toHaveLength(sentBefore);
      // Another client through the same proxy is not limited with the first.
      expect((await sendFrom('198.51.100.21')).statusCode).toBe(202);
      // An IPv6 client owns a /64: rotating through it is one client, the next /64 another.
      for (let i = 1; i <= 20; i += 1)
        expect((await sendFrom(`2001:db8:7:1::${i.toString(16)}`)).statusCode).toBe(202);
      expect((await sendFrom('2001:db8:7:1:ffff::9')).statusCode).toBe(429);
      expect((await sendFrom('2001:db8:7:2::1')).statusCode).toBe(202);
      behind.clock.advance(3600_000);
      expect((await sendFrom('198.51.100.20')).statusCode).toBe(202);
    } finally {
      await behind.close();
    }
  });

  it("lets the owner get a code after strangers spent their own addresses' share of the number (429 for them)", async () => {
    const phone = freshPhone();
    const sendFrom = (remoteAddress: string) =>
      h.app.inject({
        method: 'POST',
        url: '/v1/phone-verifications',
        remoteAddress,
        headers: { 'idempotency-key': randomUUID() },
        payload: { phone, purpose: 'sign_up' },
      });
    // Ten codes from two addresses: what a per-phone count used to allow the number in a day.
    for (let i = 0; i < 5; i += 1) {
      for (const stranger of ['198.51.100.71', '198.51.100.72'])
        expect((await sendFrom(stranger)).statusCode).toBe(202);
      h.clock.advance(60_000);
    }
    const stranger = await sendFrom('198.51.100.71');
    expect([stranger.statusCode, stranger.json().code]).toEqual([429, 'RATE_LIMITED']);
    expect(Number(stranger.headers['retry-after'])).toBe(24 * 3600 - 5 * 60);
    const owner = await sendFrom('203.0.113.71');
    expect(owner.statusCode).toBe(202);
    expect((await signUpWith(phone, owner.json().sandbox_code)).statusCode).toBe(201);
  });

  it('keeps codes only as keyed hashes: not in the database, the idempotency records or the logs', async () => {
    const phone = freshPhone();
    await sendCode(phone);
    const code = h.sms.lastCodeTo(phone)!;
    const rows = (await h.t.db.query<Record<string, unknown>>('SELECT * FROM identity_phone_verifications'))
      .rows;
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(Object.values(row).map(String)).not.toContain(code);
      expect(row.code_hash).toMatch(/^[0-9a-f]{64}$/);
    }
    const stored = await h.t.db.query<{ response_body: string; fingerprint: string }>(
      `SELECT response_body, fingerprint FROM api_idempotency_keys WHERE path = '/v1/phone-verifications'`,
    );
    expect(stored.rows.length).toBeGreaterThan(0);
    for (const row of stored.rows) {
      expect(JSON.parse(row.response_body)).toMatchObject({ sandbox_code: null });
      expect(row.fingerprint).not.toContain(phone);
    }
    expect(JSON.stringify(h.logs)).not.toContain(phone);
  });

  it('answers without the code where sandbox codes are off (production)', async () => {
    const production = await openApiHarness({ identity: { sandboxCodes: false } });
    try {
      const phone = freshPhone();
      const sent = await production.post(
        '/v1/phone-verifications',
        { phone, purpose: 'sign_up' },
        { key: null },
      );
      expect(sent.statusCode).toBe(202);
      expect(sent.json()).not.toHaveProperty('sandbox_code');
      const code = production.sms.lastCodeTo(phone)!;
      const created = await production.post(
        '/v1/users',
        { phone, password: 'password-1', verification_code: code },
        { key: null },
      );
      expect(created.statusCode).toBe(201);
    } finally {
      await production.close();
    }
  });

  it('documents the verification route and the code sign-up needs in OpenAPI', async () => {
    const doc = (await getAs(null, '/openapi.json')).json();
    expect(doc.paths['/v1/phone-verifications'].post).toBeTruthy();
    const body = doc.paths['/v1/users'].post.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(expect.arrayContaining(['phone', 'password', 'verification_code']));
  });
});

describe('password reset (forgot password) by SMS code over HTTP', () => {
  const sendResetCode = (phone: string, idempotencyKey?: string) =>
    postAs(null, '/v1/phone-verifications', { phone, purpose: 'password_reset' }, idempotencyKey);
  const reset = (phone: string, code: unknown, newPassword = 'new-password-2', idempotencyKey?: string) =>
    postAs(
      null,
      '/v1/auth/password-reset',
      { phone, verification_code: code, new_password: newPassword },
      idempotencyKey,
    );
  const logIn = (phone: string, password: string) => postAs(null, '/v1/sessions', { phone, password });
  /** Guesses from an address of their own, so the shared test address keeps its allowance. */
  const strangerLogIn = (phone: string, remoteAddress: string) =>
    h.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      remoteAddress,
      headers: { 'idempotency-key': randomUUID() },
      payload: { phone, password: 'stranger-guess' },
    });

  it('sets the new password, ends every old session and answers with new tokens', async () => {
    const { phone, tokens: first } = await signUpAndLogIn();
    const second = (await logIn(phone, 'password-1')).json();
    h.clock.advance(60_000);
    const sent = await sendResetCode(phone);
    expect([sent.statusCode, sent.json().purpose]).toEqual([202, 'password_reset']);
    const code = h.sms.lastCodeTo(phone)!;
    expect(h.sms.messages().at(-1)).toMatchObject({ to: `+86${phone}`, purpose: 'password_reset', code });

    const done = await reset(phone, code);
    expect(done.statusCode).toBe(201);
    const fresh = done.json();
    expect(fresh).toMatchObject({ token_type: 'Bearer', user_id: first.user_id });
    expect((await getAs(fresh.access_token, '/v1/me')).statusCode).toBe(200);
    expect(done.body).not.toContain(phone);

    for (const old of [first, second]) {
      expect((await getAs(old.access_token, '/v1/me')).statusCode).toBe(401);
      const refreshed = await postAs(null, '/v1/sessions/refresh', { refresh_token: old.refresh_token });
      expect([refreshed.statusCode, refreshed.json().code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
    }
    const refreshed = await postAs(null, '/v1/sessions/refresh', { refresh_token: fresh.refresh_token });
    expect(refreshed.statusCode).toBe(200);

    const oldPassword = await logIn(phone, 'password-1');
    expect([oldPassword.statusCode, oldPassword.json().code]).toEqual([401, 'INVALID_CREDENTIALS']);
    expect((await logIn(phone, 'new-password-2')).statusCode).toBe(201);
  });

  it("locks a stranger's wrong passwords out of the phone only at their address; the owner logs in", async () => {
    const { phone } = await signUpAndLogIn();
    const stranger = '198.51.100.23';
    for (let i = 0; i < 5; i += 1) expect((await strangerLogIn(phone, stranger)).statusCode).toBe(401);
    const locked = await strangerLogIn(phone, stranger);
    expect([locked.statusCode, locked.json().code]).toEqual([429, 'RATE_LIMITED']);
    // The owner, where they logged in before and from a new address, is not blocked by them.
    expect((await logIn(phone, 'password-1')).statusCode).toBe(201);
    const elsewhere = await h.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      remoteAddress: '203.0.113.130',
      headers: { 'idempotency-key': randomUUID() },
      payload: { phone, password: 'password-1' },
    });
    expect(elsewhere.statusCode).toBe(201);
    h.clock.advance(900_000);
  });

  it("lets the owner in past the phone's daily ceiling from where they log in, and by a reset anywhere", async () => {
    const { phone } = await signUpAndLogIn();
    const from = (remoteAddress: string, password: string) =>
      h.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        remoteAddress,
        headers: { 'idempotency-key': randomUUID() },
        payload: { phone, password },
      });
    // Twenty strangers' addresses, five guesses each: the hundred a phone takes in a day.
    for (let a = 0; a < 20; a += 1)
      for (let i = 0; i < 5; i += 1)
        expect((await strangerLogIn(phone, `198.51.101.${a}`)).statusCode).toBe(401);
    const ceiling = await from('203.0.113.140', 'password-1');
    expect([ceiling.statusCode, ceiling.json().code]).toEqual([429, 'RATE_LIMITED']);
    expect(Number(ceiling.headers['retry-after'])).toBe(24 * 3600);
    // Where the owner logged in before, the right password still gets in.
    expect((await logIn(phone, 'password-1')).statusCode).toBe(201);

    // From a new address: the SMS reset, which clears the ceiling.
    h.clock.advance(60_000);
    await sendResetCode(phone);
    const done = await reset(phone, h.sms.lastCodeTo(phone));
    expect(done.statusCode).toBe(201);
    expect((await getAs(done.json().access_token, '/v1/me')).statusCode).toBe(200);
    expect((await from('203.0.113.140', 'new-password-2')).statusCode).toBe(201);
    // A stranger's address keeps its own count; the owner's tokens stay good.
    expect((await strangerLogIn(phone, '198.51.101.0')).statusCode).toBe(429);
    expect((await getAs(done.json().access_token, '/v1/me')).statusCode).toBe(200);
    h.clock.advance(24 * 3600_000);
  });

  it('refuses a reused, wrong, expired or sign-up code as sign-up does, and a weak password first', async () => {
    const { phone } = await signUpAndLogIn();
    h.clock.advance(60_000);
    await sendResetCode(phone);
    const code = h.sms.lastCodeTo(phone)!;
    const weak = await reset(phone, code, 'short');
    expect(weak.json()).toMatchObject({ code: 'PASSWORD_TOO_WEAK', field: 'new_password' });
    expect(weak.statusCode).toBe(422);
    const wrong = await reset(phone, code === '000000' ? '000001' : '000000');
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json()).toMatchObject({
      code: 'PHONE_VERIFICATION_INVALID',
      field: 'verification_code',
      attempts_remaining: 4,
    });
    expect((await reset(phone, code)).statusCode).toBe(201);
    const reused = await reset(phone, code, 'another-password-3');
    expect([reused.statusCode, reused.json().code]).toEqual([422, 'PHONE_VERIFICATION_INVALID']);
    expect((await logIn(phone, 'another-password-3')).statusCode).toBe(401);

    // A sign-up code proves the phone for sign-up only.
    h.clock.advance(60_000);
    await postAs(null, '/v1/phone-verifications', { phone, purpose: 'sign_up' });
    const signUpCode = await reset(phone, h.sms.lastCodeTo(phone));
    expect([signUpCode.statusCode, signUpCode.json().code]).toEqual([422, 'PHONE_VERIFICATION_INVALID']);

    h.clock.advance(60_000);
    await sendResetCode(phone);
    const late = h.sms.lastCodeTo(phone)!;
    h.clock.advance(5 * 60_000);
    const expired = await reset(phone, late);
    expect([expired.statusCode, expired.json().code]).toEqual([422, 'PHONE_VERIFICATION_EXPIRED']);
  });

  it('answers a number without an account exactly as a registered one, and texts it nothing', async () => {
    const { phone: registered } = await signUpAndLogIn();
    h.clock.advance(60_000);
    const unknown = freshPhone();
    const texts = h.sms.messages().length;
    const a = await sendResetCode(registered);
    const b = await sendResetCode(unknown);
    const shape = (r: ApiResponse) => ({ ...r.json(), phone: undefined, sandbox_code: undefined });
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    expect(shape(a)).toEqual(shape(b));
    expect(Object.keys(a.json())).toEqual(Object.keys(b.json()));
    expect(h.sms.messages()).toHaveLength(texts + 1);
    expect(h.sms.lastCodeTo(unknown)).toBeUndefined();
    const problem = (r: ApiResponse) => ({ ...r.json(), request_id: undefined });
    // The limits count both alike…
    const [againA, againB] = [await sendResetCode(registered), await sendResetCode(unknown)];
    expect([againA.statusCode, againB.statusCode]).toEqual([429, 429]);
    expect(problem(againA)).toEqual(problem(againB));
    // …and so does the reset: even the code the sandbox showed opens nothing without an account.
    const wrongA = await reset(registered, h.sms.lastCodeTo(registered) === '000000' ? '000001' : '000000');
    const wrongB = await reset(unknown, b.json().sandbox_code);
    expect([wrongA.statusCode, wrongB.statusCode]).toEqual([422, 422]);
    expect(problem(wrongA)).toEqual(problem(wrongB));
    expect(wrongB.json()).toMatchObject({ code: 'PHONE_VERIFICATION_INVALID', attempts_remaining: 4 });
  });

  it('shares the send limits with sign-up codes: one a minute per phone, whatever the purpose', async () => {
    const phone = freshPhone();
    expect((await postAs(null, '/v1/phone-verifications', { phone, purpose: 'sign_up' })).statusCode).toBe(
      202,
    );
    const reset = await sendResetCode(phone);
    expect([reset.statusCode, reset.json().code]).toEqual([429, 'RATE_LIMITED']);
  });

  it('replays an idempotent retry without tokens and does not spend a second code', async () => {
    const { phone, tokens } = await signUpAndLogIn();
    h.clock.advance(60_000);
    await sendResetCode(phone);
    const code = h.sms.lastCodeTo(phone)!;
    const key = randomUUID();
    const first = await reset(phone, code, 'new-password-2', key);
    const retry = await reset(phone, code, 'new-password-2', key);
    expect([first.statusCode, retry.statusCode]).toEqual([201, 201]);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json()).toEqual({
      ...first.json(),
      access_token: null,
      refresh_token: null,
      device_token: null,
    });
    expect((await getAs(first.json().access_token, '/v1/me')).statusCode).toBe(200);
    expect((await getAs(tokens.access_token, '/v1/me')).statusCode).toBe(401);
    // Neither the tokens nor the password are kept under the key.
    const stored = await h.t.db.query<{ body: unknown }>(
      'SELECT * FROM api_idempotency_keys WHERE idempotency_key = $1',
      [key],
    );
    const record = JSON.stringify(stored.rows);
    for (const secret of [
      first.json().access_token,
      first.json().refresh_token,
      first.json().device_token,
      'new-password-2',
      code,
    ])
      expect(record).not.toContain(secret);
  });

  it('documents the reset route and the password_reset purpose in OpenAPI', async () => {
    const doc = (await getAs(null, '/openapi.json')).json();
    const route = doc.paths['/v1/auth/password-reset'].post;
    expect(route.requestBody.content['application/json'].schema.required).toEqual(
      expect.arrayContaining(['phone', 'verification_code', 'new_password']),
    );
    expect(route.parameters.map((p: { name: string }) => p.name.toLowerCase())).toContain('idempotency-key');
    const send = doc.paths['/v1/phone-verifications'].post.requestBody.content['application/json'].schema;
    expect(send.properties.purpose.enum).toEqual(['sign_up', 'password_reset']);
  });
});

describe('device tokens over HTTP (OWASP device cookies)', () => {
  const logInFrom = (remoteAddress: string, phone: string, password: string, deviceToken?: string) =>
    h.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      remoteAddress,
      headers: {
        'idempotency-key': randomUUID(),
        ...(deviceToken === undefined ? {} : { 'x-device-token': deviceToken }),
      },
      payload: { phone, password },
    });

  it("lets the owner's device in past the phone's daily ceiling from a new address; another's token does nothing", async () => {
    const { phone, tokens } = await signUpAndLogIn();
    expect(tokens.device_token).toMatch(/^mlt_dt_/);
    const { tokens: othersTokens } = await signUpAndLogIn();
    // Twenty strangers' addresses, five guesses each: the hundred a phone takes in a day.
    for (let a = 0; a < 20; a += 1)
      for (let i = 0; i < 5; i += 1)
        expect((await logInFrom(`198.51.102.${a}`, phone, 'stranger-guess')).statusCode).toBe(401);
    const refused = await logInFrom('203.0.113.150', phone, 'password-1');
    expect([refused.statusCode, refused.json().code]).toEqual([429, 'RATE_LIMITED']);
    const stolen = await logInFrom('203.0.113.150', phone, 'password-1', othersTokens.device_token);
    expect([stolen.statusCode, stolen.json().code]).toEqual([429, 'RATE_LIMITED']);
    // The owner's phone, on mobile data at an address it never used, with its device token.
    const owner = await logInFrom('203.0.113.150', phone, 'password-1', tokens.device_token);
    expect(owner.statusCode).toBe(201);
    expect(owner.json()).toMatchObject({ user_id: tokens.user_id, device_token: tokens.device_token });
    expect((await getAs(owner.json().access_token, '/v1/me')).statusCode).toBe(200);
    h.clock.advance(24 * 3600_000);
  });

  it('documents the X-Device-Token header and the device_token field in OpenAPI', async () => {
    const doc = (await getAs(null, '/openapi.json')).json();
    const route = doc.paths['/v1/sessions'].post;
    const names = route.parameters.map(
      (p: { name: string; in: string }) => `${p.in}:${p.name.toLowerCase()}`,
    );
    expect(names).toEqual(expect.arrayContaining(['header:x-device-token', 'header:idempotency-key']));
    const created = route.responses['201'].content['application/json'].schema;
    expect(Object.keys(created.properties)).toContain('device_token');
  });
});
