import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, type MilletError } from '../core/index.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';
import { rejection } from '../../test/support/rejection.ts';
import { SandboxSms, createIdentity, identityMigrations, type Identity, type SmsSender } from './index.ts';

let t: TestDatabase;
let identity: Identity;
const clock = new ManualClock('2025-06-01T00:00:00Z');
const encryptionKey = randomBytes(32);
const sms = new SandboxSms();

beforeAll(async () => {
  t = await openTestDatabase(identityMigrations);
  identity = createIdentity({ db: t.db, clock, encryptionKey, sms });
});
afterAll(async () => {
  await t.close();
});

let phoneCounter = 0;
function freshPhone(): string {
  phoneCounter += 1;
  return `158${String(10_000_000 + phoneCounter * 7919).slice(-8)}`;
}

async function sendCode(phone: string, via: Identity = identity): Promise<string> {
  await via.requestPhoneVerification({ phone, purpose: 'sign_up' });
  return sms.lastCodeTo(phone)!;
}

const signUp = (phone: string, verificationCode: string, via: Identity = identity) =>
  via.signUp({ phone, password: 'password-1', verificationCode });

/** A six-digit code that is not `code`. */
const otherThan = (code: string, n = 1) => String((Number(code) + n) % 1_000_000).padStart(6, '0');

