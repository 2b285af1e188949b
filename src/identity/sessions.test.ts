import { describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { accessTokenVerifier, signAccessToken } from './sessions.ts';

const key = randomBytes(32);
const issued = new Date('2026-12-01T10:00:00Z');
const later = (s: number) => new Date(issued.getTime() + s * 1000);
const claims = () => ({ userId: randomUUID(), sessionId: randomUUID() });

describe('accessTokenVerifier', () => {
  it('keeps judging expiry for a token it has already verified', async () => {
    const verify = accessTokenVerifier(key);
    const c = claims();
    const token = await signAccessToken(key, c, issued, 60);
    expect(verify(token, later(1))).toEqual(c);
    expect(verify(token, later(59))).toEqual(c);
    expect(() => verify(token, later(60))).toThrow(expect.objectContaining({ code: 'ACCESS_TOKEN_EXPIRED' }));
    // Still expired after the remembered entry is dropped.
    expect(() => verify(token, later(61))).toThrow(expect.objectContaining({ code: 'ACCESS_TOKEN_EXPIRED' }));
  });

  it('checks a changed token afresh after the original was remembered', async () => {
    const verify = accessTokenVerifier(key);
    const token = await signAccessToken(key, claims(), issued, 60);
    verify(token, later(1));
    const [h, p, sig] = token.split('.');
    const other = await signAccessToken(key, claims(), issued, 60);
    const forged = `${h}.${other.split('.')[1]}.${sig}`;
    expect(() => verify(forged, later(1))).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
    expect(() => verify(`${h}.${p}.${sig!.slice(0, -2)}AA`, later(1))).toThrow(
      expect.objectContaining({ code: 'UNAUTHENTICATED' }),
    );
  });

  it('refuses tokens signed with another key, remembered or not', async () => {
    const verify = accessTokenVerifier(key);
    const token = await signAccessToken(randomBytes(32), claims(), issued, 60);
    expect(() => verify(token, later(1))).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
    expect(() => verify(token, later(1))).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
  });

  it('stays within its size and still verifies tokens it dropped', async () => {
    const verify = accessTokenVerifier(key, { cacheSize: 2 });
    const all = [claims(), claims(), claims()];
    const tokens = await Promise.all(all.map((c) => signAccessToken(key, c, issued, 60)));
    for (const t of tokens) verify(t, later(1));
    tokens.forEach((t, i) => expect(verify(t, later(2))).toEqual(all[i]));
  });

  it('hands each caller its own claims object', async () => {
    const verify = accessTokenVerifier(key);
    const token = await signAccessToken(key, claims(), issued, 60);
    const first = verify(token, later(1));
    first.userId = 'changed';
    expect(verify(token, later(1)).userId).not.toBe('changed');
  });
});
