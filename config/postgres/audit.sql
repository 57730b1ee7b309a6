-- The Audit Wall: authz-sidecar's audit trail in PostgreSQL, INSERT-only.
--
-- Install as the database owner (a DBA), on a PostgreSQL instance of its own:
--   psql "postgres://dba@db/audit" -v ON_ERROR_STOP=1 -f config/postgres/audit.sql
--   psql "postgres://dba@db/audit" -c "CREATE ROLE authz_sidecar LOGIN PASSWORD '…' IN ROLE authz_audit_writer"
-- and give the sidecars `audit.sinks: [{ jsonl: … }, { postgres: { url: postgres://authz_sidecar@db/audit } }]`
-- (the password from PGPASSWORD or a mounted secret, never in the config file).
--
-- What holds:
--  * The sidecar's role may only INSERT and SELECT: no UPDATE, DELETE or TRUNCATE grant.
--  * A trigger refuses UPDATE, DELETE and TRUNCATE even for the table's owner.
--  * Every row carries the trail's hash chain (seq, prev_hash, hash) and the exact trail
--    line it was shipped from: `authz-sidecar audit verify --postgres URL` walks each chain
--    and names the first row that was edited, removed or inserted out of order. A superuser
--    can still disable the trigger and tamper; the chain makes it evident.
--  * Redelivery (at least once) never duplicates: decision_id is the primary key and the
--    sidecar inserts with ON CONFLICT (decision_id) DO NOTHING.

CREATE SCHEMA IF NOT EXISTS authz_audit;

CREATE TABLE IF NOT EXISTS authz_audit.decisions (
  decision_id       text        PRIMARY KEY,
  -- The chain: which trail (sink option `chain`, default the sidecar's hostname), the line's
  -- position in it, the previous line's hash, this line's hash (SHA-256 of `line`'s UTF-8 bytes).
  chain             text        NOT NULL,
  seq               bigint      NOT NULL CHECK (seq > 0),
  prev_hash         char(64)    NOT NULL,
  hash              char(64)    NOT NULL,
  line              text        NOT NULL,
  -- Every field of event schema version 1 (docs/audit.md).
  schema_version    smallint    NOT NULL,
  "timestamp"       timestamptz NOT NULL,
  tenant_id         text,
  principal         text,
  principal_kind    text,
  principal_tenant  text,
  action            text,
  resource_type     text,
  resource_id       text,
  result            text        NOT NULL CHECK (result IN ('allow', 'deny', 'error')),
  status            smallint    NOT NULL,
  reason            text        NOT NULL,
  stage             text        NOT NULL,
  enforcement       text        NOT NULL,
  would_deny_reason text,
  would_deny_stage  text,
  would_deny_status smallint,
  route             text,
  method            text        NOT NULL,
  path              text        NOT NULL,
  transport         text        NOT NULL,
  policy_revision   text,
  fga_model_id      text,
  budget            jsonb,
  latency_ms        double precision NOT NULL,
  client_ip         text,
  request_id        text        NOT NULL,
  trace_id          text,
  controls          text[]      NOT NULL DEFAULT '{}',
  inserted_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (chain, seq)
);

-- The usual questions: a tenant's decisions over time, a principal's, one decision, the denials, a control.
CREATE INDEX IF NOT EXISTS decisions_tenant_time    ON authz_audit.decisions (tenant_id, "timestamp");
CREATE INDEX IF NOT EXISTS decisions_principal_time ON authz_audit.decisions (principal, "timestamp");
CREATE INDEX IF NOT EXISTS decisions_denials        ON authz_audit.decisions ("timestamp") WHERE result <> 'allow';
CREATE INDEX IF NOT EXISTS decisions_controls       ON authz_audit.decisions USING gin (controls);

-- INSERT-only, even for the owner: the trigger refuses every change of a written row.
CREATE OR REPLACE FUNCTION authz_audit.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'authz_audit.decisions is INSERT-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS decisions_no_update_delete ON authz_audit.decisions;
CREATE TRIGGER decisions_no_update_delete
  BEFORE UPDATE OR DELETE ON authz_audit.decisions
  FOR EACH ROW EXECUTE FUNCTION authz_audit.refuse_change();

DROP TRIGGER IF EXISTS decisions_no_truncate ON authz_audit.decisions;
CREATE TRIGGER decisions_no_truncate
  BEFORE TRUNCATE ON authz_audit.decisions
  FOR EACH STATEMENT EXECUTE FUNCTION authz_audit.refuse_change();

-- The role the sidecars' login joins: INSERT and SELECT, nothing else.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authz_audit_writer') THEN
    CREATE ROLE authz_audit_writer NOLOGIN;
  END IF;
END;
$$;
REVOKE ALL ON authz_audit.decisions FROM PUBLIC;
REVOKE ALL ON authz_audit.decisions FROM authz_audit_writer;
GRANT USAGE ON SCHEMA authz_audit TO authz_audit_writer;
GRANT INSERT, SELECT ON authz_audit.decisions TO authz_audit_writer;
