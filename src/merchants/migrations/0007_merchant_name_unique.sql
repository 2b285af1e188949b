-- One merchant per legal name: a second onboarding under a name already taken (compared trimmed
-- and case-insensitively) is refused with MERCHANT_NAME_TAKEN. The key is written by the
-- application (the name trimmed and lower-cased) and the unique index decides between two
-- onboardings that race. Names already duplicated keep working: only the oldest merchant of each
-- name gets the key, the others keep a NULL one (NULLs are distinct) until an operator renames them.
ALTER TABLE merchants_merchants ADD COLUMN name_key text;
UPDATE merchants_merchants m SET name_key = lower(m.name)
 WHERE NOT EXISTS (
   SELECT 1 FROM merchants_merchants o
    WHERE lower(o.name) = lower(m.name) AND (o.created_at, o.id) < (m.created_at, m.id)
 );
CREATE UNIQUE INDEX merchants_merchants_name_key ON merchants_merchants (name_key);
