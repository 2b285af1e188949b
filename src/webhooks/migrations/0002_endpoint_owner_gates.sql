-- One row per owner that has added an endpoint, locked while an endpoint is added or enabled, so
-- two concurrent requests cannot both pass the cap on an owner's enabled endpoints (each read the
-- count before the other's insert committed).
CREATE TABLE webhook_endpoint_owner_gates (
  owner_id text PRIMARY KEY
);
