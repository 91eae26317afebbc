"""The ClickHouse schema: DDL for every table, rendered for one node (the default) and applied as versioned,
idempotent migrations.

Why the tables look the way they do (the dashboard's and the evals' queries decide):
- `steps`: one row per span. ReplacingMergeTree(version) keyed by (project, hour of start, trace, span): a span
  delivered twice has the same key, so merges (and `FINAL`) keep one copy; `version` is fixed when the batch is
  formed and ordered by time across collectors (`store/versions.py`), so a re-delivery or a trace finaliser
  correction (the trace rules applied to the whole stored trace) replaces the earlier row. The hour bucket before
  the trace id lets time-window scans (per-agent stats, time series) read only the hours they ask for; the trace
  id's bloom filter finds one trace's granules within those hours.
  Daily partitions: a past day merges down to one part, and FINAL skips the merge-on-read work for a partition
  of one part (measured: a 7-day aggregate over 1M spans went from 91 ms to 26 ms, the same as without FINAL), so
  only today's still-merging parts cost anything; TTL drops whole days past retention (ttl_only_drop_parts).
- `traces`: per-trace summary kept by a materialized view from `steps`. Every state is idempotent under re-delivery
  (uniqExact over span ids, sets, min / max, and one fact tuple per (span, version) of which a read keeps each
  span's newest, as `steps FINAL` does), because a view sees every copy of a re-sent or corrected span; block-level
  insert deduplication catches a replayed spool batch before that (non_replicated_deduplication_window +
  insert_deduplication_token).
- `scores`, `findings`, `alerts`, `alert_events`, `eval_runs`: written by evals and alerting; keyed so that
  re-writing the same thing replaces it (ReplacingMergeTree on the natural key). `alerts` holds three kinds of record
  told apart by `record`: 'state' (one alert instance: rule x label set), 'rule' (a rule created or edited through the
  API; `body` is its JSON, `deleted` a tombstone) and 'silence' (`body` is its JSON); `alert_events` is the history,
  re-written with the delivery outcome (`notified`, `notify_error`) once the notifiers have answered.
- `api_keys`: hashed keys -> project. Tiny; ReplacingMergeTree keyed by the hash so revocation is an insert.
- `leases` (migration 3): who runs the cluster-wide jobs (alert evaluation, detectors, ...). One row per (lease, term,
  owner); a renewal replaces the owner's row of its term. The holder is the earliest claim of the highest term,
  read with FINAL: a few rows, read every few seconds by each replica (see `tracehouse/store/leases.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_RETENTION_DAYS = 30

# Each migration is a list of statements; a statement is a template over {db}, {ttl_days} and the engine names.
# Statements must be idempotent (IF NOT EXISTS): a migration interrupted half way is simply run again.
_V1: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS {db}.steps
    (
        project_id          LowCardinality(String),
        trace_id            String CODEC(ZSTD(1)),
        span_id             String CODEC(ZSTD(1)),
        parent_span_id      String CODEC(ZSTD(1)),
        start_time          DateTime64(9, 'UTC') CODEC(T64, ZSTD(3)),
        end_time            DateTime64(9, 'UTC') CODEC(T64, ZSTD(3)),
        duration_ns         UInt64 CODEC(T64, ZSTD(1)),
        name                LowCardinality(String) CODEC(ZSTD(1)),
        span_kind           LowCardinality(String) CODEC(ZSTD(1)),
        status              LowCardinality(String) CODEC(ZSTD(1)),
        status_message      String CODEC(ZSTD(3)),
        service             LowCardinality(String) CODEC(ZSTD(1)),
        scope               LowCardinality(String) CODEC(ZSTD(1)),
        agent               LowCardinality(String) CODEC(ZSTD(1)),
        agent_id            String CODEC(ZSTD(1)),
        workflow            LowCardinality(String) CODEC(ZSTD(1)),
        operation           LowCardinality(String) CODEC(ZSTD(1)),
        step_type           LowCardinality(String) CODEC(ZSTD(1)),
        provider            LowCardinality(String) CODEC(ZSTD(1)),
        request_model       LowCardinality(String) CODEC(ZSTD(1)),
        response_model      LowCardinality(String) CODEC(ZSTD(1)),
        input_tokens        Nullable(UInt32) CODEC(T64, ZSTD(1)),
        output_tokens       Nullable(UInt32) CODEC(T64, ZSTD(1)),
        cache_read_tokens   Nullable(UInt32) CODEC(T64, ZSTD(1)),
        cache_write_tokens  Nullable(UInt32) CODEC(T64, ZSTD(1)),
        reasoning_tokens    Nullable(UInt32) CODEC(T64, ZSTD(1)),
        cost_usd            Nullable(Float64) CODEC(ZSTD(1)),
        finish_reasons      Array(LowCardinality(String)) CODEC(ZSTD(3)),
        tool_name           LowCardinality(String) CODEC(ZSTD(1)),
        tool_call_id        String CODEC(ZSTD(1)),
        handoff_source      LowCardinality(String) CODEC(ZSTD(1)),
        handoff_target      LowCardinality(String) CODEC(ZSTD(1)),
        conversation_id     String CODEC(ZSTD(1)),
        retry_attempt       UInt16 CODEC(T64, ZSTD(1)),
        content_hash        String CODEC(ZSTD(1)),
        input_preview       String CODEC(ZSTD(3)),
        output_preview      String CODEC(ZSTD(3)),
        error_type          LowCardinality(String) CODEC(ZSTD(1)),
        attributes          Map(LowCardinality(String), String) CODEC(ZSTD(6)),
        resource_attributes Map(LowCardinality(String), String) CODEC(ZSTD(6)),
        events              Array(Tuple(time DateTime64(9, 'UTC'), name String, attributes Map(String, String)))
                            CODEC(ZSTD(3)),
        links               Array(Tuple(trace_id String, span_id String)) CODEC(ZSTD(1)),
        dropped_attributes  UInt32 CODEC(T64, ZSTD(1)),
        version             UInt64,
        INDEX idx_trace trace_id TYPE bloom_filter(0.001) GRANULARITY 1,
        INDEX idx_name lower(name) TYPE ngrambf_v1(3, 4096, 3, 0) GRANULARITY 4,
        INDEX idx_hash content_hash TYPE bloom_filter(0.01) GRANULARITY 4
    )
    ENGINE = {replacing}(version)
    PARTITION BY toDate(start_time)
    ORDER BY (project_id, toStartOfHour(start_time), trace_id, span_id)
    TTL toDateTime(start_time) + INTERVAL {ttl_days} DAY
    SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1
    """,
    """
    CREATE TABLE IF NOT EXISTS {db}.traces
    (
        project_id   LowCardinality(String),
        day          Date,
        trace_id     String,
        start_time   SimpleAggregateFunction(min, DateTime64(9, 'UTC')),
        end_time     SimpleAggregateFunction(max, DateTime64(9, 'UTC')),
        root         AggregateFunction(argMin, Tuple(String, String, String), Tuple(UInt8, DateTime64(9, 'UTC'))),
        services     SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
        agents       SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
        models       SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
        spans        AggregateFunction(uniqExact, String),
        errors       AggregateFunction(uniqExactIf, String, UInt8),
        llm_calls    AggregateFunction(uniqExactIf, String, UInt8),
        retries      AggregateFunction(uniqExactIf, String, UInt8),
        unpriced     AggregateFunction(uniqExactIf, String, UInt8),
        usage        AggregateFunction(groupUniqArrayIf, Tuple(String, UInt64, UInt64, Float64), UInt8)
    )
    ENGINE = {aggregating}
    PARTITION BY toYYYYMM(day)
    ORDER BY (project_id, day, trace_id)
    TTL day + INTERVAL {ttl_days} DAY
    SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 256
    """,
    """
    CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.traces_mv TO {db}.traces AS
    SELECT
        project_id,
        day,
        trace_id,
        min(span_start) AS start_time,
        max(span_end) AS end_time,
        argMinState((name, service, workflow), (toUInt8(parent_span_id != ''), span_start)) AS root,
        groupUniqArray(service) AS services,
        groupUniqArrayIf(agent, agent != '') AS agents,
        groupUniqArrayIf(request_model, request_model != '') AS models,
        uniqExactState(span_id) AS spans,
        uniqExactIfState(span_id, toUInt8(status = 'error')) AS errors,
        uniqExactIfState(span_id, toUInt8(step_type = 'llm')) AS llm_calls,
        uniqExactIfState(span_id, toUInt8(retry_attempt > 1)) AS retries,
        uniqExactIfState(
            span_id,
            toUInt8(cost_usd IS NULL AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL))
        ) AS unpriced,
        groupUniqArrayIfState(
            (span_id, toUInt64(ifNull(input_tokens, 0)), toUInt64(ifNull(output_tokens, 0)), ifNull(cost_usd, 0.)),
            toUInt8(input_tokens IS NOT NULL OR output_tokens IS NOT NULL OR cost_usd IS NOT NULL)
        ) AS usage
    FROM
    (
        SELECT *, start_time AS span_start, end_time AS span_end, toDate(start_time) AS day
        FROM {db}.steps
    )
    GROUP BY project_id, day, trace_id
    """,
    """
    CREATE TABLE IF NOT EXISTS {db}.scores
    (
        project_id   LowCardinality(String),
        trace_id     String,
        span_id      String,
        name         LowCardinality(String),
        value        Nullable(Float64),
        label        String,
        source       LowCardinality(String),
        eval_run_id  String,
        suite        LowCardinality(String),
        agent        LowCardinality(String),
        agent_version LowCardinality(String),
        passed       Nullable(UInt8),
        comment      String CODEC(ZSTD(3)),
        created_at   DateTime64(3, 'UTC'),
        INDEX idx_run eval_run_id TYPE bloom_filter(0.01) GRANULARITY 4
    )
    -- No time partition: a re-run's score must meet the row it replaces in one partition, or merges never drop it.
    ENGINE = {replacing}(created_at)
    ORDER BY (project_id, trace_id, name, span_id, suite, source)
    TTL toDateTime(created_at) + INTERVAL {ttl_days} DAY
    """,
    """
    CREATE TABLE IF NOT EXISTS {db}.eval_runs
    (
        project_id   LowCardinality(String),
        eval_run_id  String,
        suite        LowCardinality(String),
        started_at   DateTime64(3, 'UTC'),
        finished_at  Nullable(DateTime64(3, 'UTC')),
        status       LowCardinality(String),
        summary      String CODEC(ZSTD(3)),
        updated_at   DateTime64(3, 'UTC')
    )
    ENGINE = {replacing}(updated_at)
    ORDER BY (project_id, eval_run_id)
    """,
    """
    CREATE TABLE IF NOT EXISTS {db}.findings
    (
        project_id      LowCardinality(String),
        id              String,
        kind            LowCardinality(String),
        severity        LowCardinality(String),
        trace_id        String,
        span_ids        Array(String),
        agents          Array(String),
        wasted_tokens   UInt64,
        wasted_cost_usd Float64,
        explanation     String CODEC(ZSTD(3)),
        details         String CODEC(ZSTD(3)),
        detected_at     DateTime64(3, 'UTC'),
        INDEX idx_trace trace_id TYPE bloom_filter(0.01) GRANULARITY 4
    )
    ENGINE = {replacing}(detected_at)
    PARTITION BY toYYYYMM(detected_at)
    ORDER BY (project_id, kind, id)
    TTL toDateTime(detected_at) + INTERVAL {ttl_days} DAY
    """,
    """
    CREATE TABLE IF NOT EXISTS {db}.alerts
    (
        project_id   LowCardinality(String),
        record       LowCardinality(String),
        rule         String,
        instance     String,
        state        LowCardinality(String),
        severity     LowCardinality(String),
        value        Nullable(Float64),
        labels       Map(String, String),
        since        DateTime64(3, 'UTC'),
        notified_at  Nullable(DateTime64(3, 'UTC')),
        body         String CODEC(ZSTD(3)),
        deleted      UInt8,
        updated_at   DateTime64(3, 'UTC')
    )
    ENGINE = {replacing}(updated_at)
    ORDER BY (project_id, record, rule, instance)
    """,
    """
    CREATE TABLE IF NOT EXISTS {db}.alert_events
    (
        project_id   LowCardinality(String),
        id           String,
        rule         String,
        instance     String,
        state        LowCardinality(String),
        severity     LowCardinality(String),
        value        Nullable(Float64),
        labels       Map(String, String),
        message      String,
        notified     Array(String),
        notify_error String,
        at           DateTime64(3, 'UTC'),
        updated_at   DateTime64(3, 'UTC')
    )
    ENGINE = {replacing}(updated_at)
    PARTITION BY toYYYYMM(at)
    ORDER BY (project_id, at, id)
    TTL toDateTime(at) + INTERVAL {ttl_days} DAY
    """,
    """
    CREATE TABLE IF NOT EXISTS {db}.api_keys
    (
        key_hash     String,
        project_id   LowCardinality(String),
        name         String,
        prefix       String,
        created_at   DateTime64(3, 'UTC'),
        revoked      UInt8,
        updated_at   DateTime64(3, 'UTC')
    )
    ENGINE = {replacing}(updated_at)
    ORDER BY key_hash
    """,
]

