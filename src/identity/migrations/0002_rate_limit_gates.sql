-- One row per rate-limited subject ('phone:…', 'ip:…', as in identity_login_failures), locked while an
-- attempt counts that subject's failures and reserves its own: the count and the reservation are then
-- one step, so attempts arriving together cannot all see room under the limit. A row of its own
-- because a subject with no failures yet has no row to lock; advisory locks are avoided so the SQL
-- stays within what PostgreSQL-compatible distributed engines accept.
CREATE TABLE identity_rate_limit_gates (
  subject text PRIMARY KEY
);
