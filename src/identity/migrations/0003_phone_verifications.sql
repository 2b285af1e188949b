-- SMS codes that prove a phone number belongs to whoever signs up with it, one row per code sent.
-- The code is never stored: code_hash is a keyed HMAC-SHA256 of the row id, the purpose, the phone's
-- blind index and the code, and the key is not in the database, so a reader of this table cannot
-- try the million possible codes. The latest row per phone and purpose is the live code; the rows
-- sent within the last 24 hours are the phone's daily count. A job deletes rows a day old.
CREATE TABLE identity_phone_verifications (
  id uuid PRIMARY KEY,
  phone_index text NOT NULL,
  purpose text NOT NULL CHECK (purpose IN ('sign_up')),
  code_hash text NOT NULL,
  sent_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  failed_attempts integer NOT NULL DEFAULT 0,
  used_at timestamptz
);

CREATE INDEX identity_phone_verifications_phone ON identity_phone_verifications (phone_index, sent_at);
