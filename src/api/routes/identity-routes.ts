import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  accountClasses,
  phoneVerificationPurposes,
  type Identity,
  type PhoneVerificationSent,
  type SessionTokens,
  type User,
} from '../../identity/index.ts';
import { timestampOutput } from '../schemas.ts';

const userOutput = z.object({
  id: z.string(),
  phone: z.string().meta({ description: 'Masked: 138****5678' }),
  kyc_status: z.enum(['none', 'verified']),
  account_class: z.enum(accountClasses).nullable(),
  real_name: z.string().nullable().meta({ description: 'Masked: 张*; null until verified' }),
  resident_id: z.string().nullable().meta({ description: 'Masked: 1101**********1234; null until verified' }),
  birth_date: z.string().nullable().meta({ description: 'YYYY-MM-DD, from the resident ID' }),
  age_years: z.number().int().nullable().meta({ description: 'Completed years at today’s business date' }),
  is_adult: z.boolean().meta({ description: 'Verified and 18 or over; credit products need it' }),
  verified_at: timestampOutput.nullable(),
  created_at: timestampOutput,
});

const tokensOutput = z.object({
  access_token: z.string().nullable().meta({
    description:
      'HS256 JWT for "Authorization: Bearer …"; null when an idempotent retry replays the response',
  }),
  refresh_token: z.string().nullable().meta({
    description: 'Opaque and single use; null when an idempotent retry replays the response',
  }),
  token_type: z.literal('Bearer'),
  expires_in: z.number().int().meta({ description: 'Seconds until the access token expires' }),
  refresh_expires_in: z.number().int(),
  user_id: z.string(),
  session_id: z.string(),
  device_token: z.string().nullable().optional().meta({
    description:
      'Log-in and password reset only: send it back as X-Device-Token with this client’s later log-ins at this account (180 days from the last log-in with it). Null when an idempotent retry replays the response',
  }),
});

const phoneVerificationOutput = z.object({
  phone: z.string().meta({ description: 'Masked: 138****5678' }),
  purpose: z.enum(phoneVerificationPurposes),
  expires_in: z.number().int().meta({ description: 'Seconds the code is valid (300)' }),
  resend_after: z.number().int().meta({ description: 'Seconds before another code may be sent (60)' }),
  sandbox_code: z.string().nullable().optional().meta({
    description:
      'The code sent, only where MILLET_SMS_SANDBOX_CODES is on (development and the demo); null when an idempotent retry replays the response',
  }),
});

function phoneVerificationJson(sent: PhoneVerificationSent): z.input<typeof phoneVerificationOutput> {
  return {
    phone: sent.phoneMasked,
    purpose: sent.purpose,
    expires_in: sent.expiresInSeconds,
    resend_after: sent.resendAfterSeconds,
    ...(sent.sandboxCode === undefined ? {} : { sandbox_code: sent.sandboxCode }),
  };
}

function userJson(user: User): z.input<typeof userOutput> {
  return {
    id: user.id,
    phone: user.phoneMasked,
    kyc_status: user.kycStatus,
    account_class: user.accountClass,
    real_name: user.realNameMasked,
    resident_id: user.residentIdMasked,
    birth_date: user.birthDate,
    age_years: user.ageYears,
    is_adult: user.isAdult,
    verified_at: user.verifiedAt ? user.verifiedAt.toISOString() : null,
    created_at: user.createdAt.toISOString(),
  };
}

function tokensJson(tokens: SessionTokens): z.input<typeof tokensOutput> {
  return {
    access_token: tokens.accessToken,
    refresh_token: tokens.refreshToken,
    token_type: tokens.tokenType,
    expires_in: tokens.expiresIn,
    refresh_expires_in: tokens.refreshExpiresIn,
    user_id: tokens.userId,
    session_id: tokens.sessionId,
    ...(tokens.deviceToken === undefined ? {} : { device_token: tokens.deviceToken }),
  };
}

