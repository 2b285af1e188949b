-- The blind index of the client address that asked for each code (null when the caller gave none):
-- the rows sent from one address within the last hour are its count, so one client cannot pump
-- texts to many numbers, each within its own phone's limits (SMS toll fraud).
ALTER TABLE identity_phone_verifications ADD COLUMN client_index text;

CREATE INDEX identity_phone_verifications_client ON identity_phone_verifications (client_index, sent_at);
