import { isMilletError } from '../core/index.ts';
import type { PaylaterScoreSource } from './types.ts';

/**
 * The score source over src/credit's service: the user's latest score, null when there is none
 * (CREDIT_SCORE_NOT_FOUND). The composition root passes the credit service.
 */
export function latestScoreSource(credit: {
  getLatestScore(userId: string): Promise<{ score: number }>;
}): PaylaterScoreSource {
  return {
    async currentScore(userId) {
      try {
        return (await credit.getLatestScore(userId)).score;
      } catch (error) {
        if (isMilletError(error) && error.code === 'CREDIT_SCORE_NOT_FOUND') return null;
        throw error;
      }
    },
  };
}