// Shapes are checked loosely here and exactly by the identity module, whose errors never echo the
// value (a phone number or ID must not come back in an error or a log line).
const credentials = z.object({
  phone: z
    .string()
    .max(32)
    .meta({ description: 'E.164, or an 11-digit mainland mobile number (+86 assumed)' }),
  password: z.string().max(512).meta({ description: 'At least 8 characters' }),
});
const signUpBody = credentials.extend({
  verification_code: z
    .string()
    .max(16)
    .meta({ description: 'The 6-digit code from POST /v1/phone-verifications (purpose sign_up)' }),
});
const passwordResetBody = z.object({
  phone: credentials.shape.phone,
  verification_code: z.string().max(16).meta({
    description: 'The 6-digit code from POST /v1/phone-verifications (purpose password_reset)',
  }),
  new_password: z.string().max(512).meta({ description: 'The same rules as sign-up: at least 8 characters' }),
});
const refreshBody = z.object({ refresh_token: z.string().max(256) });
const tokenRedact = ['access_token', 'refresh_token', 'device_token'] as const;
// Loose: a headers schema's output replaces request.headers, which must keep every other header.
const logInHeaders = z.looseObject({
  'x-device-token': z.string().max(128).optional().meta({
    description:
      'The device_token an earlier log-in or password reset at this account gave this client. A valid one counts this attempt’s failures against the token alone (ten in 24 hours, then it is revoked): the phone’s daily ceiling and the address limits do not refuse it. An unknown, expired, revoked or other account’s token is ignored.',
  }),
});

