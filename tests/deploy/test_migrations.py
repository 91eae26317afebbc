"""The single-node schema applied and migrated for real on the embedded engine: idempotent, resumable, lossless,
and the configured retention applied to every table's TTL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from tracehouse.domain.model import Status, Step, StepType
from tracehouse.store import DSN, Store, get_trace_steps, get_trace_summary, insert_steps
from tracehouse.store.cluster import public_tables
from tracehouse.store.migrations import apply_retention, retention_ttls, table_retention_days
from tracehouse.store.schema import MIGRATIONS, SCHEMA_VERSION, SchemaOptions, render, single_node_ddl
from tracehouse.store.steps import STEP_COLUMNS, step_columns

DAY_NS = 86_400 * 10**9


@pytest.fixture
def fresh(store: Store) -> Iterator[Store]:
    """An empty database of its own on the session's embedded engine (chDB: one engine path per process)."""
    s = Store(DSN(raw=store.dsn.raw, embedded=True, database="mig_" + uuid.uuid4().hex[:10]))
    yield s
    s.command(f"DROP DATABASE IF EXISTS {s.database}")
    s.close()


def _snapshot(s: Store) -> dict[str, str]:
    rows = s.rows("SELECT name, create_table_query FROM system.tables WHERE database = {d:String}", {"d": s.database})
    return {r["name"]: r["create_table_query"] for r in rows}


def _step(trace_id: str, span_id: str, parent: str, start_ns: int, end_ns: int, name: str, **fields: object) -> Step:
    return Step("p1", trace_id, span_id, parent, start_ns, end_ns, name, status=Status.OK, service="svc", **fields)


