-- Device tokens (OWASP "device cookies"): given to a client on each log-in or password reset that
-- went through, and presented with later log-ins at the same account. An attempt bearing a valid
-- token counts its failures against the token alone, so strangers failing elsewhere — past the
-- phone's daily ceiling, or at the same address — cannot lock the owner out of a device they have
-- logged in from. Stored by SHA-256 of the token (high-entropy random, as refresh tokens), bound to
-- one user. revoked_at set = no longer valid: too many failures with it, or a password reset.
-- Rows past expires_at are pruned.
CREATE TABLE identity_device_tokens (
  token_hash text PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES identity_users (id),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);

CREATE INDEX identity_device_tokens_user ON identity_device_tokens (user_id);
CREATE INDEX identity_device_tokens_expires ON identity_device_tokens (expires_at);
