-- The consent a score was computed under. A score is used (pay-later, lending, the marketplace)
-- only while that consent is the one in force: after a withdrawal and a new grant, scores of the
-- earlier consent stay on record but decide nothing until a score is computed under the new one.
ALTER TABLE credit_scores ADD COLUMN consent_id uuid;
-- Scores stored before: the consent in force when each was computed (none matching: never usable).
UPDATE credit_scores s SET consent_id = (
  SELECT c.id FROM credit_consents c
  WHERE c.user_id = s.user_id AND c.granted_at <= s.scored_at
    AND (c.withdrawn_at IS NULL OR c.withdrawn_at >= s.scored_at)
  ORDER BY c.granted_at DESC, c.id DESC LIMIT 1
);
