"""Reading the alerting tables (written by evals/ alerting) for the dashboard: rule states and firing history.

`alerts` is a ReplacingMergeTree ORDER BY (project_id, record, rule, instance) holding 'rule', 'state' and 'silence'
records; `alert_events` is ORDER BY (project_id, at, id), so the history reads a time range of one project.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tracehouse.collector.store.client import Store


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class AlertState:
    """One alert instance (a rule for one label set) and its current state."""

    rule: str
    instance: str
    state: str
    severity: str
    value: float | None
    labels: dict[str, str] = field(default_factory=dict)
    since: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class AlertRule:
    rule: str
    body: str  # the rule's JSON as the alerting API stored it
    updated_at: datetime | None


@dataclass
class AlertEventRow:
    id: str
    rule: str
    instance: str
    state: str
    severity: str
    value: float | None
    message: str
    notified: list[str]
    notify_error: str
    at: datetime | None


def alert_states(store: Store, project_id: str) -> list[AlertState]:
    """The current state of every alert instance; firing first."""
    rows = store.rows(
        "SELECT rule, instance, state, severity, value, labels, since, updated_at FROM {db}.alerts FINAL"
        " WHERE project_id = {p:String} AND record = 'state' AND deleted = 0"
        " ORDER BY state = 'firing' DESC, rule, instance LIMIT 1000",
        {"p": project_id},
    )
    return [
        AlertState(rule=r["rule"], instance=r["instance"], state=r["state"], severity=r["severity"], value=r["value"],
                   labels=dict(r["labels"]), since=_utc(r["since"]), updated_at=_utc(r["updated_at"]))
        for r in rows
    ]  # fmt: skip


def alert_rules(store: Store, project_id: str) -> list[AlertRule]:
    """Rules created or edited through the alerting API (not deleted)."""
    rows = store.rows(
        "SELECT rule, body, updated_at FROM {db}.alerts FINAL"
        " WHERE project_id = {p:String} AND record = 'rule' AND deleted = 0 ORDER BY rule LIMIT 1000",
        {"p": project_id},
    )
    return [AlertRule(rule=r["rule"], body=r["body"], updated_at=_utc(r["updated_at"])) for r in rows]


def alert_history(store: Store, project_id: str, since: datetime, *, limit: int = 200) -> list[AlertEventRow]:
    """Firings and resolutions since `since`, newest first."""
    rows: list[dict[str, Any]] = store.rows(
        "SELECT id, rule, instance, state, severity, value, message, notified, notify_error, at"
        " FROM {db}.alert_events FINAL WHERE project_id = {p:String} AND at >= {since:DateTime64(3, 'UTC')}"
        " ORDER BY at DESC, id LIMIT {limit:UInt32}",
        {"p": project_id, "since": since, "limit": limit},
    )
    return [
        AlertEventRow(id=r["id"], rule=r["rule"], instance=r["instance"], state=r["state"], severity=r["severity"],
                      value=r["value"], message=r["message"], notified=list(r["notified"]),
                      notify_error=r["notify_error"], at=_utc(r["at"]))
        for r in rows
    ]  # fmt: skip
