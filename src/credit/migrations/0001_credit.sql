-- The score service's tables: consent records, every score ever computed, and the monthly
-- refresh's progress. Users are referenced by id only (the identity module owns them).

-- Consent to credit scoring: append-only. Granting inserts a row; withdrawing stamps withdrawn_at
-- on the active row. Rows are never deleted, so what a user agreed to, and when, stays on record.
CREATE TABLE credit_consents (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL,
  scope text NOT NULL,
  data_categories jsonb NOT NULL,
  recipient text NOT NULL,
  purpose text NOT NULL,
  terms_version text NOT NULL,
  granted_at timestamptz NOT NULL,
  withdrawn_at timestamptz,
  CHECK (withdrawn_at IS NULL OR withdrawn_at >= granted_at)
);
-- At most one active consent per user; also the refresh's scan of consenting users, in id order.
CREATE UNIQUE INDEX credit_consents_active ON credit_consents (user_id) WHERE withdrawn_at IS NULL;
CREATE INDEX credit_consents_user ON credit_consents (user_id, granted_at);

-- Every score: kept after consent is withdrawn (history is not erased by a withdrawal).
CREATE TABLE credit_scores (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL,
  score int NOT NULL CHECK (score BETWEEN 350 AND 950),
  probability double precision NOT NULL,
  model text NOT NULL CHECK (model IN ('behaviour', 'application')),
  model_version text NOT NULL,
  learner text NOT NULL,
  reasons jsonb NOT NULL,
  features_hash text NOT NULL,
  -- The application answers used (or carried forward), reused by the refresh; null for behaviour.
  answers jsonb,
  trigger text NOT NULL CHECK (trigger IN ('on_demand', 'refresh')),
  business_date date NOT NULL,
  -- Set for refresh scores: one per user per refresh date, whatever reruns happen.
  refresh_date date,
  scored_at timestamptz NOT NULL
);
CREATE INDEX credit_scores_user ON credit_scores (user_id, scored_at DESC, id DESC);
CREATE UNIQUE INDEX credit_scores_refresh ON credit_scores (user_id, refresh_date) WHERE refresh_date IS NOT NULL;

-- One row per monthly refresh, keyed by business date: the cursor (last user id done) makes an
-- interrupted run resume where it stopped; a completed run is not run again.
CREATE TABLE credit_refresh_runs (
  business_date date PRIMARY KEY,
  status text NOT NULL CHECK (status IN ('running', 'completed')),
  cursor uuid,
  scored int8 NOT NULL DEFAULT 0,
  skipped_current int8 NOT NULL DEFAULT 0,
  skipped_no_answers int8 NOT NULL DEFAULT 0,
  skipped_ineligible int8 NOT NULL DEFAULT 0,
  started_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  finished_at timestamptz
);
