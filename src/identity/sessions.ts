import { createHash, randomBytes } from 'node:crypto';
import { createVerifier } from 'fast-jwt';
import { SignJWT } from 'jose';
import { MilletError } from '../core/index.ts';

export const ACCESS_TOKEN_ISSUER = 'millet';
const REFRESH_TOKEN_PREFIX = 'mlt_rt_';
const DEVICE_TOKEN_PREFIX = 'mlt_dt_';

export interface AccessClaims {
  userId: string;
  sessionId: string;
}

/** An HS256 JWT: `sub` = user id, `sid` = session id, `typ` = 'access', `iat`/`exp` from the Clock. */
export function signAccessToken(
  key: Uint8Array,
  claims: AccessClaims,
  now: Date,
  ttlSeconds: number,
): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  return new SignJWT({ typ: 'access', sid: claims.sessionId })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.userId)
    .setIssuer(ACCESS_TOKEN_ISSUER)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttlSeconds)
    .sign(key);
}

/**
 * Verifies access tokens with one key: signature (HS256 only), issuer, `typ` and expiry — against
 * `now` from the Clock, not the system clock. fast-jwt checks the signature with node:crypto
 * synchronously. Tokens that passed are remembered, keyed by the whole token string (a changed byte
 * is another key, checked afresh), up to `cacheSize` of them, oldest dropped first: a flash sale
 * sees each of a hundred thousand users' tokens many times, and a map lookup costs a fraction of
 * an HMAC (fast-jwt's own cache hashes every token to find it). Expiry is judged on every call.
 */
export function accessTokenVerifier(
  key: Uint8Array,
  options: { cacheSize?: number } = {},
): (token: string, now: Date) => AccessClaims {
  const cacheSize = options.cacheSize ?? 100_000;
  const verify = createVerifier({
    key: Buffer.from(key),
    algorithms: ['HS256'],
    allowedIss: ACCESS_TOKEN_ISSUER,
    ignoreExpiration: true,
    ignoreNotBefore: true,
  });
  const verified = new Map<string, { userId: string; sessionId: string; exp: number }>();
  const expired = () =>
    new MilletError('ACCESS_TOKEN_EXPIRED', 'The access token has expired; refresh the session');
  return (token, now) => {
    const nowSeconds = Math.floor(now.getTime() / 1000);
    const known = verified.get(token);
    if (known) {
      if (known.exp <= nowSeconds) {
        verified.delete(token);
        throw expired();
      }
      return { userId: known.userId, sessionId: known.sessionId };
    }
    let payload: Record<string, unknown>;
    try {
      payload = verify(token) as Record<string, unknown>;
    } catch {
      throw new MilletError('UNAUTHENTICATED', 'The access token is not valid');
    }
    if (typeof payload.exp !== 'number')
      throw new MilletError('UNAUTHENTICATED', 'The access token is not valid');
    if (payload.exp <= nowSeconds) throw expired();
    if (payload.typ !== 'access' || typeof payload.sid !== 'string' || typeof payload.sub !== 'string')
      throw new MilletError('UNAUTHENTICATED', 'The bearer token is not an access token');
    if (cacheSize > 0) {
      if (verified.size >= cacheSize) verified.delete(verified.keys().next().value!);
      verified.set(token, { userId: payload.sub, sessionId: payload.sid, exp: payload.exp });
    }
    return { userId: payload.sub, sessionId: payload.sid };
  };
}

/** An opaque refresh token: 32 random bytes; only its SHA-256 is stored. */
export function generateRefreshToken(): string {
  return REFRESH_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function looksLikeRefreshToken(token: string): boolean {
  return /^mlt_rt_[A-Za-z0-9_-]{43}$/.test(token);
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * A device token (OWASP "device cookies"): 32 random bytes, proof that this client logged in to
 * the account before. Only its SHA-256 is stored, as a refresh token's.
 */
export function generateDeviceToken(): string {
  return DEVICE_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function looksLikeDeviceToken(token: string): boolean {
  return /^mlt_dt_[A-Za-z0-9_-]{43}$/.test(token);
}

export function hashDeviceToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