# One fact tuple per span version in the trace summary, so a summary read can keep each span's newest row, as
# `steps FINAL` does: (span id as UInt64, version, agent, is a model call, failed, unpriced, input tokens,
# output tokens, cost, cost known). Re-delivered spans, finaliser corrections and replays then never add up.
_FACT = (
    "(reinterpretAsUInt64(unhex(span_id)), version, agent, toUInt8(step_type = 'llm'),"
    " toUInt8(status = 'error' OR error_type != ''),"
    " toUInt8(cost_usd IS NULL AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL)),"
    " toUInt64(ifNull(input_tokens, 0)), toUInt64(ifNull(output_tokens, 0)), ifNull(cost_usd, 0.),"
    " toUInt8(cost_usd IS NOT NULL))"
)
_FACT_TYPE = "Tuple(UInt64, UInt64, String, UInt8, UInt8, UInt8, UInt64, UInt64, Float64, UInt8)"
_SUMMARY_SELECT = f"""
    SELECT
        project_id,
        day,
        trace_id,
        min(span_start) AS start_time,
        max(span_end) AS end_time,
        argMinState((name, service, workflow), (toUInt8(parent_span_id != ''), span_start)) AS root,
        groupUniqArray(service) AS services,
        groupUniqArrayIf(agent, agent != '') AS agents,
        groupUniqArrayIf(request_model, request_model != '') AS models,
        uniqExactState(span_id) AS spans,
        uniqExactIfState(span_id, toUInt8(retry_attempt > 1)) AS retries,
        groupUniqArrayState({_FACT}) AS facts,
        uniqExactIfState(version, toUInt8(bitAnd(version, 1) = 0)) AS batches,
        max(if(bitAnd(version, 1) = 0, version, 0)) AS last_batch,
        max(version) AS last_version
    FROM
    (
        SELECT *, start_time AS span_start, end_time AS span_end, toDate(start_time) AS day
        FROM {{db}}.steps
    )
    GROUP BY project_id, day, trace_id
"""
_LINKS_SELECT = """
    SELECT s.project_id AS project_id, {a} AS trace_id, {b} AS linked_trace_id, toDate(s.start_time) AS day
    FROM {{db}}.steps AS s ARRAY JOIN s.links AS link
    WHERE link.trace_id != s.trace_id AND link.trace_id != ''
"""

