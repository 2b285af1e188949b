-- The api module's tables. Only src/api reads or writes them.

-- Operator API keys. Only the SHA-256 of a key is kept; the plaintext is shown once at creation.
CREATE TABLE api_operator_keys (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  key_hash text NOT NULL UNIQUE,
  key_prefix text NOT NULL,
  key_last4 text NOT NULL,
  scopes jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  created_by uuid,
  revoked_at timestamptz
);

-- Idempotency-Key records (Stripe style), one per principal and key. A row with no response_status
-- is a request still in flight; claim_token tells its owner apart from a later taker-over.
CREATE TABLE api_idempotency_keys (
  principal text NOT NULL,
  idempotency_key text NOT NULL,
  fingerprint text NOT NULL,
  method text NOT NULL,
  path text NOT NULL,
  claim_token uuid NOT NULL,
  locked_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  response_status int,
  response_content_type text,
  response_body text,
  completed_at timestamptz,
  PRIMARY KEY (principal, idempotency_key)
);
CREATE INDEX api_idempotency_keys_expiry ON api_idempotency_keys (expires_at);