describe('phone verification codes', () => {
  it('sends six digits through the SmsSender and answers without them unless sandbox codes are on', async () => {
    const phone = freshPhone();
    const sent = await identity.requestPhoneVerification({ phone: `+86 ${phone}`, purpose: 'sign_up' });
    expect(sent).toEqual({
      phoneMasked: `${phone.slice(0, 3)}****${phone.slice(-4)}`,
      purpose: 'sign_up',
      expiresInSeconds: 300,
      resendAfterSeconds: 60,
    });
    const message = sms.messages().at(-1)!;
    expect(message).toMatchObject({ to: `+86${phone}`, purpose: 'sign_up', expiresInMinutes: 5 });
    expect(message.code).toMatch(/^\d{6}$/);
    expect(message.text).toContain(message.code);

    const sandbox = createIdentity({ db: t.db, clock, encryptionKey, sms, sandboxCodes: true });
    const other = freshPhone();
    const answered = await sandbox.requestPhoneVerification({ phone: other, purpose: 'sign_up' });
    expect(answered.sandboxCode).toBe(sms.lastCodeTo(other));
  });

  it('refuses a bad phone number or purpose before sending anything', async () => {
    const before = sms.messages().length;
    expect(
      (await rejection(identity.requestPhoneVerification({ phone: '12345', purpose: 'sign_up' }))).code,
    ).toBe('PHONE_INVALID');
    const purpose = 'log_in' as 'sign_up';
    expect((await rejection(identity.requestPhoneVerification({ phone: freshPhone(), purpose }))).code).toBe(
      'VALIDATION_FAILED',
    );
    expect(sms.messages()).toHaveLength(before);
  });

  it('is valid for five minutes', async () => {
    const inTime = freshPhone();
    const late = freshPhone();
    const inTimeCode = await sendCode(inTime);
    const lateCode = await sendCode(late);
    clock.advance(5 * 60_000 - 1);
    await expect(signUp(inTime, inTimeCode)).resolves.toBeTruthy();
    clock.advance(1);
    const expired = await rejection(signUp(late, lateCode));
    expect(expired.code).toBe('PHONE_VERIFICATION_EXPIRED');
    expect(expired.details).toEqual({ field: 'verification_code' });
  });

  it('is single use, even by sign-ups sent together', async () => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    const attempts = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) =>
        identity.signUp({ phone, password: `password-${i}`, verificationCode: code }),
      ),
    );
    const answers = attempts.map((a) => (a.status === 'fulfilled' ? 'OK' : (a.reason as MilletError).code));
    expect(answers.filter((a) => a === 'OK')).toHaveLength(1);
    expect(answers.filter((a) => a === 'PHONE_VERIFICATION_INVALID')).toHaveLength(4);
    expect((await rejection(signUp(phone, code))).code).toBe('PHONE_VERIFICATION_INVALID');
  });

  it('survives four wrong tries; the fifth spends it, even for the right code', async () => {
    const survivor = freshPhone();
    const survivorCode = await sendCode(survivor);
    for (let i = 1; i <= 4; i += 1) {
      const wrong = await rejection(signUp(survivor, otherThan(survivorCode, i)));
      expect([wrong.code, wrong.details?.attemptsRemaining]).toEqual(['PHONE_VERIFICATION_INVALID', 5 - i]);
    }
    await expect(signUp(survivor, survivorCode)).resolves.toBeTruthy();

    const spent = freshPhone();
    const spentCode = await sendCode(spent);
    for (let i = 1; i <= 5; i += 1) await rejection(signUp(spent, otherThan(spentCode, i)));
    const right = await rejection(signUp(spent, spentCode));
    expect([right.code, right.details?.attemptsRemaining]).toEqual(['PHONE_VERIFICATION_INVALID', 0]);
    // A new code (after the minute) starts again with five tries.
    clock.advance(60_000);
    await expect(signUp(spent, await sendCode(spent))).resolves.toBeTruthy();
  });

  it('counts wrong tries sent together exactly, across processes', async () => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    const elsewhere = createIdentity({ db: t.db, clock, encryptionKey, sms });
    const guesses = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        signUp(phone, otherThan(code, i + 1), i % 2 ? identity : elsewhere),
      ),
    );
    const remaining = guesses.map((g) =>
      g.status === 'rejected' ? (g.reason as MilletError).details?.attemptsRemaining : 'OK',
    );
    expect([...remaining].sort()).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    expect((await rejection(signUp(phone, code))).code).toBe('PHONE_VERIFICATION_INVALID');
  });

  it('is bound to the phone it was sent to', async () => {
    const a = freshPhone();
    const b = freshPhone();
    const codeA = await sendCode(a);
    expect((await rejection(signUp(b, codeA))).code).toBe('PHONE_VERIFICATION_INVALID');
    await sendCode(b);
    expect((await rejection(signUp(b, codeA))).code).toBe('PHONE_VERIFICATION_INVALID');
    await expect(signUp(a, codeA)).resolves.toBeTruthy();
  });

  it('refuses sign-up with no code, a malformed one or one never sent', async () => {
    const phone = freshPhone();
    for (const code of ['', '12345', '1234567', '12345a', ' 123456'])
      expect((await rejection(signUp(phone, code))).code, code).toBe('PHONE_VERIFICATION_INVALID');
    expect((await rejection(signUp(phone, '123456'))).code).toBe('PHONE_VERIFICATION_INVALID');
  });

  it('sends again no sooner than 60 s, and the new code replaces the old', async () => {
    const phone = freshPhone();
    const first = await sendCode(phone);
    const early = await rejection(identity.requestPhoneVerification({ phone, purpose: 'sign_up' }));
    expect([early.code, early.details?.retryAfterSeconds]).toEqual(['RATE_LIMITED', 60]);
    clock.advance(45_000);
    const still = await rejection(identity.requestPhoneVerification({ phone, purpose: 'sign_up' }));
    expect(still.details?.retryAfterSeconds).toBe(15);
    clock.advance(15_000);
    const second = await sendCode(phone);
    if (second !== first)
      expect((await rejection(signUp(phone, first))).code).toBe('PHONE_VERIFICATION_INVALID');
    await expect(signUp(phone, second)).resolves.toBeTruthy();
  });

  it('sends at most five a day to one phone from one address', async () => {
    const phone = freshPhone();
    const ip = '203.0.113.50';
    const start = clock.now().getTime();
    const ask = (from = ip) => identity.requestPhoneVerification({ phone, purpose: 'sign_up', ip: from });
    for (let i = 0; i < 5; i += 1) {
      await ask();
      clock.advance(60_000);
    }
    const limited = await rejection(ask());
    // The first of the five leaves the 24 hours at start + 24 h; it is now start + 5 min.
    expect([limited.code, limited.details?.retryAfterSeconds]).toEqual(['RATE_LIMITED', 24 * 3600 - 300]);
    // Another phone from the address, and the phone from another address, are not limited with it.
    await expect(
      identity.requestPhoneVerification({ phone: freshPhone(), purpose: 'sign_up', ip }),
    ).resolves.toBeTruthy();
    await expect(ask('203.0.113.51')).resolves.toBeTruthy();
    clock.set(new Date(start + 24 * 3600_000 - 1));
    expect((await rejection(ask())).code).toBe('RATE_LIMITED');
    clock.advance(1);
    await ask();
    await expect(signUp(phone, sms.lastCodeTo(phone)!)).resolves.toBeTruthy();
  });

  it("leaves the owner's codes alone when strangers text the phone from other addresses", async () => {
    const phone = freshPhone();
    const strangers = ['198.51.100.61', '198.51.100.62', '198.51.100.63'];
    for (let i = 0; i < 5; i += 1) {
      for (const ip of strangers) await identity.requestPhoneVerification({ phone, purpose: 'sign_up', ip });
      clock.advance(60_000);
    }
    for (const ip of strangers)
      expect(
        (await rejection(identity.requestPhoneVerification({ phone, purpose: 'sign_up', ip }))).code,
      ).toBe('RATE_LIMITED');
    // Fifteen codes from strangers, the last a second ago: neither the day's count nor the minute
    // holds back the owner, asking from their own address.
    clock.advance(1_000);
    await identity.requestPhoneVerification({ phone, purpose: 'sign_up', ip: '203.0.113.60' });
    await expect(signUp(phone, sms.lastCodeTo(phone)!)).resolves.toBeTruthy();
  });

  it('sends at most twenty a day to one phone whatever the addresses, even sent together across processes', async () => {
    const phone = freshPhone();
    const start = clock.now().getTime();
    const elsewhere = createIdentity({ db: t.db, clock, encryptionKey, sms });
    const results = await Promise.allSettled(
      Array.from({ length: 26 }, (_, i) =>
        (i % 2 ? identity : elsewhere).requestPhoneVerification({
          phone,
          purpose: 'sign_up',
          ip: `198.51.100.${100 + i}`,
        }),
      ),
    );
    const answers = results.map((r) => (r.status === 'fulfilled' ? 'OK' : (r.reason as MilletError).code));
    expect(answers.filter((a) => a === 'OK')).toHaveLength(20);
    expect(answers.filter((a) => a === 'RATE_LIMITED')).toHaveLength(6);
    clock.advance(60_000);
    const ask = () => identity.requestPhoneVerification({ phone, purpose: 'sign_up', ip: '203.0.113.70' });
    const limited = await rejection(ask());
    expect([limited.code, limited.details?.retryAfterSeconds]).toEqual(['RATE_LIMITED', 24 * 3600 - 60]);
    clock.set(new Date(start + 24 * 3600_000));
    await ask();
    await expect(signUp(phone, sms.lastCodeTo(phone)!)).resolves.toBeTruthy();
  });

  it('holds the resend limit against requests sent together, across processes', async () => {
    const phone = freshPhone();
    const elsewhere = createIdentity({ db: t.db, clock, encryptionKey, sms });
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        (i % 2 ? identity : elsewhere).requestPhoneVerification({ phone, purpose: 'sign_up' }),
      ),
    );
    const answers = results.map((r) => (r.status === 'fulfilled' ? 'OK' : (r.reason as MilletError).code));
    expect(answers.filter((a) => a === 'OK')).toHaveLength(1);
    expect(answers.filter((a) => a === 'RATE_LIMITED')).toHaveLength(7);
    // A code sent by one process is checked by another: the state is in the database.
    await expect(signUp(phone, sms.lastCodeTo(phone)!, elsewhere)).resolves.toBeTruthy();
  });

  it('sends at most 20 codes an hour from one address, whatever the phones, across processes', async () => {
    const ip = '203.0.113.40';
    const elsewhere = createIdentity({ db: t.db, clock, encryptionKey, sms });
    const start = clock.now().getTime();
    const askFrom = (from: string | undefined, via: Identity = identity) =>
      via.requestPhoneVerification({
        phone: freshPhone(),
        purpose: 'sign_up',
        ...(from ? { ip: from } : {}),
      });
    const results = await Promise.allSettled(
      Array.from({ length: 26 }, (_, i) => askFrom(ip, i % 2 ? identity : elsewhere)),
    );
    const answers = results.map((r) => (r.status === 'fulfilled' ? 'OK' : (r.reason as MilletError).code));
    expect(answers.filter((a) => a === 'OK')).toHaveLength(20);
    expect(answers.filter((a) => a === 'RATE_LIMITED')).toHaveLength(6);
    const limited = await rejection(askFrom(ip));
    expect([limited.code, limited.details?.retryAfterSeconds]).toEqual(['RATE_LIMITED', 3600]);
    // Other addresses, and callers that give none, are not limited with it.
    await expect(askFrom('203.0.113.41')).resolves.toBeTruthy();
    await expect(askFrom(undefined)).resolves.toBeTruthy();
    clock.set(new Date(start + 3600_000 - 1));
    expect((await rejection(askFrom(ip, elsewhere))).code).toBe('RATE_LIMITED');
    clock.advance(1);
    await expect(askFrom(ip)).resolves.toBeTruthy();
  });

  it('takes the per-address limit from the options, and does not count withdrawn codes', async () => {
    const ip = '203.0.113.42';
    let gatewayDown = false;
    const flaky: SmsSender = {
      async sendVerificationCode(message) {
        if (gatewayDown) throw new Error('gateway down');
        await sms.sendVerificationCode(message);
      },
    };
    const strict = createIdentity({
      db: t.db,
      clock,
      encryptionKey,
      sms: flaky,
      smsAddressLimit: { maxPerAddress: 2, addressWindowMs: 60_000 },
    });
    const askFrom = () => strict.requestPhoneVerification({ phone: freshPhone(), purpose: 'sign_up', ip });
    gatewayDown = true;
    expect((await rejection(askFrom())).code).toBe('SMS_UNAVAILABLE');
    gatewayDown = false;
    await askFrom();
    await askFrom();
    const limited = await rejection(askFrom());
    expect([limited.code, limited.details?.retryAfterSeconds]).toEqual(['RATE_LIMITED', 60]);
    clock.advance(60_000);
    await expect(askFrom()).resolves.toBeTruthy();
  });

  it('sends a registered number a code like any other; the sign-up with it then says so', async () => {
    const phone = freshPhone();
    await identity.createUser({ phone, password: 'password-1' });
    const registered = await identity.requestPhoneVerification({ phone, purpose: 'sign_up' });
    const unknown = await identity.requestPhoneVerification({ phone: freshPhone(), purpose: 'sign_up' });
    expect({ ...registered, phoneMasked: '' }).toEqual({ ...unknown, phoneMasked: '' });
    expect((await rejection(signUp(phone, sms.lastCodeTo(phone)!))).code).toBe('PHONE_ALREADY_REGISTERED');
  });

  it('withdraws a code whose SMS failed: SMS_UNAVAILABLE, and the retry is not held back', async () => {
    let fail = true;
    const flaky: SmsSender = {
      async sendVerificationCode(message) {
        if (fail) throw new Error('gateway down');
        await sms.sendVerificationCode(message);
      },
    };
    const withFlaky = createIdentity({ db: t.db, clock, encryptionKey, sms: flaky });
    const phone = freshPhone();
    const error = await rejection(withFlaky.requestPhoneVerification({ phone, purpose: 'sign_up' }));
    expect([error.code, error.details]).toEqual(['SMS_UNAVAILABLE', undefined]);
    expect((await rejection(signUp(phone, '123456'))).code).toBe('PHONE_VERIFICATION_INVALID');
    fail = false;
    await expect(withFlaky.requestPhoneVerification({ phone, purpose: 'sign_up' })).resolves.toBeTruthy();
    await expect(signUp(phone, sms.lastCodeTo(phone)!)).resolves.toBeTruthy();
  });

  it('answers a reset code alike whether the gateway is down or the number has no account, and withdraws it', async () => {
    let fail = true;
    let tried = 0;
    const flaky: SmsSender = {
      async sendVerificationCode(message) {
        tried += 1;
        if (fail) throw new Error('gateway down');
        await sms.sendVerificationCode(message);
      },
    };
    const withFlaky = createIdentity({ db: t.db, clock, encryptionKey, sms: flaky });
    const phone = freshPhone();
    await identity.createUser({ phone, password: 'password-1' });
    const registered = await withFlaky.requestPhoneVerification({ phone, purpose: 'password_reset' });
    const unknown = await withFlaky.requestPhoneVerification({
      phone: freshPhone(),
      purpose: 'password_reset',
    });
    expect({ ...registered, phoneMasked: '' }).toEqual({ ...unknown, phoneMasked: '' });
    expect(tried).toBe(1);
    // The failed text's code is withdrawn in the background: the owner may ask again at once.
    fail = false;
    await expect
      .poll(async () => {
        try {
          return (await withFlaky.requestPhoneVerification({ phone, purpose: 'password_reset' })).purpose;
        } catch (error) {
          return (error as MilletError).code;
        }
      })
      .toBe('password_reset');
    const tokens = await identity.resetPassword({
      phone,
      verificationCode: sms.lastCodeTo(phone)!,
      newPassword: 'password-2',
    });
    expect(tokens.userId).toEqual(expect.any(String));
  });

  it('stores only a keyed hash, and prunes codes a day old', async () => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    const rows = (
      await t.db.query<Record<string, unknown>>(
        'SELECT * FROM identity_phone_verifications ORDER BY sent_at DESC LIMIT 1',
      )
    ).rows;
    expect(Object.values(rows[0]!).map(String)).not.toContain(code);
    expect(rows[0]!.code_hash).toMatch(/^[0-9a-f]{64}$/);
    // Another key (another deployment, or a reader of the table alone) cannot check a code.
    const otherKey = createIdentity({ db: t.db, clock, encryptionKey: randomBytes(32), sms });
    expect((await rejection(signUp(phone, code, otherKey))).code).toBe('PHONE_VERIFICATION_INVALID');

    const count = async () =>
      Number(
        (await t.db.query<{ n: string }>('SELECT count(*) AS n FROM identity_phone_verifications')).rows[0]!
          .n,
      );
    const before = await count();
    expect(before).toBeGreaterThan(0);
    clock.advance(24 * 3600_000);
    expect(await identity.prunePhoneVerifications()).toBe(before);
    expect(await count()).toBe(0);
  });
});

describe('SandboxSms', () => {
  it('logs each message with the phone masked and without the code', async () => {
    const lines: Array<{ obj: unknown; msg: unknown }> = [];
    const sandbox = new SandboxSms({
      logger: { info: (obj: unknown, msg?: unknown) => lines.push({ obj, msg }) } as never,
      keep: 2,
    });
    for (const code of ['111111', '222222', '333333'])
      await sandbox.sendVerificationCode({
        to: '+8613812345678',
        purpose: 'sign_up',
        code,
        expiresInMinutes: 5,
      });
    expect(lines).toHaveLength(3);
    expect(lines[0]!.obj).toEqual({ to: '138****5678', purpose: 'sign_up' });
    expect(JSON.stringify(lines)).not.toMatch(/13812345678|111111/);
    expect(sandbox.messages().map((m) => m.code)).toEqual(['222222', '333333']);
    expect(sandbox.lastCodeTo('138 1234 5678')).toBe('333333');
  });
});
