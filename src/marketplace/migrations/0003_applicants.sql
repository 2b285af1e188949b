-- One row per user who has chosen an offer, locked by each choice of that user: the co-debt guard,
-- read again under it, counts the posts before this one, so applications routed side by side
-- cannot all be posted past the limit (before, five routed side by side were all posted past a limit
-- of three).
CREATE TABLE marketplace_applicants (
  user_id uuid PRIMARY KEY
);
