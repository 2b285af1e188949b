import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, type MilletError } from '../core/index.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';
import { makeResidentId } from '../../test/support/resident-ids.ts';
import { SandboxSms, createIdentity, identityMigrations, type Identity } from './index.ts';
import { rejection } from '../../test/support/rejection.ts';
import { onPostgres } from '../../test/support/test-database.ts';

let t: TestDatabase;
let identity: Identity;
const clock = new ManualClock('2025-06-01T00:00:00Z');
const encryptionKey = randomBytes(32);
const sms = new SandboxSms();

beforeAll(async () => {
  t = await openTestDatabase(identityMigrations);
  identity = createIdentity({ db: t.db, clock, sms, encryptionKey });
});
afterAll(async () => {
  await t.close();
});

/** Asks for a sign-up code and reads it from the sandbox SMS gateway, as the phone's holder would. */
async function codeFor(phone: string, via: Identity = identity): Promise<string> {
  await via.requestPhoneVerification({ phone, purpose: 'sign_up' });
  return sms.lastCodeTo(phone)!;
}

/** Sign-up the way the API does it: a code sent to the phone, then the sign-up with it. */
async function signUpVerified(
  command: { phone: string; password: string; ip?: string },
  via: Identity = identity,
) {
  return via.signUp({ ...command, verificationCode: await codeFor(command.phone, via) });
}

let phoneCounter = 0;
/** A fresh mainland number per call, so tests do not share users (or rate-limit counters). */
function freshPhone(): string {
  phoneCounter += 1;
  return `139${String(10_000_000 + phoneCounter * 7919).slice(-8)}`;
}

describe('sign-up', () => {
  it('stores an argon2id hash, never the password, and masks the phone', async () => {
    const phone = freshPhone();
    const user = await signUpVerified({ phone, password: 'correct horse' });
    expect(user.phoneMasked).toBe(`${phone.slice(0, 3)}****${phone.slice(-4)}`);
    expect(user).toMatchObject({ kycStatus: 'none', accountClass: null, birthDate: null, isAdult: false });
    const row = (
      await t.db.query<Record<string, string>>('SELECT * FROM identity_users WHERE id = $1', [user.id])
    ).rows[0]!;
    expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(JSON.stringify(row)).not.toContain('correct horse');
  });

  it('refuses a duplicate phone, however it is written', async () => {
    const phone = freshPhone();
    await signUpVerified({ phone, password: 'password-1' });
    clock.advance(60_000);
    const error = await rejection(signUpVerified({ phone: `+86 ${phone}`, password: 'password-2' }));
    expect(error.code).toBe('PHONE_ALREADY_REGISTERED');
    // The trusted path (seeding, benchmarks) keeps the same rule.
    expect((await rejection(identity.createUser({ phone, password: 'password-3' }))).code).toBe(
      'PHONE_ALREADY_REGISTERED',
    );
  });

  it('refuses weak passwords and bad phone numbers, before the code is spent', async () => {
    const phone = freshPhone();
    const code = await codeFor(phone);
    const attempt = (password: string, target = phone) =>
      rejection(identity.signUp({ phone: target, password, verificationCode: code }));
    expect((await attempt('short')).code).toBe('PASSWORD_TOO_WEAK');
    expect((await attempt('aaaaaaaaaa')).code).toBe('PASSWORD_TOO_WEAK');
    expect((await attempt(phone)).code).toBe('PASSWORD_TOO_WEAK');
    expect((await attempt('long enough', '12345')).code).toBe('PHONE_INVALID');
    await expect(
      identity.signUp({ phone, password: 'long enough', verificationCode: code }),
    ).resolves.toBeTruthy();
    expect((await rejection(identity.createUser({ phone: freshPhone(), password: 'short' }))).code).toBe(
      'PASSWORD_TOO_WEAK',
    );
  });
});

