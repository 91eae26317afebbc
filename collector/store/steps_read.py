"""Step reads the dashboard needs beyond one whole trace: one step by id, an agent's slowest / costliest / failed
steps in a window, and the facets (agents, models, services) offered by the trace filters.

`steps` is ORDER BY (project_id, toStartOfHour(start_time), trace_id, span_id) with a bloom filter on trace_id:
window reads prune to their hours; a single step is found through the trace id's bloom filter. `traces` (the
summary) is ORDER BY (project_id, day, trace_id), so facets read only the window's days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from tracehouse.collector.model import Step
from tracehouse.collector.store.client import Store
from tracehouse.collector.store.steps import _READ_COLUMNS, _row_to_step

TopBy = Literal["slowest", "costliest", "failed"]
_TOP_ORDER = {
    "slowest": "duration_ns DESC",
    "costliest": "ifNull(cost_usd, 0) DESC, duration_ns DESC",
    "failed": "start_time DESC",
}


@dataclass
class StepRow:
    """A step as a list row (no attributes, no content)."""

    trace_id: str
    span_id: str
    name: str
    agent: str
    operation: str
    step_type: str
    request_model: str
    tool_name: str
    status: str
    error_type: str
    start_time: datetime
    duration_ms: float
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None


@dataclass
class Facets:
    agents: list[str]
    models: list[str]
    services: list[str]


def get_step(store: Store, project_id: str, trace_id: str, span_id: str) -> Step | None:
    """One step of a trace, or None."""
    rows = store.rows(
        f"SELECT {_READ_COLUMNS} FROM {{db}}.steps FINAL"
        " WHERE project_id = {p:String} AND trace_id = {t:String} AND span_id = {s:String} LIMIT 1",
        {"p": project_id, "t": trace_id, "s": span_id},
    )
    return _row_to_step(rows[0]) if rows else None


def top_steps(
    store: Store, project_id: str, since: datetime, until: datetime, *, agent: str, by: TopBy, limit: int = 20
) -> list[StepRow]:
    """An agent's slowest, costliest or most recent failed steps in [since, until)."""
    where = (
        "project_id = {p:String} AND start_time >= {since:DateTime64(9, 'UTC')}"
        " AND start_time < {until:DateTime64(9, 'UTC')} AND agent = {agent:String}"
    )
    if by == "failed":
        where += " AND status = 'error'"
    elif by == "costliest":
        where += " AND cost_usd IS NOT NULL"
    rows: list[dict[str, Any]] = store.rows(
        f"""
        SELECT trace_id, span_id, name, agent, operation, step_type, request_model, tool_name, status, error_type,
               start_time, duration_ns, input_tokens, output_tokens, cost_usd
        FROM {{db}}.steps FINAL
        WHERE {where}
        ORDER BY {_TOP_ORDER[by]}
        LIMIT {{limit:UInt32}}
        """,
        {"p": project_id, "since": since, "until": until, "agent": agent, "limit": limit},
    )
    return [
        StepRow(
            trace_id=r["trace_id"],
            span_id=r["span_id"],
            name=r["name"],
            agent=r["agent"],
            operation=r["operation"],
            step_type=r["step_type"],
            request_model=r["request_model"],
            tool_name=r["tool_name"],
            status=r["status"],
            error_type=r["error_type"],
            start_time=r["start_time"] if r["start_time"].tzinfo else r["start_time"].replace(tzinfo=UTC),
            duration_ms=int(r["duration_ns"]) / 1e6,
            input_tokens=r["input_tokens"],
            output_tokens=r["output_tokens"],
            cost_usd=r["cost_usd"],
        )
        for r in rows
    ]


def trace_facets(store: Store, project_id: str, since: datetime | None, until: datetime | None) -> Facets:
    """The agents, models and services seen in traces of the window (for filter suggestions; at most 500 each)."""
    where = ["project_id = {p:String}"]
    params: dict[str, Any] = {"p": project_id}
    if since is not None:
        where.append("day >= toDate({since:DateTime64(9, 'UTC')})")
        params["since"] = since
    if until is not None:
        where.append("day <= toDate({until:DateTime64(9, 'UTC')})")
        params["until"] = until
    rows = store.rows(
        "SELECT arraySlice(arraySort(groupUniqArrayArray(agents)), 1, 500) AS a,"
        " arraySlice(arraySort(groupUniqArrayArray(models)), 1, 500) AS m,"
        " arraySlice(arraySort(groupUniqArrayArray(services)), 1, 500) AS s"
        " FROM {db}.traces WHERE " + " AND ".join(where),
        params,
    )
    r = rows[0] if rows else {"a": [], "m": [], "s": []}
    return Facets(agents=list(r["a"]), models=list(r["m"]), services=[x for x in r["s"] if x])


def project_has_data(store: Store, project_id: str) -> bool:
    """Whether this project has any trace at all (to tell an empty project from an empty filter)."""
    rows = store.rows("SELECT 1 AS x FROM {db}.traces WHERE project_id = {p:String} LIMIT 1", {"p": project_id})
    return bool(rows)
