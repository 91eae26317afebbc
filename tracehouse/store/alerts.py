"""SQL for alerting: the metrics rules are evaluated on, alert state and history, and the rules and silences edited
through the API (all in `alerts`, told apart by `record`). Written by `tracehouse.evals.alerting`; this module knows
only columns, never rule objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tracehouse.domain.rates import CALL_SQL, ERROR_RATE, PASS_RATE, RETRY_AMPLIFICATION_SQL, RETRY_RATE
from tracehouse.store.client import Store, as_utc
from tracehouse.store.scope import Scope, project_filter

STATE_COLUMNS: tuple[str, ...] = (
    "project_id",
    "record",
    "rule",
    "instance",
    "state",
    "severity",
    "value",
    "labels",
    "since",
    "notified_at",
    "body",
    "deleted",
    "updated_at",
)
EVENT_COLUMNS: tuple[str, ...] = (
    "project_id",
    "id",
    "rule",
    "instance",
    "state",
    "severity",
    "value",
    "labels",
    "message",
    "notified",
    "notify_error",
    "at",
    "updated_at",
)

_GROUP_COLUMNS = {"agent": "agent", "model": "request_model", "provider": "provider"}
# metric -> (value expression, sample-count expression, default step filter); the rates are the domain's
_STEP_METRICS: dict[str, tuple[str, str, str]] = {
    "retry_rate": (RETRY_RATE.value_sql(), "count()", RETRY_RATE.over_sql),
    "retry_amplification": (RETRY_AMPLIFICATION_SQL, "count()", CALL_SQL),
    "error_rate": (ERROR_RATE.value_sql(), "count()", ERROR_RATE.over_sql),
    "p95_latency_ms": ("quantile(0.95)(duration_ns) / 1e6", "count()", "step_type = 'llm'"),
    "cost_per_hour": ("sum(ifNull(cost_usd, 0)) * 3600 / {window_s:Float64}", "count()", "1"),
}


@dataclass(frozen=True)
class MetricRow:
    project_id: str
    key: str  # the group's value ('' when the rule is not grouped)
    value: float
    samples: int


def metric_values(
    store: Store,
    metric: str,
    since: datetime,
    until: datetime,
    *,
    scope: Scope,
    filters: Mapping[str, str | None] | None = None,
    group_by: str | None = None,
) -> list[MetricRow]:
    """One metric over [since, until) per project (and per group), in one query.

    Step metrics read `steps FINAL` (a re-delivered span counts once); the (project_id, toStartOfHour(start_time))
    prefix of its ORDER BY prunes to the window's hours. Findings read `findings` by detected_at, scores `scores`
    by created_at (both small).
    """
    given: dict[str, str] = {k: v for k, v in (filters or {}).items() if v}
    params: dict[str, Any] = {
        "since": as_utc(since),
        "until": as_utc(until),
        "window_s": max((until - since).total_seconds(), 1.0),
    }
    if metric in _STEP_METRICS:
        return _step_metric(store, metric, params, scope, given, group_by)
    if metric == "findings":
        return _findings_metric(store, params, scope, given)
    if metric == "eval_pass_rate":
        return _scores_metric(store, params, scope, given, group_by)
    raise ValueError(f"metric: unknown metric {metric!r}")


def _step_metric(
    store: Store,
    metric: str,
    params: dict[str, Any],
    scope: Scope,
    filters: dict[str, str],
    group_by: str | None,
) -> list[MetricRow]:
    value, samples, default_filter = _STEP_METRICS[metric]
    where = ["start_time >= {since:DateTime64(9, 'UTC')}", "start_time < {until:DateTime64(9, 'UTC')}"]
    where.append(project_filter(scope, params))
    for name, column in (("agent", "agent"), ("model", "request_model"), ("provider", "provider")):
        if name in filters:
            where.append(f"{column} = {{f_{name}:String}}")
            params[f"f_{name}"] = filters[name]
    if "step_type" in filters:
        where.append("step_type = {f_step_type:String}")
        params["f_step_type"] = filters["step_type"]
    else:
        where.append(default_filter)
    key = _GROUP_COLUMNS[group_by] if group_by else "''"
    rows = store.rows(
        f"""
        SELECT project_id, {key} AS key, {value} AS value, {samples} AS samples
        FROM {{db}}.steps FINAL
        WHERE {" AND ".join(where)}
        GROUP BY project_id, key
        """,
        params,
    )
    return [MetricRow(r["project_id"], str(r["key"]), float(r["value"]), int(r["samples"])) for r in rows]


def _findings_metric(store: Store, params: dict[str, Any], scope: Scope, filters: dict[str, str]) -> list[MetricRow]:
    """Distinct findings detected in the window (the table's ORDER BY (project_id, kind, id) serves the kind)."""
    where = ["detected_at >= {since:DateTime64(3, 'UTC')}", "detected_at < {until:DateTime64(3, 'UTC')}"]
    where.append(project_filter(scope, params))
    if "kind" in filters:
        where.append("kind = {f_kind:String}")
        params["f_kind"] = filters["kind"]
    if "agent" in filters:
        where.append("has(agents, {f_agent:String})")
        params["f_agent"] = filters["agent"]
    rows = store.rows(
        f"""
        SELECT project_id, uniqExact(id) AS n
        FROM {{db}}.findings
        WHERE {" AND ".join(where)}
        GROUP BY project_id
        """,
        params,
    )
    return [MetricRow(r["project_id"], "", float(r["n"]), int(r["n"])) for r in rows]


def _scores_metric(
    store: Store, params: dict[str, Any], scope: Scope, filters: dict[str, str], group_by: str | None
) -> list[MetricRow]:
    """Share of passed scores (scores with a pass/fail) created in the window."""
    where = [
        "created_at >= {since:DateTime64(3, 'UTC')}",
        "created_at < {until:DateTime64(3, 'UTC')}",
        PASS_RATE.over_sql,
    ]
    where.append(project_filter(scope, params))
    for name, column in (("suite", "suite"), ("score", "name"), ("agent", "agent")):
        if name in filters:
            where.append(f"{column} = {{f_{name}:String}}")
            params[f"f_{name}"] = filters[name]
    key = "agent" if group_by == "agent" else "''"
    rows = store.rows(
        f"""
        SELECT project_id, {key} AS key, {PASS_RATE.value_sql()} AS value, count() AS samples
        FROM {{db}}.scores FINAL
        WHERE {" AND ".join(where)}
        GROUP BY project_id, key
        """,
        params,
    )
    return [MetricRow(r["project_id"], str(r["key"]), float(r["value"]), int(r["samples"])) for r in rows]


# -- state, rules and silences: rows of `alerts` (ORDER BY project_id, record, rule, instance) ----------------------


def load_records(store: Store, record: str, *, scope: Scope) -> list[dict[str, Any]]:
    """Every current row of one record kind (FINAL: the latest `updated_at` per key), tombstones included."""
    params: dict[str, Any] = {"r": record}
    where = "record = {r:String} AND " + project_filter(scope, params)
    rows = store.rows(f"SELECT {', '.join(STATE_COLUMNS)} FROM {{db}}.alerts FINAL WHERE {where}", params)
    for r in rows:
        r["labels"] = dict(r["labels"])
        r["since"] = as_utc(r["since"])
        r["updated_at"] = as_utc(r["updated_at"])
        r["notified_at"] = as_utc(r["notified_at"]) if r["notified_at"] is not None else None
    return rows


def write_records(store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `alerts` rows (each a mapping of STATE_COLUMNS; missing ones default)."""
    if not rows:
        return
    now = datetime.now(UTC)
    defaults: dict[str, Any] = {
        "instance": "",
        "state": "",
        "severity": "",
        "value": None,
        "labels": {},
        "since": now,
        "notified_at": None,
        "body": "",
        "deleted": 0,
        "updated_at": now,
    }
    full = [{**defaults, **r} for r in rows]
    columns = [[r[c] for r in full] for c in STATE_COLUMNS]
    store.insert("alerts", columns, STATE_COLUMNS)


def write_events(store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert history rows; re-writing the same (project, at, id) with a later `updated_at` replaces it."""
    if not rows:
        return
    now = datetime.now(UTC)
    defaults: dict[str, Any] = {
        "instance": "",
        "severity": "",
        "value": None,
        "labels": {},
        "message": "",
        "notified": [],
        "notify_error": "",
        "updated_at": now,
    }
    full = [{**defaults, **r} for r in rows]
    columns = [[r[c] for r in full] for c in EVENT_COLUMNS]
    store.insert("alert_events", columns, EVENT_COLUMNS)


def list_events(
    store: Store,
    project_id: str,
    *,
    rule: str | None = None,
    since: datetime | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Newest first; the latest version of each event (delivery outcome included). ORDER BY (project_id, at, id)
    makes the project + time range a prefix scan."""
    where = ["project_id = {p:String}"]
    params: dict[str, Any] = {"p": project_id, "limit": limit}
    if rule:
        where.append("rule = {rule:String}")
        params["rule"] = rule
    if since is not None:
        where.append("at >= {since:DateTime64(3, 'UTC')}")
        params["since"] = as_utc(since)
    rows = store.rows(
        f"""
        SELECT {", ".join(EVENT_COLUMNS[1:])}
        FROM {{db}}.alert_events
        WHERE {" AND ".join(where)}
        ORDER BY at DESC, id, updated_at DESC
        LIMIT 1 BY at, id
        LIMIT {{limit:UInt32}}
        """,
        params,
    )
    for r in rows:
        r["labels"] = dict(r["labels"])
        r["notified"] = list(r["notified"])
        r["at"] = as_utc(r["at"])
        r["updated_at"] = as_utc(r["updated_at"])
    return rows


PENDING_DELIVERY = "pending delivery"


def undelivered_events(store: Store, since: datetime) -> list[dict[str, Any]]:
    """Events since `since` whose latest version still says "pending delivery": notifications a process recorded and
    handed to its notifiers but never saw answered (it died). ORDER BY (project_id, at, id) serves the range."""
    rows = store.rows(
        f"""
        SELECT {", ".join(EVENT_COLUMNS)} FROM (
            SELECT {", ".join(EVENT_COLUMNS)} FROM {{db}}.alert_events
            WHERE at >= {{since:DateTime64(3, 'UTC')}}
            ORDER BY project_id, at, id, updated_at DESC
            LIMIT 1 BY project_id, at, id
        )
        WHERE notify_error = {{pending:String}}
        ORDER BY at
        LIMIT 10000
        """,
        {"since": as_utc(since), "pending": PENDING_DELIVERY},
    )
    for r in rows:
        r["labels"] = dict(r["labels"])
        r["at"] = as_utc(r["at"])
    return rows


# -- reads for the dashboard: rule states, rules, firing history ------------------------------------------------------


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
        AlertState(
            rule=r["rule"],
            instance=r["instance"],
            state=r["state"],
            severity=r["severity"],
            value=r["value"],
            labels=dict(r["labels"]),
            since=as_utc(r["since"]),
            updated_at=as_utc(r["updated_at"]),
        )
        for r in rows
    ]


def alert_history(store: Store, project_id: str, since: datetime, *, limit: int = 200) -> list[AlertEventRow]:
    """Firings and resolutions since `since`, newest first."""
    rows: list[dict[str, Any]] = store.rows(
        "SELECT id, rule, instance, state, severity, value, message, notified, notify_error, at"
        " FROM {db}.alert_events FINAL WHERE project_id = {p:String} AND at >= {since:DateTime64(3, 'UTC')}"
        " ORDER BY at DESC, id LIMIT {limit:UInt32}",
        {"p": project_id, "since": since, "limit": limit},
    )
    return [
        AlertEventRow(
            id=r["id"],
            rule=r["rule"],
            instance=r["instance"],
            state=r["state"],
            severity=r["severity"],
            value=r["value"],
            message=r["message"],
            notified=list(r["notified"]),
            notify_error=r["notify_error"],
            at=as_utc(r["at"]),
        )
        for r in rows
    ]
