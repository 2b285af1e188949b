-- A partner's daily cap and monthly budget are held when an offer is chosen, under a lock on the
-- partner's row, so choices made at once cannot together pass them (before, each application saw
-- room when routed and every one chosen was posted). reserved_fen is the payout the post may earn
-- (CPA + CPS of its amount, half-even, under the pricing when chosen); until the post is decided,
-- what it has not yet earned of that counts against the budget with the fees already recorded.
ALTER TABLE marketplace_posts ADD COLUMN reserved_fen int8 NOT NULL DEFAULT 0;

-- Posts still open when this ran hold their payout too, priced as routing priced them.
UPDATE marketplace_posts po
   SET reserved_fen = p.cpa_fen + CASE WHEN p.kind = 'lender' THEN
         (po.amount * p.cps_bp) / 10000
         + CASE WHEN ((po.amount * p.cps_bp) % 10000) * 2 > 10000
                  OR (((po.amount * p.cps_bp) % 10000) * 2 = 10000 AND ((po.amount * p.cps_bp) / 10000) % 2 = 1)
                THEN 1 ELSE 0 END
         ELSE 0 END
  FROM marketplace_partners p
 WHERE p.id = po.partner_id AND po.status IN ('posted', 'approved');

-- The open posts a choice and routing add up per partner: few, beside every post ever made.
CREATE INDEX marketplace_posts_open ON marketplace_posts (partner_id, business_date)
  WHERE status IN ('posted', 'approved');
