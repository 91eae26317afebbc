"""Reconciles a migrated store with its configuration: the retention (TTL) of every table that has one.

The versioned DDL creates each table with the retention configured at the time; afterwards `--retention-days`
(TRACEHOUSE_RETENTION_DAYS) may change. On every migration, `apply_retention` compares each table's TTL with the
configured days and runs `ALTER TABLE ... MODIFY TTL` where they differ, and nothing where they agree (a second run
is a no-op). The TTL expressions come from the migration templates themselves, so there is one source of truth.

On a cluster the public name is a `Distributed` table; the TTL belongs to the local table it reads (`steps_local`),
altered `ON CLUSTER` so every shard and replica gets it. Lowering the retention materializes the new TTL on
existing parts (ClickHouse's default `materialize_ttl_after_modify = 1`): rows past the new retention are removed
by a background mutation, not only by later merges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tracehouse.store.client import Store
from tracehouse.store.schema import MIGRATIONS

MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 3650

_TTL_TEMPLATE = re.compile(
    r"CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)\b.*?\bTTL\s+(.+?)\s*\+\s*INTERVAL \{ttl_days\} DAY", re.S
)
_TTL_DAYS = re.compile(r"\bTTL\s.*?toIntervalDay\((\d+)\)", re.S)
_DISTRIBUTED = re.compile(r"^Distributed\(\s*'?([\w.-]+)'?\s*,\s*'?(\w+)'?\s*,\s*'?(\w+)'?")


@dataclass(frozen=True)
class RetentionChange:
    """One `MODIFY TTL` run: which public table, which table was altered, and the days before and after."""

    table: str
    altered: str
    old_days: int | None  # None: the table had no TTL
    new_days: int
    statement: str


def retention_ttls() -> dict[str, str]:
    """Public table -> the expression its TTL adds the retention to (e.g. steps -> `toDateTime(start_time)`)."""
    found: dict[str, str] = {}
    for version in sorted(MIGRATIONS):
        for template in MIGRATIONS[version]:
            if match := _TTL_TEMPLATE.search(template):
                found[match.group(1)] = match.group(2).strip()
    return found


def table_retention_days(create_table_query: str) -> int | None:
    """The days of a table's `TTL ... + toIntervalDay(N)` (as ClickHouse prints it), or None without a TTL."""
    match = _TTL_DAYS.search(create_table_query)
    return int(match.group(1)) if match else None


def _table(store: Store, database: str, name: str) -> dict[str, str] | None:
    rows = store.rows(
        "SELECT engine, engine_full, create_table_query FROM system.tables"
        " WHERE database = {d:String} AND name = {t:String}",
        {"d": database, "t": name},
    )
    return rows[0] if rows else None


def plan_retention(store: Store, retention_days: int) -> list[RetentionChange]:
    """The `MODIFY TTL` statements that would bring every table to `retention_days` (empty when all agree)."""
    if not MIN_RETENTION_DAYS <= retention_days <= MAX_RETENTION_DAYS:
        raise ValueError(f"retention_days: must be between {MIN_RETENTION_DAYS} and {MAX_RETENTION_DAYS}")
    days = int(retention_days)
    changes: list[RetentionChange] = []
    for table, expression in retention_ttls().items():
        info = _table(store, store.database, table)
        if info is None:
            continue  # not created (yet): the migration creates it with the configured TTL
        target, on_cluster = f"{store.database}.{table}", ""
        if info["engine"] == "Distributed":
            match = _DISTRIBUTED.match(info["engine_full"])
            if match is None:
                raise ValueError(f"retention: cannot read the Distributed engine of {table}: {info['engine_full']!r}")
            cluster, database, local = match.groups()
            target, on_cluster = f"{database}.{local}", f" ON CLUSTER '{cluster}'"
            info = _table(store, database, local) or {"create_table_query": ""}
        old = table_retention_days(info["create_table_query"])
        if old == days:
            continue
        statement = f"ALTER TABLE {target}{on_cluster} MODIFY TTL {expression} + INTERVAL {days} DAY"
        changes.append(RetentionChange(table, target, old, days, statement))
    return changes


def apply_retention(store: Store, retention_days: int) -> list[RetentionChange]:
    """Set every table's TTL to `retention_days` where it differs; returns what changed (nothing on a re-run)."""
    changes = plan_retention(store, retention_days)
    for change in changes:
        store.command(change.statement)
    return changes
