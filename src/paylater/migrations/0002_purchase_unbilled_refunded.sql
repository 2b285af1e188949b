-- What a purchase's refunds took off the line's unbilled principal while it was not billed. The close
-- of D runs after midnight and holds back the purchases of D + 1 already on the line; a refund of one
-- of them has already taken its amount off the unbilled principal, so only amount - unbilled_refunded
-- may be held back (before, it was held back twice and D's statement came out short by the refund).
-- Rows before this start at 0: it only matters between a late purchase's refund and that night's close.
ALTER TABLE paylater_purchases ADD COLUMN unbilled_refunded int8 NOT NULL DEFAULT 0
  CHECK (unbilled_refunded >= 0 AND unbilled_refunded <= amount);

-- Purchases made in the last millisecond of a statement date were billed on it but left unlinked
-- (the link compared created_at < 23:59:59.999), so refunding them paid newer purchases instead of
-- that statement. Each is linked to the first statement of its line on or after its business date.
UPDATE paylater_purchases u SET statement_id = (
  SELECT s.id FROM paylater_statements s
   WHERE s.line_id = u.line_id AND s.statement_date >= u.business_date
   ORDER BY s.statement_date LIMIT 1)
 WHERE u.statement_id IS NULL AND u.plan_id IS NULL AND EXISTS (
  SELECT 1 FROM paylater_statements s WHERE s.line_id = u.line_id AND s.statement_date >= u.business_date);
