-- The instalment months a statement bills (plans' principal) are already in a plan with its fee;
-- converting the statement into instalments must split only the rest (its new purchases), else
-- those months are split again and charged a second fee. The statement keeps how much of its
-- principal is instalment months. A billed month's settled_principal no longer changes (refunds and
-- prepayments of it go to the statement), so earlier statements get it back exactly from their
-- months: what each was billed, principal - settled_principal.
ALTER TABLE paylater_statements ADD COLUMN instalment_principal int8 NOT NULL DEFAULT 0
  CHECK (instalment_principal >= 0 AND instalment_principal <= principal);
UPDATE paylater_statements s SET instalment_principal = x.billed
  FROM (SELECT statement_id, sum(principal - settled_principal)::int8 AS billed FROM paylater_plan_periods
         WHERE statement_id IS NOT NULL GROUP BY statement_id) x
 WHERE x.statement_id = s.id;
