-- The identity module's tables. Only src/identity reads or writes them.
-- Personal data (phone, real name, resident ID) is stored only as AES-256-GCM ciphertext
-- ("v1.<base64url>") with a keyed HMAC-SHA256 blind index beside it for equality lookups.

CREATE TABLE identity_users (
  id uuid PRIMARY KEY,
  phone_ciphertext text NOT NULL,
  phone_index text NOT NULL UNIQUE,
  -- argon2id PHC string; never the password.
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL,
  -- Identity verification (KYC); all null until verified.
  kyc_status text NOT NULL DEFAULT 'none' CHECK (kyc_status IN ('none', 'verified')),
  account_class text CHECK (account_class IN ('I', 'II', 'III')),
  real_name_ciphertext text,
  resident_id_ciphertext text,
  -- One resident ID per user: the unique blind index refuses a second user with the same ID.
  resident_id_index text UNIQUE,
  birth_date date,
  verified_at timestamptz,
  CHECK ((kyc_status = 'verified') = (resident_id_index IS NOT NULL))
);

-- A session is a refresh-token family: log-in opens one, every refresh rotates its token, and log-out
-- or the reuse of a rotated token revokes it (and with it every access token naming it).
CREATE TABLE identity_sessions (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES identity_users (id),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  revoked_reason text
);

CREATE INDEX identity_sessions_user ON identity_sessions (user_id);

-- Refresh tokens, by SHA-256 of the token (high-entropy random, so a fast hash is enough).
-- rotated_at set = already exchanged: presenting it again is reuse.
CREATE TABLE identity_refresh_tokens (
  token_hash text PRIMARY KEY,
  session_id uuid NOT NULL REFERENCES identity_sessions (id),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  rotated_at timestamptz
);

CREATE INDEX identity_refresh_tokens_session ON identity_refresh_tokens (session_id);

-- Failed log-ins for the rate limit, shared by every process. subject is 'phone:<blind index>' or
-- 'ip:<blind index>' (IP addresses are personal data too); rows older than the window are pruned.
CREATE TABLE identity_login_failures (
  id uuid PRIMARY KEY,
  subject text NOT NULL,
  failed_at timestamptz NOT NULL
);

CREATE INDEX identity_login_failures_subject ON identity_login_failures (subject, failed_at);
