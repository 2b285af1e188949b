import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { MilletError } from '../core/index.ts';

export const ACCESS_TOKEN_ISSUER = 'millet';
const REFRESH_TOKEN_PREFIX = 'mlt_rt_';

export interface AccessClaims {
  userId: string;
  sessionId: string;
}

/** An HS256 JWT: `sub` = user id, `sid` = session id, `typ` = 'access', `iat`/`exp` from the Clock. */
export function signAccessToken(
  key: Uint8Array | KeyObject,
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

/** Verifies signature, issuer, `typ` and expiry (against `now`, not the system clock). */
/** `key` as a KeyObject (createSecretKey) saves jose importing the raw bytes on every call. */
export async function verifyAccessToken(
  key: Uint8Array | KeyObject,
  token: string,
  now: Date,
): Promise<AccessClaims> {
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: ['HS256'],
      issuer: ACCESS_TOKEN_ISSUER,
      currentDate: now,
      requiredClaims: ['sub', 'exp', 'sid', 'typ'],
    });
    if (payload.typ !== 'access' || typeof payload.sid !== 'string' || typeof payload.sub !== 'string')
      throw new MilletError('UNAUTHENTICATED', 'The bearer token is not an access token');
    return { userId: payload.sub, sessionId: payload.sid };
  } catch (error) {
    if (error instanceof MilletError) throw error;
    if (error instanceof joseErrors.JWTExpired)
      throw new MilletError('ACCESS_TOKEN_EXPIRED', 'The access token has expired; refresh the session');
    throw new MilletError('UNAUTHENTICATED', 'The access token is not valid');
  }
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
