-- authz-sidecar audit events: Kafka topic → ClickHouse.
-- The sidecar produces one JSON event (schema_version 1, see docs/audit.md)
-- per Kafka record, keyed by tenant id, CloudEvents attributes in the headers.
-- Apply with: clickhouse-client --multiquery < config/clickhouse/audit.sql
-- Adjust kafka_broker_list / kafka_topic_list to your cluster.

CREATE DATABASE IF NOT EXISTS authz;

-- 1. The Kafka-engine table: a consumer group reading the topic, one row per
--    record (JSONEachRow). Rows that do not parse are kept (stream mode) and
--    routed to authz.audit_ingest_errors below instead of stalling ingestion.
CREATE TABLE IF NOT EXISTS authz.audit_queue
(
    schema_version    UInt8,
    timestamp         String,
    decision_id       String,
    tenant_id         Nullable(String),
    principal         Nullable(String),
    principal_kind    Nullable(String),
    principal_tenant  Nullable(String),
    action            Nullable(String),
    resource_type     Nullable(String),
    resource_id       Nullable(String),
    result            String,
    status            UInt16,
    reason            String,
    stage             String,
    enforcement       String,
    would_deny_reason Nullable(String),
    would_deny_stage  Nullable(String),
    would_deny_status Nullable(UInt16),
    route             Nullable(String),
    method            String,
    path              String,
    transport         String,
    policy_revision   Nullable(String),
    fga_model_id      Nullable(String),
    budget            Nullable(String),   -- the budget object, kept as its JSON text
    latency_ms        Float64,
    client_ip         Nullable(String),
    request_id        String,
    trace_id          Nullable(String)
)
ENGINE = Kafka
SETTINGS
    kafka_broker_list = 'kafka:9092',
    kafka_topic_list = 'authz-audit',
    kafka_group_name = 'clickhouse-authz-audit',
    kafka_format = 'JSONEachRow',
    kafka_num_consumers = 1,
    kafka_handle_error_mode = 'stream',
    input_format_skip_unknown_fields = 1,          -- newer sidecars may add fields
    input_format_json_read_objects_as_strings = 1; -- budget {...} → String

-- 2. The MergeTree table queries run against. ReplacingMergeTree collapses the
--    rare duplicate (delivery is at-least-once; a duplicate has the same
--    decision_id, tenant and timestamp, hence the same sorting key).
CREATE TABLE IF NOT EXISTS authz.audit_events
(
    timestamp         DateTime64(3, 'UTC'),
    decision_id       String,
    schema_version    UInt8,
    tenant_id         LowCardinality(String),
    principal         String,
    principal_kind    LowCardinality(String),
    principal_tenant  LowCardinality(String),
    action            LowCardinality(String),
    resource_type     LowCardinality(String),
    resource_id       String,
    result            LowCardinality(String),  -- allow | deny | error
    status            UInt16,
    reason            LowCardinality(String),
    stage             LowCardinality(String),
    enforcement       LowCardinality(String),  -- deny | dryrun | warn
    would_deny_reason LowCardinality(String),
    would_deny_stage  LowCardinality(String),
    would_deny_status UInt16,
    route             LowCardinality(String),
    method            LowCardinality(String),
    path              String,
    transport         LowCardinality(String),
    policy_revision   LowCardinality(String),
    fga_model_id      LowCardinality(String),
    budget            String,
    latency_ms        Float64,
    client_ip         String,
    request_id        String,
    trace_id          String,
    kafka_partition   UInt32,
    kafka_offset      UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (tenant_id, timestamp, decision_id)
TTL toDateTime(timestamp) + INTERVAL 400 DAY;

-- 3. The materialized view that moves rows from the consumer into the table.
CREATE MATERIALIZED VIEW IF NOT EXISTS authz.audit_events_mv TO authz.audit_events AS
SELECT
    parseDateTime64BestEffort(timestamp, 3, 'UTC') AS timestamp,
    decision_id,
    schema_version,
    ifNull(tenant_id, '')         AS tenant_id,
    ifNull(principal, '')         AS principal,
    ifNull(principal_kind, '')    AS principal_kind,
    ifNull(principal_tenant, '')  AS principal_tenant,
    ifNull(action, '')            AS action,
    ifNull(resource_type, '')     AS resource_type,
    ifNull(resource_id, '')       AS resource_id,
    result,
    status,
    reason,
    stage,
    enforcement,
    ifNull(would_deny_reason, '') AS would_deny_reason,
    ifNull(would_deny_stage, '')  AS would_deny_stage,
    ifNull(would_deny_status, 0)  AS would_deny_status,
    ifNull(route, '')             AS route,
    method,
    path,
    transport,
    ifNull(policy_revision, '')   AS policy_revision,
    ifNull(fga_model_id, '')      AS fga_model_id,
    ifNull(budget, '')            AS budget,
    latency_ms,
    ifNull(client_ip, '')         AS client_ip,
    request_id,
    ifNull(trace_id, '')          AS trace_id,
    _partition                    AS kafka_partition,
    _offset                       AS kafka_offset
FROM authz.audit_queue
WHERE length(_error) = 0;

-- 4. Records that did not parse, with the raw message, for investigation.
CREATE TABLE IF NOT EXISTS authz.audit_ingest_errors
(
    received  DateTime,
    topic     String,
    partition UInt32,
    offset    UInt64,
    raw       String,
    error     String
)
ENGINE = MergeTree
ORDER BY (received, partition, offset)
TTL received + INTERVAL 30 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS authz.audit_ingest_errors_mv TO authz.audit_ingest_errors AS
SELECT now() AS received, _topic AS topic, _partition AS partition, _offset AS offset,
       _raw_message AS raw, _error AS error
FROM authz.audit_queue
WHERE length(_error) > 0;

-- Example compliance questions:
--   Who was denied on tenant acme in the last day, and why?
--     SELECT timestamp, principal, action, resource_type, resource_id, reason, stage
--     FROM authz.audit_events FINAL
--     WHERE tenant_id = 'acme' AND result = 'deny' AND timestamp > now() - INTERVAL 1 DAY
--     ORDER BY timestamp;
--   What would dry-run mode have denied?
--     SELECT would_deny_reason, count() FROM authz.audit_events FINAL
--     WHERE enforcement = 'dryrun' AND would_deny_reason != '' GROUP BY would_deny_reason;