describe('sessions', () => {
  it('logs in with a 15-minute HS256 access token that expires by the injected clock', async () => {
    const phone = freshPhone();
    const user = await identity.createUser({ phone, password: 'password-1' });
    const tokens = await identity.logIn({ phone, password: 'password-1', ip: '10.0.0.1' });
    expect(tokens.expiresIn).toBe(900);
    const claims = decodeJwt(tokens.accessToken);
    expect(claims).toMatchObject({ sub: user.id, typ: 'access', sid: tokens.sessionId, iss: 'millet' });
    expect(claims.exp! - claims.iat!).toBe(900);
    expect(await identity.authenticate(tokens.accessToken)).toEqual({
      userId: user.id,
      sessionId: tokens.sessionId,
    });

    clock.advance(899_000);
    await expect(identity.authenticate(tokens.accessToken)).resolves.toMatchObject({ userId: user.id });
    clock.advance(1_000);
    expect((await rejection(identity.authenticate(tokens.accessToken))).code).toBe('ACCESS_TOKEN_EXPIRED');
    // The refresh token still works, and its access token is valid from the new now.
    const refreshed = await identity.refresh(tokens.refreshToken);
    await expect(identity.authenticate(refreshed.accessToken)).resolves.toMatchObject({ userId: user.id });
  });

  it('refuses tampered tokens and tokens signed with another key', async () => {
    const phone = freshPhone();
    await identity.createUser({ phone, password: 'password-1' });
    const tokens = await identity.logIn({ phone, password: 'password-1' });
    const [header, payload, signature] = tokens.accessToken.split('.');
    const flipped = Buffer.from(signature!, 'base64url');
    flipped[0]! ^= 1;
    const forged = `${header}.${payload}.${flipped.toString('base64url')}`;
    expect((await rejection(identity.authenticate(forged))).code).toBe('UNAUTHENTICATED');
    const other = createIdentity({ db: t.db, clock, sms, encryptionKey: randomBytes(32) });
    expect((await rejection(other.authenticate(tokens.accessToken))).code).toBe('UNAUTHENTICATED');
    expect((await rejection(identity.authenticate('not-a-jwt'))).code).toBe('UNAUTHENTICATED');
  });

  it('rotates the refresh token; reusing a rotated one revokes the whole session', async () => {
    const phone = freshPhone();
    await identity.createUser({ phone, password: 'password-1' });
    const first = await identity.logIn({ phone, password: 'password-1' });
    const second = await identity.refresh(first.refreshToken);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.sessionId).toBe(first.sessionId);
    const third = await identity.refresh(second.refreshToken);

    // The first token again: a thief or a replay. The family is revoked, including the newest token.
    expect((await rejection(identity.refresh(first.refreshToken))).code).toBe('REFRESH_TOKEN_REUSED');
    expect((await rejection(identity.refresh(third.refreshToken))).code).toBe('REFRESH_TOKEN_INVALID');
    expect((await rejection(identity.authenticate(third.accessToken))).code).toBe('UNAUTHENTICATED');
    // Other sessions of the same user are untouched.
    const other = await identity.logIn({ phone, password: 'password-1' });
    await expect(identity.authenticate(other.accessToken)).resolves.toBeTruthy();
    const stored = await t.db.query<{ token_hash: string }>(
      'SELECT token_hash FROM identity_refresh_tokens WHERE session_id = $1',
      [first.sessionId],
    );
    expect(stored.rows).toHaveLength(3);
    expect(stored.rows.map((r) => r.token_hash)).not.toContain(first.refreshToken);
  });

  it('expires refresh tokens after their lifetime', async () => {
    const short = createIdentity({ db: t.db, clock, sms, encryptionKey, refreshTokenTtlSeconds: 60 });
    const phone = freshPhone();
    await short.createUser({ phone, password: 'password-1' });
    const tokens = await short.logIn({ phone, password: 'password-1' });
    clock.advance(60_000);
    expect((await rejection(short.refresh(tokens.refreshToken))).code).toBe('REFRESH_TOKEN_INVALID');
  });

  it('logs out: the refresh token and the access tokens of the session stop working', async () => {
    const phone = freshPhone();
    await identity.createUser({ phone, password: 'password-1' });
    const tokens = await identity.logIn({ phone, password: 'password-1' });
    // Used before: its signature is remembered, yet the session is read on every request.
    await expect(identity.authenticate(tokens.accessToken)).resolves.toMatchObject({
      sessionId: tokens.sessionId,
    });
    await identity.logOut(tokens.refreshToken);
    await identity.logOut(tokens.refreshToken); // twice is harmless
    expect((await rejection(identity.refresh(tokens.refreshToken))).code).toBe('REFRESH_TOKEN_INVALID');
    expect((await rejection(identity.authenticate(tokens.accessToken))).code).toBe('UNAUTHENTICATED');
    expect((await rejection(identity.logOut('mlt_rt_unknown'))).code).toBe('REFRESH_TOKEN_INVALID');
  });

  it('refuses a wrong password and an unknown phone alike', async () => {
    const phone = freshPhone();
    await identity.createUser({ phone, password: 'password-1' });
    expect((await rejection(identity.logIn({ phone, password: 'password-2' }))).code).toBe(
      'INVALID_CREDENTIALS',
    );
    expect((await rejection(identity.logIn({ phone: freshPhone(), password: 'password-1' }))).code).toBe(
      'INVALID_CREDENTIALS',
    );
  });
});

