"""The cluster schema: every statement accepted by ClickHouse's own parser (the embedded engine's formatQuery),
replicated local tables ON CLUSTER, Distributed tables sharded by trace id under the public names, views on the
local tables; and the query layer only names tables the cluster schema provides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tracehouse.store import Store
from tracehouse.store import cluster as cluster_module
from tracehouse.store.cluster import (
    SHARDING,
    ClusterDDLError,
    cluster_ddl,
    public_tables,
    statements_text,
)
from tracehouse.store.schema import MIGRATIONS, SchemaOptions

STORE_DIR = Path(__file__).resolve().parents[2] / "tracehouse" / "store"
OPTIONS = SchemaOptions(database="tracehouse", retention_days=14, cluster="tracehouse")


def _parses(store: Store, statement: str) -> str:
    return str(store.command("SELECT formatQuery({q:String})", {"q": statement}))


def _creates(ddl: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for s in ddl:
        if m := re.match(r"CREATE (?:TABLE|MATERIALIZED VIEW) IF NOT EXISTS tracehouse\.(\w+)", s):
            found[m.group(1)] = s
    return found


def test_every_cluster_statement_parses(store: Store) -> None:
    ddl = cluster_ddl(OPTIONS)
    for statement in ddl:
        formatted = _parses(store, statement)
        if statement.startswith("INSERT INTO"):  # a backfill, through the Distributed tables
            assert "_local" not in formatted, statement[:80]
        else:
            assert "ON CLUSTER tracehouse" in formatted, statement[:80]


def test_every_public_table_is_sharded_or_global() -> None:
    assert set(public_tables()) == set(SHARDING)


def test_sharded_tables_are_replicated_locals_behind_distributed_tables_by_trace_id() -> None:
    creates = _creates(cluster_ddl(OPTIONS))
    for table, key in SHARDING.items():
        if key is None:
            assert (
                "ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}'"
                in creates[table]
            )
            assert f"{table}_local" not in creates
            continue
        assert key == "cityHash64(trace_id)"
        assert re.search(r"\btrace_id\s+String\b", creates[f"{table}_local"]), f"{table} has no trace_id column"
        assert re.search(
            r"ENGINE = Replicated\w*MergeTree\('/clickhouse/tables/\{shard\}/\{database\}/\{table\}', '\{replica\}'",
            creates[f"{table}_local"],
        )
        assert creates[table].endswith(
            f"AS tracehouse.{table}_local ENGINE = Distributed('tracehouse', 'tracehouse', '{table}_local', {key})"
        )


def test_no_single_node_engine_or_setting_remains() -> None:
    text = statements_text(cluster_ddl(OPTIONS))
    assert not re.search(r"ENGINE = (Replacing|Aggregating)?MergeTree", text)
    assert "non_replicated_deduplication_window" not in text
    assert "replicated_deduplication_window = 10000" in _creates(cluster_ddl(OPTIONS))["steps_local"]
    assert "TTL toDateTime(start_time) + INTERVAL 14 DAY" in text


def test_summary_view_reads_and_writes_the_local_tables() -> None:
    view = _creates(cluster_ddl(OPTIONS))["traces_mv"]
    assert "TO tracehouse.traces_local AS" in view
    assert "FROM tracehouse.steps_local" in view
    assert not re.search(r"tracehouse\.steps\b(?!_local)", view)


def test_the_query_layer_names_only_tables_the_cluster_schema_provides() -> None:
    provided = set(_creates(cluster_ddl(OPTIONS)))
    used: set[str] = set()
    for path in STORE_DIR.glob("*.py"):
        used |= set(re.findall(r"\{\{?db\}?\}\.(\w+)", path.read_text()))
    assert used, "no {db}.table references found in the query layer"
    assert used <= provided, f"query layer uses tables the cluster schema lacks: {sorted(used - provided)}"


def test_a_column_migration_reaches_the_local_and_the_distributed_table(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(MIGRATIONS, 99, ["ALTER TABLE {db}.steps ADD COLUMN IF NOT EXISTS extra String CODEC(ZSTD(3))"])
    ddl = cluster_ddl(OPTIONS, since_version=max(k for k in MIGRATIONS if k != 99))
    alters = [s for s in ddl if s.startswith("ALTER")]
    assert alters == [
        "ALTER TABLE tracehouse.steps_local ON CLUSTER 'tracehouse'"
        " ADD COLUMN IF NOT EXISTS extra String CODEC(ZSTD(3))",
        "ALTER TABLE tracehouse.steps ON CLUSTER 'tracehouse' ADD COLUMN IF NOT EXISTS extra String",
    ]
    for statement in alters:
        _parses(store, statement)


def test_a_statement_without_a_cluster_form_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(MIGRATIONS, 99, ["DROP TABLE IF EXISTS {db}.old"])
    with pytest.raises(ClusterDDLError, match="no cluster form"):
        cluster_ddl(OPTIONS)


def test_a_new_table_must_be_classified(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        MIGRATIONS, 99, ["CREATE TABLE IF NOT EXISTS {db}.t (a String) ENGINE = {replacing} ORDER BY a"]
    )
    with pytest.raises(ClusterDDLError, match=r"cluster\.SHARDING"):
        cluster_ddl(OPTIONS)


@pytest.mark.parametrize("name", [None, "", "bad name", "x'; DROP TABLE steps; --"])
def test_bad_cluster_names_are_refused(name: str | None) -> None:
    with pytest.raises(ClusterDDLError, match="cluster"):
        cluster_ddl(SchemaOptions(cluster=name))


def test_cluster_module_keeps_the_public_entry_points() -> None:
    assert callable(cluster_module.apply_cluster_schema)
    assert cluster_ddl(OPTIONS)[0] == "CREATE DATABASE IF NOT EXISTS tracehouse ON CLUSTER 'tracehouse'"
    assert cluster_ddl(OPTIONS)[-1].startswith("CREATE TABLE IF NOT EXISTS tracehouse.schema_migrations ON CLUSTER")
