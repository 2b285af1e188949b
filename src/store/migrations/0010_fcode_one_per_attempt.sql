-- An attempt holds one F-code. spendFcode looked for a code the attempt already held and spent
-- another in one statement, but two first tries of one attempt at once (the attempt path keeps no
-- idempotency record) each saw none held and both spent, under read committed: the second code lost
-- for good. The database now refuses the second (the spend then finds the attempt's code and lets
-- it in). Codes an attempt already holds beside its first (spent that way, or by a retry with
-- another code before 2026-12) are given back first: only the earliest was the attempt's.
UPDATE store_fcodes f SET used_by = NULL, used_attempt_id = NULL, used_at = NULL
WHERE used_attempt_id IS NOT NULL
  AND EXISTS (SELECT 1 FROM store_fcodes g
              WHERE g.used_attempt_id = f.used_attempt_id
                AND (g.used_at, g.code_hash) < (f.used_at, f.code_hash));
DROP INDEX store_fcodes_attempt;
CREATE UNIQUE INDEX store_fcodes_one_per_attempt ON store_fcodes (used_attempt_id)
  WHERE used_attempt_id IS NOT NULL;