_DAYS_SELECT = """
    SELECT project_id, trace_id, day, min(span_start) AS start_time, max(span_end) AS end_time
    FROM (SELECT project_id, trace_id, toDate(start_time) AS day, start_time AS span_start, end_time AS span_end
          FROM {db}.steps)
    GROUP BY project_id, trace_id, day
"""

# v2: per-step tool calls and own values (the trace rules' inputs), a trace summary that keeps each span's newest
# row (facts), which batches wrote a trace (for the finaliser), and span links between traces in both directions.
_V2: list[str] = [
    "ALTER TABLE {db}.steps ADD COLUMN IF NOT EXISTS tool_calls Array(Tuple(id String, name String))"
    " CODEC(ZSTD(3)) AFTER links",
    "ALTER TABLE {db}.steps ADD COLUMN IF NOT EXISTS own Map(LowCardinality(String), String) CODEC(ZSTD(3))"
    " AFTER tool_calls",
    # No query reads these; every insert paid for them.
    "ALTER TABLE {db}.steps DROP INDEX IF EXISTS idx_name",
    "ALTER TABLE {db}.steps DROP INDEX IF EXISTS idx_hash",
    f"ALTER TABLE {{db}}.traces ADD COLUMN IF NOT EXISTS facts AggregateFunction(groupUniqArray, {_FACT_TYPE})",
    "ALTER TABLE {db}.traces ADD COLUMN IF NOT EXISTS batches AggregateFunction(uniqExactIf, UInt64, UInt8)",
    "ALTER TABLE {db}.traces ADD COLUMN IF NOT EXISTS last_batch SimpleAggregateFunction(max, UInt64)",
    # Any write, corrections included: the detectors scan a trace once it has been quiet since its last write.
    "ALTER TABLE {db}.traces ADD COLUMN IF NOT EXISTS last_version SimpleAggregateFunction(max, UInt64)",
    # The finaliser's "traces written since" scan reads last_batch over recent days; a minmax index skips the rest.
    "ALTER TABLE {db}.traces ADD INDEX IF NOT EXISTS idx_last_batch last_batch TYPE minmax GRANULARITY 1",
    "DROP VIEW IF EXISTS {db}.traces_mv",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.traces_mv TO {db}.traces AS" + _SUMMARY_SELECT,
    "ALTER TABLE {db}.traces DROP COLUMN IF EXISTS errors",
    "ALTER TABLE {db}.traces DROP COLUMN IF EXISTS llm_calls",
    "ALTER TABLE {db}.traces DROP COLUMN IF EXISTS unpriced",
    "ALTER TABLE {db}.traces DROP COLUMN IF EXISTS usage",
    # Every state is idempotent, so summarising the stored steps again fills the new columns of older traces.
    "INSERT INTO {db}.traces" + _SUMMARY_SELECT,
    """
    CREATE TABLE IF NOT EXISTS {db}.trace_links
    (
        project_id       LowCardinality(String),
        trace_id         String,
        linked_trace_id  String,
        day              Date
    )
    ENGINE = {replacing}
    PARTITION BY toYYYYMM(day)
    ORDER BY (project_id, trace_id, linked_trace_id)
    TTL day + INTERVAL {ttl_days} DAY
    """,
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.trace_links_out_mv TO {db}.trace_links AS"
    + _LINKS_SELECT.format(a="s.trace_id", b="link.trace_id"),
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.trace_links_in_mv TO {db}.trace_links AS"
    + _LINKS_SELECT.format(a="link.trace_id", b="s.trace_id"),
    "INSERT INTO {db}.trace_links" + _LINKS_SELECT.format(a="s.trace_id", b="link.trace_id"),
    "INSERT INTO {db}.trace_links" + _LINKS_SELECT.format(a="link.trace_id", b="s.trace_id"),
    # Where a background job (the trace finaliser) got to, so a restart resumes instead of re-scanning.
    """
    CREATE TABLE IF NOT EXISTS {db}.job_cursors
    (
        name        String,
        value       UInt64,
        updated_at  DateTime64(3, 'UTC')
    )
    ENGINE = {replacing}(updated_at)
    ORDER BY name
    """,
]


