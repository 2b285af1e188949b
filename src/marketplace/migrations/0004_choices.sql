-- Every choice of an offer, one row each, so the funnel counts each partner chosen: the post row is
-- one per application and a choice after a failed post took it over, which dropped the failed
-- partner's chosen from its funnel. A choice writes one consent, whose id names it; failed_at is
-- stamped when its post fails (rows are never deleted). partner_key is the partner id, or 'own' for
-- the platform's own loan, so the funnel finds a partner's range by equality on the index.
CREATE TABLE marketplace_choices (
  consent_id uuid PRIMARY KEY REFERENCES marketplace_consents (id),
  application_id uuid NOT NULL REFERENCES marketplace_applications (id),
  partner_key text NOT NULL,
  -- The application's business date: the funnel's cohort (a choice after midnight counts there).
  application_date text NOT NULL,
  chosen_at timestamptz NOT NULL,
  failed_at timestamptz
);
CREATE INDEX marketplace_choices_partner ON marketplace_choices (partner_key, application_date);

-- The choices made before this table, from their consents: the one a post row still names is
-- failed when that post is; a consent no post names was a choice whose post failed and which a
-- later choice took over (the post row is only ever taken over from 'failed'). When each failed is
-- not recorded: the choice's own time stands for it.
INSERT INTO marketplace_choices (consent_id, application_id, partner_key, application_date, chosen_at, failed_at)
SELECT c.id, c.application_id, coalesce(c.partner_id::text, 'own'), a.business_date, c.granted_at,
       CASE WHEN po.application_id IS NULL OR po.status = 'failed' THEN c.granted_at END
  FROM marketplace_consents c
  JOIN marketplace_applications a ON a.id = c.application_id
  LEFT JOIN marketplace_posts po ON po.consent_id = c.id;
