import { describe, expect, it } from 'vitest';
import { MilletError } from '../core/index.ts';
import { applicantDirectory } from './applicants.ts';

describe('applicantDirectory', () => {
  const user = { kycStatus: 'verified', ageYears: 31, accountClass: 'II' };
  it('maps identity and the latest score, and treats "no score yet" as none', async () => {
    const scored = applicantDirectory({
      getUser: async () => user,
      getLatestScore: async () => ({ score: 701 }),
    });
    expect(await scored.profile('u')).toEqual({
      verified: true,
      ageYears: 31,
      identityClass: 'II',
      score: 701,
    });
    const unscored = applicantDirectory({
      getUser: async () => ({ kycStatus: 'unverified', ageYears: null, accountClass: null }),
      getLatestScore: async () => {
        throw new MilletError('CREDIT_SCORE_NOT_FOUND', 'none');
      },
    });
    expect(await unscored.profile('u')).toEqual({
      verified: false,
      ageYears: null,
      identityClass: null,
      score: null,
    });
  });
  it('lets other failures through', async () => {
    const broken = applicantDirectory({
      getUser: async () => user,
      getLatestScore: async () => {
        throw new MilletError('DATABASE_UNAVAILABLE', 'down');
      },
    });
    await expect(broken.profile('u')).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
  });
});
