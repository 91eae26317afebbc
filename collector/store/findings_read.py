"""Reading `findings` (written by the detectors in evals/) for the dashboard: one trace's findings, counts per trace,
which traces have any, and per-agent totals.

`findings` is a ReplacingMergeTree ORDER BY (project_id, kind, id) with a bloom filter on trace_id: reads by trace
lean on that index, reads by window scan the project's range (findings are few next to steps). FINAL everywhere,
because a detector re-run re-writes the same finding id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tracehouse.collector.store.client import Store

_COLUMNS = (
    "id, kind, severity, trace_id, span_ids, agents, wasted_tokens, wasted_cost_usd, explanation, details, detected_at"
)


@dataclass
class FindingRow:
    """One finding as the dashboard shows it; fields are the `findings` columns."""

    id: str
    kind: str  # loop | duplicate_work | retry_storm
    severity: str
    trace_id: str
    span_ids: list[str]
    agents: list[str]
    wasted_tokens: int
    wasted_cost_usd: float
    explanation: str
    details: str
    detected_at: datetime


def _row(r: dict[str, Any]) -> FindingRow:
    at = r["detected_at"]
    return FindingRow(
        id=r["id"], kind=r["kind"], severity=r["severity"], trace_id=r["trace_id"], span_ids=list(r["span_ids"]),
        agents=list(r["agents"]), wasted_tokens=int(r["wasted_tokens"]), wasted_cost_usd=float(r["wasted_cost_usd"]),
        explanation=r["explanation"], details=r["details"], detected_at=at if at.tzinfo else at.replace(tzinfo=UTC),
    )  # fmt: skip


def trace_findings(store: Store, project_id: str, trace_id: str) -> list[FindingRow]:
    """Every finding on one trace, most severe kinds first by wasted cost."""
    rows = store.rows(
        f"SELECT {_COLUMNS} FROM {{db}}.findings FINAL"
        " WHERE project_id = {p:String} AND trace_id = {t:String}"
        " ORDER BY wasted_cost_usd DESC, detected_at, id LIMIT 500",
        {"p": project_id, "t": trace_id},
    )
    return [_row(r) for r in rows]


def finding_counts(store: Store, project_id: str, trace_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per trace, the number of findings of each kind (only traces that have any)."""
    if not trace_ids:
        return {}
    rows = store.rows(
        "SELECT trace_id, kind, count() AS n FROM {db}.findings FINAL"
        " WHERE project_id = {p:String} AND trace_id IN {ids:Array(String)} GROUP BY trace_id, kind",
        {"p": project_id, "ids": list(trace_ids)},
    )
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["trace_id"], {})[r["kind"]] = int(r["n"])
    return out


def traces_with_findings(
    store: Store, project_id: str, since: datetime | None, *, kind: str | None = None, limit: int = 100_000
) -> list[str]:
    """Trace ids with at least one finding detected in the window (newest first, at most `limit`)."""
    where = ["project_id = {p:String}"]
    params: dict[str, Any] = {"p": project_id, "limit": limit}
    if since is not None:
        # A finding is detected after its trace started: the trace window's lower bound is a safe lower bound.
        where.append("detected_at >= {since:DateTime64(3, 'UTC')}")
        params["since"] = since
    if kind:
        where.append("kind = {kind:String}")
        params["kind"] = kind
    rows = store.rows(
        "SELECT trace_id, max(detected_at) AS last FROM {db}.findings FINAL WHERE " + " AND ".join(where)
        + " GROUP BY trace_id ORDER BY last DESC LIMIT {limit:UInt32}",
        params,
    )  # fmt: skip
    return [r["trace_id"] for r in rows]


def findings_by_agent(store: Store, project_id: str, since: datetime, until: datetime) -> dict[str, dict[str, Any]]:
    """Per agent named in findings detected in the window: count and wasted cost."""
    rows = store.rows(
        "SELECT agent, count() AS n, sum(wasted_cost_usd) AS wasted FROM {db}.findings FINAL"
        " ARRAY JOIN agents AS agent"
        " WHERE project_id = {p:String} AND detected_at >= {since:DateTime64(3, 'UTC')}"
        " AND detected_at < {until:DateTime64(3, 'UTC')}"
        " GROUP BY agent",
        {"p": project_id, "since": since, "until": until},
    )
    return {r["agent"]: {"findings": int(r["n"]), "wasted_cost_usd": float(r["wasted"])} for r in rows}


def recent_findings(
    store: Store, project_id: str, since: datetime, until: datetime, *, agent: str | None = None, limit: int = 20
) -> list[FindingRow]:
    """The most recent findings in the window, optionally only those naming `agent`."""
    params: dict[str, Any] = {"p": project_id, "since": since, "until": until, "limit": limit}
    where = (
        "project_id = {p:String} AND detected_at >= {since:DateTime64(3, 'UTC')}"
        " AND detected_at < {until:DateTime64(3, 'UTC')}"
    )
    if agent:
        where += " AND has(agents, {agent:String})"
        params["agent"] = agent
    rows = store.rows(
        f"SELECT {_COLUMNS} FROM {{db}}.findings FINAL WHERE {where}"
        " ORDER BY detected_at DESC, id LIMIT {limit:UInt32}",
        params,
    )
    return [_row(r) for r in rows]
