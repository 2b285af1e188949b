-- The operator-managed blacklist (DESIGN §2.8 anti-scalper).
CREATE TABLE risk_blacklist (
  user_id uuid PRIMARY KEY,
  reason text NOT NULL,
  created_by text,
  created_at timestamptz NOT NULL
);