def _steps(trace_id: str, start_ns: int, n: int = 3) -> list[Step]:
    """A workflow root and n-1 priced LLM calls under it."""
    root = _step(
        trace_id,
        f"{trace_id[:8]}00000000",
        "",
        start_ns,
        start_ns + 10**9,
        "invoke_workflow w",
        workflow="w",
        step_type=StepType.WORKFLOW,
    )
    llm = {"step_type": StepType.LLM, "request_model": "m", "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.01}
    calls = [
        _step(trace_id, f"{trace_id[:8]}{i:08x}", root.span_id, start_ns + i, start_ns + i + 10**6, "chat m", **llm)
        for i in range(1, n)
    ]
    return [root, *calls]


def test_single_node_ddl_applied_twice_changes_nothing(fresh: Store) -> None:
    """An interrupted migration is run again from its first statement: the newest one must be idempotent."""
    options = SchemaOptions(database=fresh.database)
    for statement in single_node_ddl(options):
        fresh.command(statement)
    first = _snapshot(fresh)
    for statement in single_node_ddl(options, since_version=SCHEMA_VERSION - 1)[1:]:
        fresh.command(statement)
    assert _snapshot(fresh) == first
    assert set(public_tables()) <= set(first)
    assert "traces_mv" in first


def test_migrate_from_empty_database_reaches_current_version(fresh: Store) -> None:
    assert fresh.schema_version() == 0
    assert fresh.migrate() == SCHEMA_VERSION
    assert fresh.schema_version() == SCHEMA_VERSION
    tables = _snapshot(fresh)
    assert set(public_tables()) <= set(tables)
    assert fresh.migrate() == SCHEMA_VERSION  # again: nothing to do, nothing changes
    assert _snapshot(fresh) == tables
    assert int(fresh.command("SELECT count() FROM {db}.schema_migrations FINAL")) == 1


def test_interrupted_migration_completes_on_the_next_run(fresh: Store) -> None:
    statements = single_node_ddl(SchemaOptions(database=fresh.database))
    for statement in statements[: len(statements) // 2]:
        fresh.command(statement)
    assert fresh.schema_version() == 0
    fresh.migrate()
    assert fresh.schema_version() == SCHEMA_VERSION
    assert set(public_tables()) <= set(_snapshot(fresh))


def test_migrating_a_database_with_data_keeps_every_row(fresh: Store) -> None:
    fresh.migrate()
    now = time.time_ns()
    trace = uuid.uuid4().hex
    batch = _steps(trace, now - 3600 * 10**9, n=5)
    insert_steps(fresh, batch, version=1, dedup_token="b1")
    insert_steps(fresh, batch, version=1, dedup_token="b1")  # a replayed batch: dropped by block dedup
    before_steps = get_trace_steps(fresh, "p1", trace)
    before_summary = get_trace_summary(fresh, "p1", trace)
    assert len(before_steps) == 5 and before_summary is not None and before_summary.spans == 5

    fresh.migrate()
    apply_retention(fresh, 90)

    assert get_trace_steps(fresh, "p1", trace) == before_steps
    assert get_trace_summary(fresh, "p1", trace) == before_summary
    assert int(fresh.command("SELECT count() FROM {db}.steps")) == 5


def test_retention_change_alters_every_ttl_once(fresh: Store) -> None:
    fresh.migrate(retention_days=30)
    ttl_tables = retention_ttls()
    assert {"steps", "traces", "scores", "findings", "alert_events"} <= set(ttl_tables)
    changes = apply_retention(fresh, 7)
    assert sorted(c.table for c in changes) == sorted(ttl_tables)
    assert all(c.old_days == 30 and c.new_days == 7 for c in changes)
    for table, query in _snapshot(fresh).items():
        if table in ttl_tables:
            assert table_retention_days(query) == 7, table
    assert apply_retention(fresh, 7) == []  # idempotent: the tables already agree


def test_lowering_retention_removes_rows_past_it(fresh: Store) -> None:
    fresh.migrate(retention_days=30)
    now = time.time_ns()
    old, recent = uuid.uuid4().hex, uuid.uuid4().hex
    insert_steps(fresh, _steps(old, now - 20 * DAY_NS) + _steps(recent, now - 2 * DAY_NS), version=1, dedup_token="t")
    apply_retention(fresh, 10)
    fresh.command("OPTIMIZE TABLE {db}.steps FINAL")
    kept = {r["trace_id"] for r in fresh.rows("SELECT DISTINCT trace_id FROM {db}.steps")}
    assert kept == {recent}


def test_retention_out_of_range_is_refused(fresh: Store) -> None:
    fresh.migrate()
    with pytest.raises(ValueError, match="retention_days"):
        apply_retention(fresh, 0)


def test_store_migrate_applies_the_configured_retention(fresh: Store) -> None:
    """`Store.migrate(retention_days=N)` on an existing database moves every TTL to N (the migration hook)."""
    fresh.migrate(retention_days=30)
    fresh.migrate(retention_days=45)
    for table, query in _snapshot(fresh).items():
        if table in retention_ttls():
            assert table_retention_days(query) == 45, table


def test_v1_store_keeps_its_trace_summaries_through_the_v2_migration(fresh: Store) -> None:
    options = SchemaOptions(database=fresh.database)
    fresh.command(f"CREATE DATABASE IF NOT EXISTS {fresh.database}")
    for statement in MIGRATIONS[1]:
        fresh.command(render(statement, options))
    fresh.command(
        "CREATE TABLE {db}.schema_migrations (version UInt32, applied_at DateTime DEFAULT now())"
        " ENGINE = ReplacingMergeTree ORDER BY version"
    )
    fresh.insert("schema_migrations", [[1]], ["version"])
    trace_id = uuid.uuid4().hex
    steps = _steps(trace_id, time.time_ns() - 60 * 10**9)
    v1_columns = [c for c in STEP_COLUMNS if c not in ("tool_calls", "own")]
    columns = dict(zip(STEP_COLUMNS, step_columns(steps, 1), strict=True))
    fresh.insert("steps", [columns[c] for c in v1_columns], v1_columns)
    assert fresh.migrate() == SCHEMA_VERSION
    summary = get_trace_summary(fresh, "p1", trace_id)
    assert summary is not None
    assert (summary.spans, summary.llm_calls, summary.input_tokens, summary.output_tokens) == (3, 2, 20, 10)
    assert summary.cost_usd == pytest.approx(0.02)
    assert [s.span_id for s in get_trace_steps(fresh, "p1", trace_id)] == [s.span_id for s in steps]