describe('login rate limit', () => {
  it('allows 5 failures per phone from one address in 15 minutes, then 429 there until the oldest leaves the window', async () => {
    const phone = freshPhone();
    await identity.createUser({ phone, password: 'password-1' });
    for (let i = 0; i < 5; i += 1) {
      expect((await rejection(identity.logIn({ phone, password: 'wrong-pass', ip: '10.1.0.1' }))).code).toBe(
        'INVALID_CREDENTIALS',
      );
      clock.advance(60_000);
    }
    // Even the right password is refused from that address while limited.
    const limited = await rejection(identity.logIn({ phone, password: 'password-1', ip: '10.1.0.1' }));
    expect(limited.code).toBe('RATE_LIMITED');
    // First failure at T, now T + 5 min: the window lifts at T + 15 min.
    expect(limited.details?.retryAfterSeconds).toBe(600);
    clock.advance(600_000 - 1_000);
    expect((await rejection(identity.logIn({ phone, password: 'password-1', ip: '10.1.0.1' }))).code).toBe(
      'RATE_LIMITED',
    );
    clock.advance(1_000);
    await expect(identity.logIn({ phone, password: 'password-1', ip: '10.1.0.1' })).resolves.toMatchObject({
      tokenType: 'Bearer',
    });
    // A success clears the pair's failures: four more typos from there do not lock it.
    for (let i = 0; i < 4; i += 1)
      await rejection(identity.logIn({ phone, password: 'wrong-pass', ip: '10.1.0.1' }));
    await expect(identity.logIn({ phone, password: 'password-1', ip: '10.1.0.1' })).resolves.toBeTruthy();
  });

  it("locks only the stranger's address: the owner logs in from elsewhere with the right password", async () => {
    const phone = freshPhone();
    await identity.createUser({ phone, password: 'password-1' });
    for (let i = 0; i < 5; i += 1)
      await rejection(identity.logIn({ phone, password: 'wrong-pass', ip: '10.2.0.66' }));
    expect((await rejection(identity.logIn({ phone, password: 'wrong-pass', ip: '10.2.0.66' }))).code).toBe(
      'RATE_LIMITED',
    );
    // Never logged in before, from an address of their own: not blocked below the ceiling.
    await expect(identity.logIn({ phone, password: 'password-1', ip: '10.2.0.1' })).resolves.toMatchObject({
      tokenType: 'Bearer',
    });
    // The stranger's address stays locked at that phone, the owner's success notwithstanding.
    expect((await rejection(identity.logIn({ phone, password: 'password-1', ip: '10.2.0.66' }))).code).toBe(
      'RATE_LIMITED',
    );
    clock.advance(15 * 60_000);
  });

  it('bounds many addresses at one phone by its daily ceiling, which does not refuse addresses the owner used', async () => {
    const ceiling = createIdentity({
      db: t.db,
      clock,
      sms,
      encryptionKey,
      loginRateLimit: { maxFailuresPerPhone: 12 },
    });
    const phone = freshPhone();
    await signUpVerified({ phone, password: 'password-1', ip: '10.3.0.1' }, ceiling);
    await expect(ceiling.logIn({ phone, password: 'password-1', ip: '10.3.0.2' })).resolves.toBeTruthy();
    // Three strangers' addresses, four guesses each: the twelve the phone allows in a day.
    for (let a = 0; a < 3; a += 1)
      for (let i = 0; i < 4; i += 1)
        expect(
          (await rejection(ceiling.logIn({ phone, password: 'wrong-pass', ip: `10.3.1.${a}` }))).code,
        ).toBe('INVALID_CREDENTIALS');
    clock.advance(60 * 60_000);
    // A fourth address has room of its own, but the phone has none left: refused, right password
    // or not, until the first of the twelve is a day old.
    const fresh = await rejection(ceiling.logIn({ phone, password: 'password-1', ip: '10.3.2.1' }));
    expect(fresh.code).toBe('RATE_LIMITED');
    expect(fresh.details?.retryAfterSeconds).toBe(23 * 3600);
    // The cleanup job keeps the day's failures that the ceiling counts.
    await ceiling.pruneLoginFailures();
    expect((await rejection(ceiling.logIn({ phone, password: 'wrong-pass', ip: '10.3.2.2' }))).code).toBe(
      'RATE_LIMITED',
    );
    // The addresses the owner signed up and logged in from are not refused by it.
    await expect(ceiling.logIn({ phone, password: 'password-1', ip: '10.3.0.1' })).resolves.toBeTruthy();
    await expect(ceiling.logIn({ phone, password: 'password-1', ip: '10.3.0.2' })).resolves.toBeTruthy();
    // Nor by their own address limit, which a stranger sharing it (a carrier's NAT) has used up...
    for (let i = 0; i < 20; i += 1)
      await rejection(ceiling.logIn({ phone: freshPhone(), password: 'wrong-pass', ip: '10.3.0.2' }));
    expect(
      (await rejection(ceiling.logIn({ phone: freshPhone(), password: 'wrong-pass', ip: '10.3.0.2' }))).code,
    ).toBe('RATE_LIMITED');
    await expect(ceiling.logIn({ phone, password: 'password-1', ip: '10.3.0.2' })).resolves.toBeTruthy();
    // ...but still by that pair's five: guessing from a known address is bounded as from any.
    for (let i = 0; i < 5; i += 1)
      await rejection(ceiling.logIn({ phone, password: 'wrong-pass', ip: '10.3.0.1' }));
    expect((await rejection(ceiling.logIn({ phone, password: 'password-1', ip: '10.3.0.1' }))).code).toBe(
      'RATE_LIMITED',
    );
    // A day on, the ceiling has room again.
    clock.advance(23 * 3600_000);
    await expect(ceiling.logIn({ phone, password: 'password-1', ip: '10.3.2.1' })).resolves.toBeTruthy();
  });

  it('limits one address trying many phones, and holds across instances (the counts are in the database)', async () => {
    const a = createIdentity({
      db: t.db,
      clock,
      sms,
      encryptionKey,
      loginRateLimit: { maxFailuresPerIp: 3 },
    });
    const b = createIdentity({
      db: t.db,
      clock,
      sms,
      encryptionKey,
      loginRateLimit: { maxFailuresPerIp: 3 },
    });
    for (const instance of [a, b, a])
      expect(
        (await rejection(instance.logIn({ phone: freshPhone(), password: 'whatever1', ip: '192.0.2.7' })))
          .code,
      ).toBe('INVALID_CREDENTIALS');
    expect(
      (await rejection(b.logIn({ phone: freshPhone(), password: 'whatever1', ip: '192.0.2.7' }))).code,
    ).toBe('RATE_LIMITED');
    // Another address is not affected.
    expect(
      (await rejection(b.logIn({ phone: freshPhone(), password: 'whatever1', ip: '192.0.2.8' }))).code,
    ).toBe('INVALID_CREDENTIALS');
    clock.advance(15 * 60_000);
    expect(
      (await rejection(b.logIn({ phone: freshPhone(), password: 'whatever1', ip: '192.0.2.7' }))).code,
    ).toBe('INVALID_CREDENTIALS');
    const raw = JSON.stringify((await t.db.query('SELECT * FROM identity_login_failures')).rows);
    expect(raw).not.toContain('192.0.2.7');

    // The cleanup job removes what has left the window: the phones' rows after their day.
    clock.advance(15 * 60_000);
    expect(await a.pruneLoginFailures()).toBeGreaterThan(0);
    const left = await t.db.query<{ subject: string }>('SELECT subject FROM identity_login_failures');
    expect(left.rows.every((r) => r.subject.startsWith('phone:'))).toBe(true);
    clock.advance(24 * 3600_000);
    expect(await a.pruneLoginFailures()).toBeGreaterThan(0);
    expect((await t.db.query('SELECT 1 FROM identity_login_failures')).rows).toHaveLength(0);
  });
});

