-- A statement partly repaid can be turned into instalments: only its purchases still unpaid are
-- split. Its paid principal is counted against its instalment months first (already in a plan with a
-- fee, they can never be converted), then against its purchases, except what refunds of its own
-- purchases paid: that was those purchases, kept here so that a refunded purchase never makes the
-- instalment months look paid (which would split them again with a second fee).
ALTER TABLE paylater_statements ADD COLUMN refunded_purchases int8 NOT NULL DEFAULT 0
  CHECK (refunded_purchases >= 0 AND refunded_purchases <= paid_principal);
-- Earlier refunds did not say whether they paid the refunded purchase or other principal: all the
-- principal refunds paid on a statement is counted as its purchases' (at most their unconverted part), which can
-- only make less of it convertible, never split an instalment month again.
UPDATE paylater_statements s SET refunded_purchases = least(x.refunded, s.paid_principal,
         greatest(s.principal - s.instalment_principal - s.converted_principal, 0))
  FROM (SELECT (i ->> 'id')::uuid AS statement_id, sum((i ->> 'a')::int8)::int8 AS refunded
          FROM paylater_movements m, jsonb_array_elements(m.allocation -> 'items') i
         WHERE m.kind = 'refund' AND m.status = 'succeeded'
           AND i ->> 't' = 'statement' AND i ->> 'c' = 'principal'
         GROUP BY 1) x
 WHERE x.statement_id = s.id;
