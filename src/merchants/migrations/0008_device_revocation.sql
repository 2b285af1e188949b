-- A user revokes a device that was lost or sold: from then on its payment codes pay nothing, though
-- the device still names the payer of payments it made (a retried scan replays them).
ALTER TABLE merchants_payment_devices ADD COLUMN revoked_at timestamptz;
