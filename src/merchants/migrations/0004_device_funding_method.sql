-- How a device's payment codes pay, chosen by the user when the device is registered: the merchant
-- who scans a code takes the payment, but does not choose to charge the customer's credit line.
ALTER TABLE merchants_payment_devices ADD COLUMN funding_method text NOT NULL DEFAULT 'balance';
