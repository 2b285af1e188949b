-- Who did what, when: one row per operator, merchant or partner request that can change state
-- (DESIGN §2.9). Rows are only ever inserted; the trigger below refuses UPDATE and DELETE, so a
-- bug or a stray statement cannot rewrite history either (the API has no route that would).
CREATE TABLE api_audit_log (
  id uuid PRIMARY KEY,
  occurred_at timestamptz NOT NULL,
  actor_kind text NOT NULL CHECK (actor_kind IN ('operator', 'merchant', 'partner')),
  actor_id text NOT NULL,
  actor_name text,
  method text NOT NULL,
  route text NOT NULL,
  path text NOT NULL,
  params jsonb NOT NULL,
  resource_id text,
  status int NOT NULL,
  replayed boolean NOT NULL,
  request_id text NOT NULL
);
CREATE INDEX api_audit_log_actor ON api_audit_log (actor_kind, actor_id, id);

CREATE FUNCTION api_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'api_audit_log is append-only' USING ERRCODE = 'insufficient_privilege'; END$$;

CREATE TRIGGER api_audit_log_no_update_or_delete
  BEFORE UPDATE OR DELETE ON api_audit_log
  FOR EACH ROW EXECUTE FUNCTION api_audit_log_append_only();

CREATE TRIGGER api_audit_log_no_truncate
  BEFORE TRUNCATE ON api_audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION api_audit_log_append_only();
