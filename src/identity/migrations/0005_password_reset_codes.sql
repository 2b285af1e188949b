-- SMS codes also prove the phone for a password reset ("forgot password"). A code is only good for
-- the purpose it was sent for (the live code is the latest row per phone and purpose), while the
-- send limits count a phone's rows whatever their purpose.
ALTER TABLE identity_phone_verifications DROP CONSTRAINT identity_phone_verifications_purpose_check;
ALTER TABLE identity_phone_verifications
  ADD CONSTRAINT identity_phone_verifications_purpose_check CHECK (purpose IN ('sign_up', 'password_reset'));
