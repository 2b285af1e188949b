import { newId } from '../core/index.ts';
import type { CreditArtifact } from './artifact.ts';
import type { ModelName } from './datasets.ts';
import { applyUnpaidDebts, type UnpaidDebt } from './debts.ts';
import {
  behaviourFeatures,
  featuresHash,
  notReasonsFor,
  UNKNOWN_SAVINGS,
  type LineHistory,
  type StoredAnswers,
} from './features.ts';
import { scoreApplicant, type ApplicantFeatures, type ReasonCode, type ScoreResult } from './score.ts';

export type ScoreTrigger = 'on_demand' | 'refresh';

/** A score ready to store: one element of the JSON array the batch insert reads. */
export interface NewScore {
  id: string;
  user_id: string;
  score: number;
  probability: number;
  model: ModelName;
  model_version: string;
  learner: string;
  reasons: ReasonCode[];
  features_hash: string;
  answers: StoredAnswers | null;
  trigger: ScoreTrigger;
  business_date: string;
  refresh_date: string | null;
  scored_at: string;
  /** The consent the inputs were read under: stored only while that one is still in force. */
  consent_id: string | null;
}

/**
 * One user's inputs: line history (behaviour model) or the application model's features, with the
 * answers to store beside the score and the unpaid debts that lower it. Plain data, so a batch of
 * them can be handed to the scoring worker as it is.
 */
export type ScorePlan = {
  userId: string;
  /** The consent in force when the inputs were read. */
  consentId?: string;
  answers: StoredAnswers | null;
  debt: UnpaidDebt | undefined;
} & ({ history: LineHistory; features?: undefined } | { history?: undefined; features: ApplicantFeatures });

export interface ScoreContext {
  trigger: ScoreTrigger;
  businessDate: string;
  /** A refresh score is stored once per user and refresh date. */
  refresh: boolean;
  /** ISO instant. */
  scoredAt: string;
}

/**
 * The model's answer for the features; for the application model, fund holdings never lower it: a
 * user with holdings gets the better of their category and "unknown/no savings" (what a user
 * without holdings gets), so emptying the fund before applying cannot raise a score.
 */
function scoreOf(a: CreditArtifact, model: ModelName, features: ApplicantFeatures): ScoreResult {
  if (model !== 'application') return scoreApplicant(a, features);
  const own = scoreApplicant(a, features, notReasonsFor(features));
  if (features.savings_account_and_bonds === UNKNOWN_SAVINGS) return own;
  const without = { ...features, savings_account_and_bonds: UNKNOWN_SAVINGS };
  const unknown = scoreApplicant(a, without, notReasonsFor(without));
  return unknown.score > own.score ? unknown : own;
}

/** Computes a score (no storage): the model, its inputs and the result. */
export function scoreRow(
  artifact: (model: ModelName) => CreditArtifact,
  plan: ScorePlan,
  context: ScoreContext,
): NewScore {
  const model: ModelName = plan.history ? 'behaviour' : 'application';
  const features = plan.history ? behaviourFeatures(plan.history) : plan.features!;
  const a = artifact(model);
  const result = applyUnpaidDebts(a.scaling, scoreOf(a, model, features), plan.debt);
  // Unpaid debts are inputs too (the same inputs give the same hash), named only when present.
  const hashed = plan.debt?.count
    ? { ...features, unpaid_debts: plan.debt.count, unpaid_debt_fen: plan.debt.amount.toString() }
    : features;
  return {
    id: newId(),
    user_id: plan.userId,
    score: result.score,
    probability: result.probability,
    model,
    model_version: a.model_version,
    learner: a.learner,
    reasons: result.reasons,
    features_hash: featuresHash(model, a.model_version, hashed),
    answers: plan.answers,
    trigger: context.trigger,
    business_date: context.businessDate,
    refresh_date: context.refresh ? context.businessDate : null,
    scored_at: context.scoredAt,
    consent_id: plan.consentId ?? null,
  };
}