# 3: the jobs lease (2 is the trace finaliser's).
_V3: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS {db}.leases
    (
        name         LowCardinality(String),
        term         UInt64,
        owner        String,
        claimed_at   DateTime64(6, 'UTC'),
        expires_at   DateTime64(3, 'UTC'),
        updated_at   DateTime64(6, 'UTC')
    )
    ENGINE = {replacing}(updated_at)
    ORDER BY (name, term, owner)
    """,
]

# 9: where each trace lives. The summary (ORDER BY project, day, trace) and the steps (ORDER BY project, hour, trace)
# are laid out for time windows; opening one trace by id alone probed every day of retention (~100 ms at 20k
# spans right after a bulk load). This point lookup, ordered by trace id, gives its days and its start first.
_V9: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS {db}.trace_days
    (
        project_id  LowCardinality(String),
        trace_id    String,
        day         Date,
        start_time  SimpleAggregateFunction(min, DateTime64(9, 'UTC')),
        end_time    SimpleAggregateFunction(max, DateTime64(9, 'UTC'))
    )
    ENGINE = {aggregating}
    PARTITION BY toYYYYMM(day)
    ORDER BY (project_id, trace_id, day)
    TTL day + INTERVAL {ttl_days} DAY
    SETTINGS non_replicated_deduplication_window = 10000
    """,
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.trace_days_mv TO {db}.trace_days AS" + _DAYS_SELECT,
    "INSERT INTO {db}.trace_days" + _DAYS_SELECT,
]

