"""The schema for a sharded, replicated ClickHouse cluster, rendered from the same migrations as the single-node one.

Every table of the single-node schema becomes, `ON CLUSTER`:

- a sharded table (`steps`, `traces`, `scores`, `findings`: the ones keyed by trace): a local table
  `<name>_local` with the `Replicated*` twin of its engine, replicated within its shard under
  `/clickhouse/tables/{shard}/{database}/{table}`, plus a `Distributed` table with the public name, sharded by
  `cityHash64(trace_id)`. One trace's steps, summary, scores and findings therefore live on one shard, so
  `FINAL`, the per-trace `GROUP BY` of the trace list and the summary's materialized view are all shard-local
  and exact. A re-delivered span has the same trace id, so it lands on the shard holding the first copy and the
  ReplacingMergeTree there removes it.
- a global table (`eval_runs`, `alerts`, `alert_events`, `api_keys`, `leases`, `schema_migrations`: small, no
  trace id, replaced by key): one replication group spanning every node (`/clickhouse/tables/all/...`), no Distributed
  table. Every node holds all of it, so an API-key lookup or an alert-state read never fans out, and a rewrite
  by key always meets the row it replaces. This needs the `{replica}` macro to be unique across the cluster
  (it is with the Altinity operator and the usual `<macros>` configuration).
- the materialized view is created on every node, reading the local `steps_local` and writing the local
  `traces_local`: each shard summarises its own traces, and the summary rows follow the trace's shard.

The query layer keeps querying `{db}.steps`, `{db}.traces`, ...: those names are the Distributed (or global)
tables, so it runs unchanged. Block deduplication: replicated tables deduplicate inserted blocks by default (in
Keeper); `replicated_deduplication_window` replaces the single node's `non_replicated_deduplication_window`, so
an `insert_deduplication_token` per spooled batch keeps working through the Distributed table (a batch splits
into the same per-shard blocks every time it is replayed, because the split is a hash of the trace id).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tracehouse.errors import TracehouseError
from tracehouse.store.client import Store
from tracehouse.store.schema import MIGRATIONS, SCHEMA_VERSION, SchemaOptions, render

LOCAL_SUFFIX = "_local"
SHARD_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
GLOBAL_PATH = "/clickhouse/tables/all/{database}/{table}"
REPLICA_NAME = "{replica}"

# How each table is spread over the cluster: a sharding expression, or None for "a full copy on every node".
SHARDING: dict[str, str | None] = {
    "steps": "cityHash64(trace_id)",
    "traces": "cityHash64(trace_id)",
    "scores": "cityHash64(trace_id)",
    "findings": "cityHash64(trace_id)",
    "trace_links": "cityHash64(trace_id)",
    "trace_days": "cityHash64(trace_id)",
    "eval_runs": None,
    "alerts": None,
    "alert_events": None,
    "api_keys": None,
    "job_cursors": None,
    "leases": None,
    "interrupt_answers": None,
}

_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_CREATE_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)\.(\w+)\s*\(", re.S)
_CREATE_VIEW = re.compile(r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)\.(\w+) TO (\w+)\.(\w+) AS\b", re.S)
_ALTER_TABLE = re.compile(r"^ALTER TABLE (\w+)\.(\w+)\s+(.*)$", re.S)
_DROP_VIEW = re.compile(r"^DROP VIEW IF EXISTS (\w+)\.(\w+)$")
_INSERT_SELECT = re.compile(r"^INSERT INTO (\w+)\.(\w+)\s+SELECT\b", re.S)
_ENGINE = re.compile(r"ENGINE = (\w*)MergeTree(?:\(([^()]*)\))?")
_COLUMN_ALTER = re.compile(r"^(ADD|DROP|MODIFY|RENAME|COMMENT) COLUMN\b", re.I)


class ClusterDDLError(TracehouseError, ValueError):
    """A cluster name or a migration statement the cluster renderer cannot use (named in the message)."""


def cluster_ddl(options: SchemaOptions, since_version: int = 0) -> list[str]:
    """Every statement, in order, that brings a cluster's schema from `since_version` to SCHEMA_VERSION.

    >>> ddl = cluster_ddl(SchemaOptions(database="tracehouse", cluster="tracehouse"))
    >>> ddl[0]
    "CREATE DATABASE IF NOT EXISTS tracehouse ON CLUSTER 'tracehouse'"
    """
    cluster = _cluster_name(options)
    on = f"ON CLUSTER '{cluster}'"
    statements = [f"CREATE DATABASE IF NOT EXISTS {options.database} {on}"]
    for version in sorted(MIGRATIONS):
        if version > since_version:
            for template in MIGRATIONS[version]:
                statements.extend(_translate(render(template, options), options.database, cluster))
    statements.append(migrations_table_ddl(options))
    return statements


def migrations_table_ddl(options: SchemaOptions) -> str:
    """The `schema_migrations` table as a global replicated table, so every node sees the cluster's version."""
    cluster = _cluster_name(options)
    return (
        f"CREATE TABLE IF NOT EXISTS {options.database}.schema_migrations ON CLUSTER '{cluster}'"
        " (version UInt32, applied_at DateTime DEFAULT now())"
        f" ENGINE = ReplicatedReplacingMergeTree('{GLOBAL_PATH}', '{REPLICA_NAME}') ORDER BY version"
    )


def public_tables() -> list[str]:
    """Every table name the single-node schema creates (the names the query layer uses)."""
    names: list[str] = []
    for version in sorted(MIGRATIONS):
        for template in MIGRATIONS[version]:
            match = _CREATE_TABLE.match(render(template, SchemaOptions()))
            if match:
                names.append(match.group(2))
    return names


