-- Webhooks: where each owner (a merchant) wants events sent, the secrets that sign them, the
-- outbox of deliveries and a log row per attempt. Secrets are AES-256-GCM ciphertext: HMAC signing
-- needs the secret itself, so it cannot be stored as a hash.

CREATE TABLE webhook_endpoints (
  id uuid PRIMARY KEY,
  owner_id text NOT NULL,
  url text NOT NULL,
  description text,
  -- Event types sent to this endpoint; an empty array means every type.
  event_types jsonb NOT NULL,
  secret_ciphertext text NOT NULL,
  enabled boolean NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (owner_id, id);

-- One signing secret per owner for events sent to a per-event notify URL (payment orders carry
-- one). After a rotation the previous secret still signs, beside the new one, until its expiry.
CREATE TABLE webhook_owner_secrets (
  owner_id text PRIMARY KEY,
  secret_ciphertext text NOT NULL,
  previous_secret_ciphertext text,
  previous_expires_at timestamptz,
  created_at timestamptz NOT NULL,
  rotated_at timestamptz NOT NULL
);

-- The outbox. A delivery is one message (webhook-id) to one URL; the body is stored as the exact
-- text that is signed and sent, so every attempt sends the same bytes.
CREATE TABLE webhook_deliveries (
  id uuid PRIMARY KEY,
  message_id text NOT NULL,
  owner_id text NOT NULL,
  endpoint_id uuid REFERENCES webhook_endpoints (id),
  url text NOT NULL,
  event_type text NOT NULL,
  body text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  -- Attempts claimed so far; the claim's fencing token (a late finisher of an older attempt does
  -- not overwrite a newer one).
  attempts int NOT NULL CHECK (attempts >= 0),
  max_attempts int NOT NULL CHECK (max_attempts > 0),
  -- When the next attempt is due (business time); while an attempt runs, the end of its lease.
  next_attempt_at timestamptz,
  last_status_code int,
  last_error text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  succeeded_at timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_owner ON webhook_deliveries (owner_id, id);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

CREATE TABLE webhook_attempts (
  id uuid PRIMARY KEY,
  delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id),
  attempt int NOT NULL,
  trigger text NOT NULL CHECK (trigger IN ('scheduled', 'redeliver')),
  started_at timestamptz NOT NULL,
  -- null while the attempt runs; an attempt whose worker died stays 'abandoned'.
  outcome text CHECK (outcome IN ('succeeded', 'failed', 'abandoned')),
  duration_ms int,
  status_code int,
  error text,
  response_body text,
  UNIQUE (delivery_id, attempt)
);