# 10: when each trace was last written, by the engine's clock at insert time. Row versions are fixed when a batch
# forms, so a spool replay after an outage writes versions older than anything a background job has passed; the
# insert time never goes back, so the detectors (and any job that waits for a trace to go quiet) keep a cursor on it
# and neither re-read a window nor miss a late batch.
_V10: list[str] = [
    "ALTER TABLE {db}.traces ADD COLUMN IF NOT EXISTS written_at SimpleAggregateFunction(max, DateTime64(6, 'UTC'))",
    "ALTER TABLE {db}.traces ADD INDEX IF NOT EXISTS idx_written_at written_at TYPE minmax GRANULARITY 1",
    "DROP VIEW IF EXISTS {db}.traces_mv",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.traces_mv TO {db}.traces AS"
    + _SUMMARY_SELECT.replace(
        "max(version) AS last_version", "max(version) AS last_version,\n        max(now64(6, 'UTC')) AS written_at"
    ),
]


# 11: answers a person gave in the dashboard to an orchestrator run's interrupt (`tracehouse/store/interrupts.py`).
_V11: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS {db}.interrupt_answers
    (
        project_id    LowCardinality(String),
        trace_id      String,
        interrupt_id  String,
        answer        String CODEC(ZSTD(3)),
        answered_at   DateTime64(3, 'UTC')
    )
    ENGINE = {replacing}(answered_at)
    ORDER BY (project_id, trace_id, interrupt_id)
    TTL toDateTime(answered_at) + INTERVAL {ttl_days} DAY
    """,
]

MIGRATIONS: dict[int, list[str]] = {1: _V1, 2: _V2, 3: _V3, 9: _V9, 10: _V10, 11: _V11}
SCHEMA_VERSION = max(MIGRATIONS)


@dataclass(frozen=True)
class SchemaOptions:
    """How to render the DDL: the database, the retention, and (for clusters) the cluster name."""

    database: str = "tracehouse"
    retention_days: int = DEFAULT_RETENTION_DAYS
    cluster: str | None = None


def render(statement: str, options: SchemaOptions) -> str:
    """One DDL template with the database, retention and single-node engines filled in."""
    return statement.format(
        db=options.database,
        ttl_days=int(options.retention_days),
        replacing="ReplacingMergeTree",
        aggregating="AggregatingMergeTree",
    ).strip()


def single_node_ddl(options: SchemaOptions, since_version: int = 0) -> list[str]:
    """Every statement of every migration newer than `since_version`, in order."""
    statements = [f"CREATE DATABASE IF NOT EXISTS {options.database}"]
    for version in sorted(MIGRATIONS):
        if version > since_version:
            statements.extend(render(s, options) for s in MIGRATIONS[version])
    return statements