describe('login rate limit under concurrency', () => {
  const codes = async (attempts: Promise<unknown>[]) =>
    (await Promise.allSettled(attempts)).map((r) =>
      r.status === 'fulfilled' ? 'OK' : (r.reason as MilletError).code,
    );
  const count = (list: string[], code: string) => list.filter((c) => c === code).length;

  it('lets no more than 5 guesses from one address sent together reach the password check, registered phone or not', async () => {
    const registered = freshPhone();
    await identity.createUser({ phone: registered, password: 'password-1' });
    for (const phone of [registered, freshPhone()]) {
      const burst = await codes(
        Array.from({ length: 12 }, (_, i) =>
          identity.logIn({ phone, password: `wrong-guess-${i}`, ip: `10.9.${phoneCounter}.1` }),
        ),
      );
      expect([count(burst, 'INVALID_CREDENTIALS'), count(burst, 'RATE_LIMITED')]).toEqual([5, 7]);
    }
    // The right password after the burst is refused from that address, not from another.
    const late = await rejection(
      identity.logIn({ phone: registered, password: 'password-1', ip: `10.9.${phoneCounter}.1` }),
    );
    expect(late.code).toBe('RATE_LIMITED');
    await expect(
      identity.logIn({ phone: registered, password: 'password-1', ip: '10.9.9.9' }),
    ).resolves.toBeTruthy();
    clock.advance(15 * 60_000);
  });

  it("holds the phone's ceiling against guesses from many addresses sent together", async () => {
    const ceiling = createIdentity({
      db: t.db,
      clock,
      sms,
      encryptionKey,
      loginRateLimit: { maxFailuresPerPhone: 8 },
    });
    const phone = freshPhone();
    await ceiling.createUser({ phone, password: 'password-1' });
    const burst = await codes(
      Array.from({ length: 14 }, (_, i) =>
        ceiling.logIn({ phone, password: `wrong-guess-${i}`, ip: `10.10.0.${i}` }),
      ),
    );
    expect([count(burst, 'INVALID_CREDENTIALS'), count(burst, 'RATE_LIMITED')]).toEqual([8, 6]);
    clock.advance(24 * 3600_000);
  });

  it('lets no more than 20 guesses from one address sent together through', async () => {
    const burst = await codes(
      Array.from({ length: 30 }, () =>
        identity.logIn({ phone: freshPhone(), password: 'whatever1', ip: '192.0.2.44' }),
      ),
    );
    expect([count(burst, 'INVALID_CREDENTIALS'), count(burst, 'RATE_LIMITED')]).toEqual([20, 10]);
    clock.advance(15 * 60_000);
  });

  it('does not count successful log-ins against the address', async () => {
    const limited = createIdentity({
      db: t.db,
      clock,
      sms,
      encryptionKey,
      loginRateLimit: { maxFailuresPerIp: 2 },
    });
    const phone = freshPhone();
    await limited.createUser({ phone, password: 'password-1' });
    for (let i = 0; i < 4; i += 1)
      await expect(limited.logIn({ phone, password: 'password-1', ip: '192.0.2.45' })).resolves.toBeTruthy();
    expect((await rejection(limited.logIn({ phone, password: 'wrong-pass', ip: '192.0.2.45' }))).code).toBe(
      'INVALID_CREDENTIALS',
    );
  });

  // On PGlite every transaction runs alone, so only PostgreSQL can show who waits for whom.
  it.runIf(onPostgres)(
    'makes only attempts naming the same phone or address wait for each other',
    async () => {
      const busy = freshPhone();
      await rejection(identity.logIn({ phone: busy, password: 'wrong-pass', ip: '192.0.2.46' }));
      const other = freshPhone();
      await identity.createUser({ phone: other, password: 'password-1' });
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const holder = t.db.transaction(async (tx) => {
        await tx.query('SELECT subject FROM identity_rate_limit_gates FOR UPDATE');
        locked();
        await released;
      });
      await isLocked;
      try {
        let waiting = true;
        const blocked = rejection(
          identity.logIn({ phone: busy, password: 'wrong-pass', ip: '192.0.2.47' }),
        ).finally(() => (waiting = false));
        await expect(
          identity.logIn({ phone: other, password: 'password-1', ip: '192.0.2.48' }),
        ).resolves.toBeTruthy();
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(waiting).toBe(true);
        release();
        expect((await blocked).code).toBe('INVALID_CREDENTIALS');
      } finally {
        release();
        await holder;
      }
    },
  );
});

