-- The attempt an F-code was spent on: only that attempt (its retries) may use the code again, and
-- only its losing gives the code back. Bound to the user alone, the winner's second attempt with
-- the code, refused as over the limit, handed the code back to anyone.
ALTER TABLE store_fcodes ADD COLUMN used_attempt_id uuid;
