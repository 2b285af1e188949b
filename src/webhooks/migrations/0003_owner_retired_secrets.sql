-- Owner signing secrets replaced twice within their overlap: each keeps signing until its own
-- expiry. webhook_owner_secrets holds only the current and the one previous secret, so a second
-- rotation used to drop the first secret at once (a merchant still on it failed every check).
CREATE TABLE webhook_owner_retired_secrets (
  id uuid PRIMARY KEY,
  owner_id text NOT NULL,
  secret_ciphertext text NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX webhook_owner_retired_secrets_owner ON webhook_owner_retired_secrets (owner_id, expires_at);
