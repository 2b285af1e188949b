import { isMilletError } from '../core/index.ts';
import type { ApplicantDirectory, IdentityClass } from './types.ts';

/**
 * The applicant directory over identity's `getUser` and the score service's `getLatestScore`
 * (structural types, so the marketplace imports neither module): the composition root passes them.
 */
export function applicantDirectory(parts: {
  getUser(
    userId: string,
  ): Promise<{ kycStatus: string; ageYears: number | null; accountClass: string | null }>;
  getLatestScore(userId: string): Promise<{ score: number }>;
}): ApplicantDirectory {
  return {
    async profile(userId) {
      const user = await parts.getUser(userId);
      let score: number | null = null;
      try {
        score = (await parts.getLatestScore(userId)).score;
      } catch (error) {
        if (!isMilletError(error) || error.code !== 'CREDIT_SCORE_NOT_FOUND') throw error;
      }
      return {
        verified: user.kycStatus === 'verified',
        ageYears: user.ageYears,
        identityClass: (user.accountClass as IdentityClass | null) ?? null,
        score,
      };
    },
  };
}
