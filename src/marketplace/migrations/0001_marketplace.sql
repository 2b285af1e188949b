-- Loan marketplace (DESIGN §2.6): partners as data, applications routed by ping-post, offers with
-- their ranking explanation, per-partner consents (PIPL Art. 23), posts and partner callbacks, the
-- learned approval posteriors, and monthly settlements. Money is int8 fen, rates integer basis points.

CREATE TABLE marketplace_partners (
  id uuid PRIMARY KEY,
  name text NOT NULL UNIQUE,
  kind text NOT NULL CHECK (kind IN ('lender', 'card_issuer')),
  endpoint_url text NOT NULL,
  -- The partner's signing secret (whsec_…), AES-256-GCM sealed; the associated data names the row.
  secret_sealed text NOT NULL,
  eligibility jsonb NOT NULL,
  required_fields jsonb NOT NULL,
  cpa_fen int8 NOT NULL CHECK (cpa_fen >= 0),
  cps_bp int NOT NULL CHECK (cps_bp BETWEEN 0 AND 10000),
  revenue_share_bp int NOT NULL CHECK (revenue_share_bp BETWEEN 0 AND 10000),
  daily_cap int CHECK (daily_cap >= 0),
  monthly_budget_fen int8 CHECK (monthly_budget_fen >= 0),
  priority int NOT NULL DEFAULT 0,
  status text NOT NULL CHECK (status IN ('active', 'paused', 'terminated')),
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

CREATE TABLE marketplace_applications (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL,
  product text NOT NULL CHECK (product IN ('loan', 'card')),
  score_band text NOT NULL,
  amount int8 NOT NULL CHECK (amount > 0),
  term_months int NOT NULL CHECK (term_months > 0),
  region_code text NOT NULL,
  status text NOT NULL CHECK (status IN ('offered', 'no_offers', 'chosen', 'posted')),
  chosen_offer_id uuid,
  business_date text NOT NULL,
  -- Why each partner was or was not pinged (ineligible, cap reached, budget spent, timeout, …).
  routing jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL
);
CREATE INDEX marketplace_applications_user ON marketplace_applications (user_id, created_at);

-- One row per partner pinged: the funnel's first step and the latency record.
CREATE TABLE marketplace_pings (
  application_id uuid NOT NULL REFERENCES marketplace_applications (id),
  partner_id uuid NOT NULL REFERENCES marketplace_partners (id),
  outcome text NOT NULL CHECK (outcome IN ('offered', 'no_offer', 'timeout', 'error')),
  latency_ms int NOT NULL,
  business_date text NOT NULL,
  PRIMARY KEY (application_id, partner_id)
);
CREATE INDEX marketplace_pings_partner ON marketplace_pings (partner_id, business_date);

-- Offers shown to the user, with the stored ranking explanation. partner_id is null for the
-- platform's own loan (source = 'own').
CREATE TABLE marketplace_offers (
  id uuid PRIMARY KEY,
  application_id uuid NOT NULL REFERENCES marketplace_applications (id),
  source text NOT NULL CHECK (source IN ('partner', 'own')),
  partner_id uuid REFERENCES marketplace_partners (id),
  partner_offer_ref text NOT NULL,
  amount int8 NOT NULL,
  apr_bp int NOT NULL,
  term_months int NOT NULL,
  promotions jsonb NOT NULL,
  rank int NOT NULL,
  explanation jsonb NOT NULL,
  CHECK ((source = 'own') = (partner_id IS NULL))
);
CREATE INDEX marketplace_offers_application ON marketplace_offers (application_id, rank);

-- Consent to share named fields with one recipient for one purpose (PIPL Art. 23). Append-only:
-- withdrawing stamps withdrawn_at; rows are never deleted.
CREATE TABLE marketplace_consents (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL,
  application_id uuid NOT NULL REFERENCES marketplace_applications (id),
  partner_id uuid REFERENCES marketplace_partners (id),
  recipient text NOT NULL,
  purpose text NOT NULL,
  fields jsonb NOT NULL,
  terms_version text NOT NULL,
  granted_at timestamptz NOT NULL,
  withdrawn_at timestamptz
);
CREATE INDEX marketplace_consents_user ON marketplace_consents (user_id, granted_at);

-- The application as posted to the chosen partner (field names only: the values are not kept) and
-- its outcome as the partner reported it.
CREATE TABLE marketplace_posts (
  application_id uuid PRIMARY KEY REFERENCES marketplace_applications (id),
  offer_id uuid NOT NULL REFERENCES marketplace_offers (id),
  user_id uuid NOT NULL,
  source text NOT NULL,
  partner_id uuid REFERENCES marketplace_partners (id),
  score_band text NOT NULL,
  consent_id uuid NOT NULL REFERENCES marketplace_consents (id),
  sent_fields jsonb NOT NULL,
  amount int8 NOT NULL,
  status text NOT NULL CHECK (status IN ('posted', 'approved', 'declined', 'disbursed', 'repaid', 'failed')),
  partner_ref text,
  approved_amount int8,
  disbursed_amount int8,
  repaid_amount int8 NOT NULL DEFAULT 0,
  repaid_interest int8 NOT NULL DEFAULT 0,
  fee_fen int8 NOT NULL DEFAULT 0,
  posted_at timestamptz NOT NULL,
  business_date text NOT NULL,
  decided_at timestamptz,
  disbursed_at timestamptz
);
CREATE INDEX marketplace_posts_user ON marketplace_posts (user_id, posted_at);
CREATE INDEX marketplace_posts_partner ON marketplace_posts (partner_id, business_date);

-- Partner callbacks, keyed by the message id: a repeated delivery is recognised and ignored.
CREATE TABLE marketplace_callbacks (
  message_id text PRIMARY KEY,
  -- Null for the platform's own loan (outcomes reported in-process by lending).
  partner_id uuid REFERENCES marketplace_partners (id),
  application_id uuid NOT NULL,
  type text NOT NULL,
  amount int8,
  interest int8,
  -- What the platform earns from this event (CPA, CPS or revenue share), under the pricing then.
  fee_fen int8 NOT NULL DEFAULT 0,
  received_at timestamptz NOT NULL
);
CREATE INDEX marketplace_callbacks_partner ON marketplace_callbacks (partner_id, received_at);

-- The Beta posterior of P(approve | partner, score band): approvals and declines seen.
-- partner_key is the partner id, or 'own' for the platform's own loan.
CREATE TABLE marketplace_posteriors (
  partner_key text NOT NULL,
  score_band text NOT NULL,
  approvals int8 NOT NULL DEFAULT 0,
  declines int8 NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (partner_key, score_band)
);

CREATE TABLE marketplace_settlements (
  id uuid PRIMARY KEY,
  partner_id uuid NOT NULL REFERENCES marketplace_partners (id),
  month text NOT NULL CHECK (month ~ '^\d{4}-\d{2}$'),
  platform_totals jsonb NOT NULL,
  partner_totals jsonb NOT NULL,
  discrepancies jsonb NOT NULL,
  invoice_fen int8 NOT NULL,
  invoice_entry_id uuid,
  paid_fen int8 NOT NULL DEFAULT 0,
  status text NOT NULL CHECK (status IN ('invoiced', 'paid', 'nothing_due')),
  created_at timestamptz NOT NULL,
  UNIQUE (partner_id, month)
);

CREATE TABLE marketplace_settlement_payments (
  id uuid PRIMARY KEY,
  settlement_id uuid NOT NULL REFERENCES marketplace_settlements (id),
  amount int8 NOT NULL CHECK (amount > 0),
  entry_id uuid NOT NULL,
  paid_at timestamptz NOT NULL
);
