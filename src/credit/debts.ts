import type { Scaling } from './scaling.ts';
import { clampScore, oddsAt } from './scaling.ts';
import type { ReasonCode, ScoreResult } from './score.ts';
import { REASON_COUNT } from './score.ts';

/**
 * Debts the user owes the platform's merchants that no model input captures: today the Pay Points
 * service orders completed but not paid (`src/paypoints`). Users absent from the map owe nothing.
 */
export interface UnpaidDebt {
  /** How many unpaid debts. */
  count: number;
  /** What they add up to, fen. */
  amount: bigint;
}

export interface CreditDebtSource {
  unpaidDebts(userIds: readonly string[]): Promise<ReadonlyMap<string, UnpaidDebt>>;
}

export const noDebtSource: CreditDebtSource = { unpaidDebts: async () => new Map() };

/**
 * Points an unpaid debt takes off the model's score: the first costs 2 × PDO (80 points, the odds
 * of default quadrupled), each further one another PDO, at most 4 × PDO (160). The debt is a fact
 * the models were not trained on, so it adjusts the score after them rather than entering them;
 * paying it restores the score at the next scoring.
 */
export function unpaidDebtPenalty(scaling: Scaling, count: number): number {
  if (count <= 0) return 0;
  return Math.min(4, 1 + count) * scaling.pdo;
}

export const UNPAID_DEBT_REASON = 'UNPAID_SERVICE_ORDER';

/** The model's result with the unpaid-debt penalty applied: lower score, its probability, reason first. */
export function applyUnpaidDebts(
  scaling: Scaling,
  result: ScoreResult,
  debt: UnpaidDebt | undefined,
): ScoreResult {
  if (!debt || debt.count <= 0) return result;
  const penalty = unpaidDebtPenalty(scaling, debt.count);
  const score = clampScore(scaling, result.score - penalty);
  const odds = oddsAt(scaling, score);
  const yuan = `${debt.amount / 100n}.${String(debt.amount % 100n).padStart(2, '0')}`;
  const reason: ReasonCode = {
    feature: 'unpaid_service_orders',
    code: UNPAID_DEBT_REASON,
    points_lost: result.score - score,
    text_en: `Unpaid service order: you owe ${yuan} CNY on ${debt.count} completed service order${debt.count === 1 ? '' : 's'}; paying restores your score`,
    text_zh: `有未支付的服务订单：${debt.count} 笔已完成的服务订单共欠 ${yuan} 元，付清后信用分即可恢复`,
  };
  return {
    score,
    probability: 1 / (1 + odds),
    reasons: [reason, ...result.reasons].slice(0, REASON_COUNT),
  };
}
