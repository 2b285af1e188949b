-- The client addresses each phone's owner has logged in from (a log-in, sign-up or password reset
-- that went through), by the blind index of the phone and address pair, as the failures' 'pair:'
-- subject. The per-phone ceiling on failed log-ins does not refuse these addresses, so strangers
-- failing from elsewhere cannot lock the owner out of the addresses they use. Rows older than the
-- known period are pruned.
CREATE TABLE identity_login_known_addresses (
  subject text PRIMARY KEY,
  last_success_at timestamptz NOT NULL
);

CREATE INDEX identity_login_known_addresses_last_success ON identity_login_known_addresses (last_success_at);
