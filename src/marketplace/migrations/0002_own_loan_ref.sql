-- Lending tells the marketplace when a loan is drawn by the offer id the own post recorded as its
-- partner_ref: found by that, once per drawn loan.
CREATE INDEX marketplace_posts_own_ref ON marketplace_posts (partner_ref) WHERE source = 'own';
