-- An F-code batch may expire before its sale ends; NULL: valid for the whole sale, as before.
ALTER TABLE store_fcodes ADD COLUMN expires_at timestamptz;