export const identityRoutes: FastifyPluginAsyncZod<{ identity: Identity }> = async (app, { identity }) => {
  // Bodies with passwords, tokens or personal data are fingerprinted through keyed digests: the
  // idempotency store then holds nothing a fast hash of a phone number or ID would give back.
  const digestFields =
    (...fields: string[]) =>
    (body: unknown) =>
      Object.fromEntries(
        Object.entries((body ?? {}) as Record<string, unknown>).map(([k, v]) => [
          k,
          fields.includes(k) && typeof v === 'string' ? identity.keyedDigest(`${k}\0${v}`) : v,
        ]),
      );

  app.post(
    '/phone-verifications',
    {
      // The stored replay keeps no code: codes exist only as keyed hashes at rest.
      config: { idempotencyFingerprint: digestFields('phone'), idempotencyRedact: ['sandbox_code'] },
      schema: {
        tags: ['users'],
        summary: 'Send a 6-digit code by SMS to prove a phone number (sign-up or password reset)',
        description:
          'The code is valid for 5 minutes, once, for its purpose only, and survives 5 wrong tries. One code per phone and client address every 60 s and 5 per 24 hours, 20 per phone per 24 hours whatever the addresses, and 20 per client address per hour, else 429 RATE_LIMITED with Retry-After; these limits count sign-up and reset codes together, and a new code replaces the last of its purpose. A password_reset code is only texted to a number with an account, but the answer (and the later refusal of any code) is the same whether or not the number has one.',
        body: z.object({
          phone: credentials.shape.phone,
          purpose: z.enum(phoneVerificationPurposes),
        }),
        response: { 202: phoneVerificationOutput },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(
          phoneVerificationJson(await identity.requestPhoneVerification({ ...request.body, ip: request.ip })),
        ),
  );

  app.post(
    '/users',
    {
      config: { idempotencyFingerprint: digestFields('phone', 'password', 'verification_code') },
      schema: {
        tags: ['users'],
        summary: 'Sign up with a phone number, the SMS code sent to it and a password',
        description:
          'A wrong or spent code answers 422 PHONE_VERIFICATION_INVALID (attempts_remaining says how many tries the code has left), a code past its 5 minutes 422 PHONE_VERIFICATION_EXPIRED. A 409 PHONE_ALREADY_REGISTERED counts as a failed log-in from the client address: twenty within 15 minutes answer 429 RATE_LIMITED with Retry-After.',
        body: signUpBody,
        response: { 201: userOutput },
      },
    },
    async (request, reply) =>
      reply.code(201).send(
        userJson(
          await identity.signUp({
            phone: request.body.phone,
            password: request.body.password,
            verificationCode: request.body.verification_code,
            ip: request.ip,
          }),
        ),
      ),
  );

  app.post(
    '/sessions',
    {
      config: {
        idempotencyFingerprint: digestFields('phone', 'password'),
        idempotencyRedact: tokenRedact,
        idempotencyForgetsSuccess: true,
      },
      schema: {
        tags: ['users'],
        summary: 'Log in: an access token (15 minutes) and a refresh token',
        description:
          'Five failed log-ins for a phone number from one client address (twenty from one address whatever the phones) within 15 minutes answer 429 RATE_LIMITED with Retry-After there, so strangers guessing elsewhere do not lock the owner out; a hundred for a phone within 24 hours from all addresses together answer it too, except at addresses the user logged in, signed up or reset the password from in the last 30 days (a password reset clears them). An attempt with a valid X-Device-Token (the device_token of an earlier log-in here) is limited by the token only: ten failures with it in 24 hours revoke it, and the attempt after that is judged as one without it. A success is not kept under its Idempotency-Key: a retry logs in again and gets new tokens (a refusal is replayed).',
        body: credentials,
        headers: logInHeaders,
        response: { 201: tokensOutput },
      },
    },
    async (request, reply) =>
      reply.code(201).send(
        tokensJson(
          await identity.logIn({
            ...request.body,
            ip: request.ip,
            deviceToken: request.headers['x-device-token'],
          }),
        ),
      ),
  );

  app.post(
    '/auth/password-reset',
    {
      config: {
        idempotencyFingerprint: digestFields('phone', 'verification_code', 'new_password'),
        idempotencyRedact: tokenRedact,
      },
      schema: {
        tags: ['users'],
        summary: 'Forgot password: set a new one with an SMS code, and log in',
        description:
          'The code comes from POST /v1/phone-verifications with purpose password_reset. Sets the new password (the same rules as sign-up, 422 PASSWORD_TOO_WEAK before the code is spent), ends every session of the user (their refresh and access tokens stop working), clears the failed log-ins that lock the phone, revokes the user’s device tokens, and answers with a new session’s tokens and a new device_token, so the owner gets in even while someone else keeps failing log-ins. A wrong or spent code, or a phone without an account, answers 422 PHONE_VERIFICATION_INVALID; a code past its 5 minutes 422 PHONE_VERIFICATION_EXPIRED. A retry under the same Idempotency-Key replays the answer with the tokens null (log in with the new password).',
        body: passwordResetBody,
        response: { 201: tokensOutput },
      },
    },
    async (request, reply) =>
      reply.code(201).send(
        tokensJson(
          await identity.resetPassword({
            phone: request.body.phone,
            verificationCode: request.body.verification_code,
            newPassword: request.body.new_password,
            ip: request.ip,
          }),
        ),
      ),
  );

  app.post(
    '/sessions/refresh',
    {
      config: { idempotencyFingerprint: digestFields('refresh_token'), idempotencyRedact: tokenRedact },
      schema: {
        tags: ['users'],
        summary: 'Exchange a refresh token for new tokens; the old refresh token stops working',
        description:
          'A refresh token used twice revokes its session (401 REFRESH_TOKEN_REUSED): one of the two holders is not the user.',
        body: refreshBody,
        response: { 200: tokensOutput },
      },
    },
    async (request) => tokensJson(await identity.refresh(request.body.refresh_token)),
  );

  app.post(
    '/sessions/logout',
    {
      config: { idempotencyFingerprint: digestFields('refresh_token') },
      schema: {
        tags: ['users'],
        summary: 'Log out: revokes the session, its refresh token and its access tokens',
        body: refreshBody,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await identity.logOut(request.body.refresh_token);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/me',
    {
      config: { userAuth: true },
      schema: {
        tags: ['users'],
        summary: 'The logged-in user (personal data masked)',
        response: { 200: userOutput },
      },
    },
    async (request) => userJson(await identity.getUser(request.user!.userId)),
  );

  app.post(
    '/me/identity',
    {
      config: { userAuth: true, idempotencyFingerprint: digestFields('real_name', 'resident_id') },
      schema: {
        tags: ['users'],
        summary: 'Verify identity (KYC): real name and resident ID; sets the account class',
        description:
          '409 RESIDENT_ID_ALREADY_REGISTERED when the ID is verified for another user; after five of those within 24 hours the user gets 429 RATE_LIMITED with Retry-After, so an account cannot look up who is a customer by ID number.',
        body: z.object({
          real_name: z.string().max(100),
          resident_id: z.string().max(32).meta({ description: '18 characters with its check digit' }),
          account_class: z
            .enum(accountClasses)
            .optional()
            .meta({ description: 'Requested class; I when absent' }),
        }),
        response: { 200: userOutput },
      },
    },
    async (request) =>
      userJson(
        await identity.verifyIdentity(request.user!.userId, {
          realName: request.body.real_name,
          residentId: request.body.resident_id,
          accountClass: request.body.account_class,
        }),
      ),
  );
};