describe('log-in racing a password reset', () => {
  it('opens no session with the old password once a reset has ended them all', async () => {
    // The database as the identity sees it, holding the log-in after it read the password hash
    // and before its last transaction (where the session is opened), until released.
    let hashRead = false;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let paused!: () => void;
    const isPaused = new Promise<void>((resolve) => (paused = resolve));
    const db = new Proxy(t.db, {
      get(target, property, receiver) {
        if (property === 'query')
          return async (text: string, params?: unknown[]) => {
            const result = await target.query(text, params);
            if (text.includes('SELECT id, password_hash FROM identity_users')) hashRead = true;
            return result;
          };
        if (property === 'transaction')
          return async (work: Parameters<typeof target.transaction>[0]) => {
            if (hashRead) {
              hashRead = false;
              paused();
              await released;
            }
            return target.transaction(work);
          };
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const held = createIdentity({ db, clock, sms, encryptionKey });
    const phone = freshPhone();
    const user = await identity.createUser({ phone, password: 'password-1' });
    const oldPassword = held.logIn({ phone, password: 'password-1', ip: '192.0.2.90' });
    oldPassword.catch(() => undefined);
    await isPaused;
    try {
      clock.advance(60_000);
      await identity.requestPhoneVerification({ phone, purpose: 'password_reset' });
      await identity.resetPassword({
        phone,
        verificationCode: sms.lastCodeTo(phone)!,
        newPassword: 'new-password-2',
        ip: '192.0.2.91',
      });
    } finally {
      release();
    }
    expect((await rejection(oldPassword)).code).toBe('INVALID_CREDENTIALS');
    // Only the reset's own session is open.
    const open = await t.db.query(
      'SELECT 1 FROM identity_sessions WHERE user_id = $1 AND revoked_at IS NULL',
      [user.id],
    );
    expect(open.rows).toHaveLength(1);
  });
});

describe('sign-up rate limit', () => {
  it('counts "already registered" answers against the address; sign-ups that go through do not count', async () => {
    const limited = createIdentity({
      db: t.db,
      clock,
      sms,
      encryptionKey,
      loginRateLimit: { maxFailuresPerIp: 3 },
    });
    const ip = '192.0.2.60';
    for (let i = 0; i < 5; i += 1)
      await expect(
        signUpVerified({ phone: freshPhone(), password: 'password-1', ip }, limited),
      ).resolves.toBeTruthy();
    const taken = freshPhone();
    await signUpVerified({ phone: taken, password: 'password-1' }, limited);
    // Only the phone's holder gets this far now (a code each time, a minute apart).
    for (let i = 0; i < 3; i += 1) {
      clock.advance(60_000);
      const again = await rejection(signUpVerified({ phone: taken, password: 'password-2', ip }, limited));
      expect(again.code).toBe('PHONE_ALREADY_REGISTERED');
    }
    clock.advance(60_000);
    // Limited before anything is looked up: an unregistered number gets the same answer.
    const fresh = await rejection(
      signUpVerified({ phone: freshPhone(), password: 'password-1', ip }, limited),
    );
    expect(fresh.code).toBe('RATE_LIMITED');
    expect(fresh.details?.retryAfterSeconds).toBe(900 - 3 * 60);
    // One limit per address, shared with log-in.
    expect((await rejection(limited.logIn({ phone: taken, password: 'password-1', ip }))).code).toBe(
      'RATE_LIMITED',
    );
    await expect(
      signUpVerified({ phone: freshPhone(), password: 'password-1', ip: '192.0.2.61' }, limited),
    ).resolves.toBeTruthy();
    clock.advance(15 * 60_000);
    await expect(
      signUpVerified({ phone: freshPhone(), password: 'password-1', ip }, limited),
    ).resolves.toBeTruthy();
  });
});

describe('identity verification', () => {
  const adultId = makeResidentId('110105', '19900307', '123');

  it('verifies name and ID, derives birth date and age, and stores only ciphertext', async () => {
    const phone = freshPhone();
    const user = await identity.createUser({ phone, password: 'password-1' });
    const verified = await identity.verifyIdentity(user.id, {
      realName: '张三',
      residentId: adultId,
      accountClass: 'II',
    });
    expect(verified).toMatchObject({
      kycStatus: 'verified',
      accountClass: 'II',
      realNameMasked: '张*',
      residentIdMasked: `1101**********${adultId.slice(-4)}`,
      birthDate: '1990-03-07',
      ageYears: 35,
      isAdult: true,
    });
    expect(await identity.isAdult(user.id)).toBe(true);
    const raw = JSON.stringify(
      (await t.db.query('SELECT * FROM identity_users WHERE id = $1', [user.id])).rows,
    );
    for (const plaintext of [phone, phone.slice(-8), '张三', adultId, adultId.slice(6, 14)])
      expect(raw).not.toContain(plaintext);
  });

  it('defaults to class I and lets the same identity change its class', async () => {
    const user = await identity.createUser({ phone: freshPhone(), password: 'password-1' });
    const id = makeResidentId('320102', '19800101', '456');
    expect((await identity.verifyIdentity(user.id, { realName: '李四', residentId: id })).accountClass).toBe(
      'I',
    );
    const upgraded = await identity.verifyIdentity(user.id, {
      realName: '李四',
      residentId: id,
      accountClass: 'III',
    });
    expect(upgraded.accountClass).toBe('III');
    const other = makeResidentId('320102', '19800101', '457');
    const error = await rejection(identity.verifyIdentity(user.id, { realName: '李四', residentId: other }));
    expect(error.code).toBe('IDENTITY_ALREADY_VERIFIED');
    expect(
      (await rejection(identity.verifyIdentity(user.id, { realName: '王五', residentId: id }))).code,
    ).toBe('IDENTITY_ALREADY_VERIFIED');
  });

  it('refuses a resident ID already verified by another user', async () => {
    const first = await identity.createUser({ phone: freshPhone(), password: 'password-1' });
    const second = await identity.createUser({ phone: freshPhone(), password: 'password-1' });
    const id = makeResidentId('440305', '19750505', '789');
    await identity.verifyIdentity(first.id, { realName: '赵六', residentId: id });
    const error = await rejection(
      identity.verifyIdentity(second.id, { realName: '赵六', residentId: id.toLowerCase() }),
    );
    expect(error.code).toBe('RESIDENT_ID_ALREADY_REGISTERED');
    expect((await identity.getUser(second.id)).kycStatus).toBe('none');
  });

  it('refuses the same ID verified by two users at once: one wins', async () => {
    const users = await Promise.all(
      [1, 2, 3].map(() => identity.createUser({ phone: freshPhone(), password: 'password-1' })),
    );
    const id = makeResidentId('510104', '19880808', '246');
    const results = await Promise.allSettled(
      users.map((u) => identity.verifyIdentity(u.id, { realName: '钱七', residentId: id })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results)
      if (r.status === 'rejected')
        expect((r.reason as MilletError).code).toBe('RESIDENT_ID_ALREADY_REGISTERED');
  });

  it('flags under-18s, and they come of age on their 18th birthday (Beijing time)', async () => {
    const user = await identity.createUser({ phone: freshPhone(), password: 'password-1' });
    const now = clock.now();
    const shanghai = new Date(now.getTime() + 8 * 3_600_000);
    const eighteenYearsLater = new Date(
      Date.UTC(shanghai.getUTCFullYear() - 18, shanghai.getUTCMonth(), shanghai.getUTCDate() + 1),
    );
    const birth = eighteenYearsLater.toISOString().slice(0, 10).replaceAll('-', '');
    const minor = await identity.verifyIdentity(user.id, {
      realName: '孙八',
      residentId: makeResidentId('330106', birth, '135'),
    });
    expect(minor.ageYears).toBe(17);
    expect(minor.isAdult).toBe(false);
    expect(await identity.isAdult(user.id)).toBe(false);
    const birthday = new Date(
      `${eighteenYearsLater.getUTCFullYear() + 18}-${birth.slice(4, 6)}-${birth.slice(6, 8)}T00:00:00+08:00`,
    );
    expect(await identity.isAdult(user.id, birthday)).toBe(true);
    expect((await identity.getUser(user.id, new Date(birthday.getTime() - 1))).ageYears).toBe(17);
  });

  it('refuses invalid IDs and names, and unknown users', async () => {
    const user = await identity.createUser({ phone: freshPhone(), password: 'password-1' });
    const badCheck = adultId.slice(0, 17) + (adultId.endsWith('0') ? '1' : '0');
    expect(
      (await rejection(identity.verifyIdentity(user.id, { realName: '张三', residentId: badCheck }))).code,
    ).toBe('RESIDENT_ID_INVALID');
    expect(
      (await rejection(identity.verifyIdentity(user.id, { realName: '张', residentId: adultId }))).code,
    ).toBe('REAL_NAME_INVALID');
    expect((await rejection(identity.getUser('00000000-0000-7000-8000-000000000000'))).code).toBe(
      'USER_NOT_FOUND',
    );
    expect((await rejection(identity.getUser('nope'))).code).toBe('USER_NOT_FOUND');
  });
});

describe('batch look-ups', () => {
  it('getUserStatuses answers for many users in one call, as getUser does one by one', async () => {
    const adult = await identity.createUser({ phone: freshPhone(), password: 'password-1' });
    await identity.verifyIdentity(adult.id, {
      realName: '王小明',
      residentId: makeResidentId('110105', '19900307', '411'),
      accountClass: 'III',
    });
    const minor = await identity.createUser({ phone: freshPhone(), password: 'password-1' });
    await identity.verifyIdentity(minor.id, {
      realName: '王小红',
      residentId: makeResidentId('110105', '20100307', '412'),
    });
    const unverified = await identity.createUser({ phone: freshPhone(), password: 'password-1' });
    const unknown = '01900000-0000-7000-8000-000000000000';
    const ids = [adult.id, minor.id, unverified.id, unknown, 'not-a-uuid', adult.id];
    const found = await identity.getUserStatuses(ids);
    expect(found.size).toBe(3);
    for (const user of [adult, minor, unverified]) {
      const one = await identity.getUser(user.id);
      expect(found.get(user.id)).toEqual({
        id: one.id,
        kycStatus: one.kycStatus,
        accountClass: one.accountClass,
        isAdult: one.isAdult,
      });
    }
    expect(found.get(adult.id)).toMatchObject({ kycStatus: 'verified', accountClass: 'III', isAdult: true });
    expect(found.get(minor.id)!.isAdult).toBe(false);
    // Age is as of the instant asked about: the minor turns 18 on 2028-03-07.
    const later = await identity.getUserStatuses([minor.id], new Date('2028-03-07T00:00:00+08:00'));
    expect(later.get(minor.id)!.isAdult).toBe(true);
    expect((await identity.getUserStatuses([])).size).toBe(0);
  });
});

describe('device tokens (OWASP device cookies)', () => {
  /** A phone ceiling of twelve and three failures per device token, so tests stay short. */
  const deviceIdentity = () =>
    createIdentity({
      db: t.db,
      clock,
      sms,
      encryptionKey,
      loginRateLimit: { maxFailuresPerPhone: 12, maxFailuresPerDeviceToken: 3 },
    });
  /** Strangers at three addresses of `net` use up the phone's twelve: 5 + 5 + 2. */
  async function exhaustCeiling(via: Identity, phone: string, net: string) {
    for (const [a, guesses] of [5, 5, 2].entries())
      for (let i = 0; i < guesses; i += 1)
        expect(
          (await rejection(via.logIn({ phone, password: 'wrong-pass', ip: `${net}.1.${a}` }))).code,
        ).toBe('INVALID_CREDENTIALS');
  }

  it("lets the owner's device in past the phone's ceiling, from a new address or a locked one", async () => {
    const idn = deviceIdentity();
    const phone = freshPhone();
    await idn.createUser({ phone, password: 'password-1' });
    const first = await idn.logIn({ phone, password: 'password-1', ip: '10.20.0.1' });
    expect(first.deviceToken).toMatch(/^mlt_dt_[A-Za-z0-9_-]{43}$/);
    await exhaustCeiling(idn, phone, '10.20');
    // Without the token, a new address is refused by the ceiling, right password or not.
    expect((await rejection(idn.logIn({ phone, password: 'password-1', ip: '10.20.2.1' }))).code).toBe(
      'RATE_LIMITED',
    );
    const deviceToken = first.deviceToken!;
    const again = await idn.logIn({ phone, password: 'password-1', ip: '10.20.2.1', deviceToken });
    expect(again).toMatchObject({ tokenType: 'Bearer', userId: first.userId, deviceToken });
    // Not by an address the stranger locked (their pair's five) either.
    expect((await rejection(idn.logIn({ phone, password: 'password-1', ip: '10.20.1.0' }))).code).toBe(
      'RATE_LIMITED',
    );
    await expect(
      idn.logIn({ phone, password: 'password-1', ip: '10.20.1.0', deviceToken }),
    ).resolves.toMatchObject({ deviceToken });
    // The owner's typos with the token count against the token, and a success clears them.
    for (let i = 0; i < 2; i += 1)
      expect(
        (await rejection(idn.logIn({ phone, password: 'wrong-pass', ip: '10.20.2.2', deviceToken }))).code,
      ).toBe('INVALID_CREDENTIALS');
    await expect(
      idn.logIn({ phone, password: 'password-1', ip: '10.20.2.3', deviceToken }),
    ).resolves.toBeTruthy();
    for (let i = 0; i < 2; i += 1)
      await rejection(idn.logIn({ phone, password: 'wrong-pass', ip: '10.20.2.4', deviceToken }));
    await expect(
      idn.logIn({ phone, password: 'password-1', ip: '10.20.2.5', deviceToken }),
    ).resolves.toBeTruthy();
    clock.advance(24 * 3600_000);
  });

  it("gives nothing for another account's token or a made-up one", async () => {
    const idn = deviceIdentity();
    const phone = freshPhone();
    const other = freshPhone();
    await idn.createUser({ phone, password: 'password-1' });
    await idn.createUser({ phone: other, password: 'password-1' });
    const othersToken = (await idn.logIn({ phone: other, password: 'password-1', ip: '10.21.0.9' }))
      .deviceToken!;
    expect(othersToken).toMatch(/^mlt_dt_/);
    await exhaustCeiling(idn, phone, '10.21');
    for (const deviceToken of [othersToken, `mlt_dt_${'A'.repeat(43)}`, 'not-a-token'])
      expect(
        (await rejection(idn.logIn({ phone, password: 'password-1', ip: '10.21.2.1', deviceToken }))).code,
      ).toBe('RATE_LIMITED');
    // The other account's token was not spent by that: it still works for its own phone.
    await expect(
      idn.logIn({ phone: other, password: 'password-1', ip: '10.21.3.1', deviceToken: othersToken }),
    ).resolves.toMatchObject({ deviceToken: othersToken });
    clock.advance(24 * 3600_000);
  });

  it('revokes a token after too many failures with it, and on a password reset; it helps no more', async () => {
    const idn = deviceIdentity();
    const phone = freshPhone();
    await idn.createUser({ phone, password: 'password-1' });
    const deviceToken = (await idn.logIn({ phone, password: 'password-1', ip: '10.22.0.1' })).deviceToken!;
    await exhaustCeiling(idn, phone, '10.22');
    // Three failures with the token: judged (not refused by the ceiling), each counted.
    for (let i = 0; i < 3; i += 1)
      expect(
        (await rejection(idn.logIn({ phone, password: 'wrong-pass', ip: `10.22.2.${i}`, deviceToken }))).code,
      ).toBe('INVALID_CREDENTIALS');
    // The next attempt revokes it and is judged without it: the ceiling refuses it.
    expect(
      (await rejection(idn.logIn({ phone, password: 'password-1', ip: '10.22.3.1', deviceToken }))).code,
    ).toBe('RATE_LIMITED');
    clock.advance(24 * 3600_000);
    // Even once its failures have left the window, it stays revoked: a log-in with it gets a new one.
    const after = await idn.logIn({ phone, password: 'password-1', ip: '10.22.3.1', deviceToken });
    expect(after.deviceToken).toMatch(/^mlt_dt_/);
    expect(after.deviceToken).not.toBe(deviceToken);

    // A password reset revokes the tokens issued before it and gives the resetting client one.
    const before = after.deviceToken!;
    await idn.requestPhoneVerification({ phone, purpose: 'password_reset' });
    const reset = await idn.resetPassword({
      phone,
      verificationCode: sms.lastCodeTo(phone)!,
      newPassword: 'password-2',
      ip: '10.22.4.1',
    });
    expect(reset.deviceToken).toMatch(/^mlt_dt_/);
    await exhaustCeiling(idn, phone, '10.23');
    expect(
      (await rejection(idn.logIn({ phone, password: 'password-2', ip: '10.22.5.1', deviceToken: before })))
        .code,
    ).toBe('RATE_LIMITED');
    await expect(
      idn.logIn({ phone, password: 'password-2', ip: '10.22.5.1', deviceToken: reset.deviceToken }),
    ).resolves.toBeTruthy();
    clock.advance(24 * 3600_000);
  });

  it('stores only a hash of each token, and prunes revoked and expired ones', async () => {
    const idn = deviceIdentity();
    const phone = freshPhone();
    await idn.createUser({ phone, password: 'password-1' });
    const session = await idn.logIn({ phone, password: 'password-1', ip: '10.24.0.1' });
    const deviceToken = session.deviceToken!;
    await rejection(idn.logIn({ phone, password: 'wrong-pass', ip: '10.24.0.2', deviceToken }));
    const stored = await t.db.query<{ token_hash: string }>(
      'SELECT token_hash FROM identity_device_tokens WHERE user_id = $1',
      [session.userId],
    );
    expect(stored.rows).toHaveLength(1);
    expect(stored.rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    const raw = JSON.stringify([
      (await t.db.query('SELECT * FROM identity_device_tokens')).rows,
      (await t.db.query('SELECT * FROM identity_login_failures')).rows,
      (await t.db.query('SELECT * FROM identity_rate_limit_gates')).rows,
    ]);
    expect(raw).not.toContain(deviceToken);
    expect(raw).not.toContain(deviceToken.slice('mlt_dt_'.length));
    // 180 days after its last use the token is gone.
    clock.advance(181 * 86_400_000);
    await idn.pruneLoginFailures();
    expect(
      (await t.db.query('SELECT 1 FROM identity_device_tokens WHERE user_id = $1', [session.userId])).rows,
    ).toHaveLength(0);
  });
});