def _cluster_name(options: SchemaOptions) -> str:
    if not options.cluster:
        raise ClusterDDLError("cluster: a cluster name is needed for the cluster schema (e.g. --cluster tracehouse)")
    if not _CLUSTER_NAME.match(options.cluster):
        raise ClusterDDLError(f"cluster: {options.cluster!r} is not a ClickHouse cluster name (letters, digits, _.-)")
    return options.cluster


def _translate(statement: str, db: str, cluster: str) -> list[str]:
    """One rendered single-node statement as the statements a cluster needs for it."""
    if match := _CREATE_TABLE.match(statement):
        return _create_table(statement, match, db, cluster)
    if match := _CREATE_VIEW.match(statement):
        return [_create_view(statement, match, db, cluster)]
    if match := _ALTER_TABLE.match(statement):
        return _alter_table(match, db, cluster)
    if match := _DROP_VIEW.match(statement):
        return [f"DROP VIEW IF EXISTS {db}.{match.group(2)} ON CLUSTER '{cluster}'"]
    if _INSERT_SELECT.match(statement):
        # A backfill reads and writes the public (Distributed) tables: each row goes to its trace's shard.
        return [statement]
    raise ClusterDDLError(f"cluster schema: no cluster form for statement {statement.splitlines()[0]!r}")


def _sharding(table: str) -> str | None:
    if table not in SHARDING:
        raise ClusterDDLError(f"cluster schema: table {table!r} has no entry in cluster.SHARDING (sharded or global?)")
    return SHARDING[table]


def _replicated_engine(statement: str, path: str) -> str:
    def replace(match: re.Match[str]) -> str:
        family, args = match.group(1), (match.group(2) or "").strip()
        head = f"'{path}', '{REPLICA_NAME}'"
        return f"ENGINE = Replicated{family}MergeTree({head}{', ' + args if args else ''})"

    replaced, count = _ENGINE.subn(replace, statement, count=1)
    if count != 1:
        raise ClusterDDLError(f"cluster schema: no MergeTree engine in {statement.splitlines()[0]!r}")
    # Replicated tables keep their block-dedup hashes in Keeper; the window keeps the single node's size.
    return replaced.replace("non_replicated_deduplication_window", "replicated_deduplication_window")


def _create_table(statement: str, match: re.Match[str], db: str, cluster: str) -> list[str]:
    table = match.group(2)
    key = _sharding(table)
    on = f"ON CLUSTER '{cluster}'"
    if key is None:
        head = f"CREATE TABLE IF NOT EXISTS {db}.{table} {on}"
        return [_replicated_engine(head + statement[match.end() - 1 :].rstrip(), GLOBAL_PATH)]
    local = table + LOCAL_SUFFIX
    head = f"CREATE TABLE IF NOT EXISTS {db}.{local} {on}"
    return [
        _replicated_engine(head + statement[match.end() - 1 :].rstrip(), SHARD_PATH),
        f"CREATE TABLE IF NOT EXISTS {db}.{table} {on} AS {db}.{local}"
        f" ENGINE = Distributed('{cluster}', '{db}', '{local}', {key})",
    ]


def _create_view(statement: str, match: re.Match[str], db: str, cluster: str) -> str:
    view, target = match.group(2), match.group(4)
    if _sharding(target) is None:
        raise ClusterDDLError(f"cluster schema: view {view!r} writes to global table {target!r}; views feed shards")
    body = statement[match.end() :]
    sources = {t for t in re.findall(rf"\b{db}\.(\w+)\b", body)}
    for source in sources:
        if _sharding(source) is None:
            raise ClusterDDLError(f"cluster schema: view {view!r} reads global table {source!r}")
        body = re.sub(rf"\b{db}\.{source}\b", f"{db}.{source}{LOCAL_SUFFIX}", body)
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{view} ON CLUSTER '{cluster}'"
        f" TO {db}.{target}{LOCAL_SUFFIX} AS{body}"
    )


def _alter_table(match: re.Match[str], db: str, cluster: str) -> list[str]:
    """Column changes go to the local table and to the Distributed table over it; the rest (TTL, indexes,
    settings) only to the local table, where the data is."""
    table, change = match.group(2), match.group(3).strip()
    on = f"ON CLUSTER '{cluster}'"
    if _sharding(table) is None:
        return [f"ALTER TABLE {db}.{table} {on} {change}"]
    statements = [f"ALTER TABLE {db}.{table}{LOCAL_SUFFIX} {on} {change}"]
    if _COLUMN_ALTER.match(change):
        statements.append(f"ALTER TABLE {db}.{table} {on} {_strip_codecs(change)}")
    return statements


def _strip_codecs(change: str) -> str:
    """A Distributed table stores nothing, so a column's codec is not its business."""
    return re.sub(r"\s+CODEC\([^()]*(?:\([^()]*\)[^()]*)*\)", "", change)


def apply_cluster_schema(store: Store, options: SchemaOptions) -> int:
    """Run the cluster DDL that `store`'s cluster still needs and record SCHEMA_VERSION (`schema --apply`).

    Safe to run again: every statement is IF NOT EXISTS and a current cluster gets only the migrations table."""
    current = store.schema_version()
    for statement in cluster_ddl(options, since_version=current):
        store.command(statement)
    if current < SCHEMA_VERSION:
        store.insert("schema_migrations", [[SCHEMA_VERSION]], ["version"])
    return SCHEMA_VERSION


def statements_text(statements: Iterable[str]) -> str:
    """The statements as one script for `clickhouse-client --multiquery` (what `tracehouse schema` prints)."""
    return "".join(f"{s.strip()};\n\n" for s in statements)
