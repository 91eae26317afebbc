"""Writing and reading `steps` rows: the column layout of a Step, the batched Native insert, and one trace's steps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from tracehouse.domain.model import Event, Link, Status, Step, StepType, ToolCall
from tracehouse.store.client import Store, as_utc

# Column order of an insert; names are Step's fields (the table adds duration_ns and version).
STEP_COLUMNS: tuple[str, ...] = (
    "project_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "start_time",
    "end_time",
    "duration_ns",
    "name",
    "span_kind",
    "status",
    "status_message",
    "service",
    "scope",
    "agent",
    "agent_id",
    "workflow",
    "operation",
    "step_type",
    "provider",
    "request_model",
    "response_model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "finish_reasons",
    "tool_name",
    "tool_call_id",
    "handoff_source",
    "handoff_target",
    "conversation_id",
    "retry_attempt",
    "content_hash",
    "input_preview",
    "output_preview",
    "error_type",
    "attributes",
    "resource_attributes",
    "events",
    "links",
    "tool_calls",
    "own",
    "dropped_attributes",
    "version",
)


def step_columns(steps: Sequence[Step], version: int) -> list[list[Any]]:
    """Steps as insert columns, in STEP_COLUMNS order (column-oriented: one list per column)."""
    n = len(steps)
    return [
        [s.project_id for s in steps],
        [s.trace_id for s in steps],
        [s.span_id for s in steps],
        [s.parent_span_id for s in steps],
        [s.start_time_ns for s in steps],
        [s.end_time_ns for s in steps],
        [max(s.end_time_ns - s.start_time_ns, 0) for s in steps],
        [s.name for s in steps],
        [s.span_kind for s in steps],
        [str(s.status) for s in steps],
        [s.status_message for s in steps],
        [s.service for s in steps],
        [s.scope for s in steps],
        [s.agent for s in steps],
        [s.agent_id for s in steps],
        [s.workflow for s in steps],
        [s.operation for s in steps],
        [str(s.step_type) for s in steps],
        [s.provider for s in steps],
        [s.request_model for s in steps],
        [s.response_model for s in steps],
        [s.input_tokens for s in steps],
        [s.output_tokens for s in steps],
        [s.cache_read_tokens for s in steps],
        [s.cache_write_tokens for s in steps],
        [s.reasoning_tokens for s in steps],
        [s.cost_usd for s in steps],
        [s.finish_reasons for s in steps],
        [s.tool_name for s in steps],
        [s.tool_call_id for s in steps],
        [s.handoff_source for s in steps],
        [s.handoff_target for s in steps],
        [s.conversation_id for s in steps],
        [s.retry_attempt for s in steps],
        [s.content_hash for s in steps],
        [s.input_preview for s in steps],
        [s.output_preview for s in steps],
        [s.error_type for s in steps],
        [s.attributes for s in steps],
        [s.resource_attributes for s in steps],
        [[(e.time_ns, e.name, e.attributes) for e in s.events] for s in steps],
        [[(link.trace_id, link.span_id) for link in s.links] for s in steps],
        [[(c.id, c.name) for c in s.tool_calls] for s in steps],
        [s.own for s in steps],
        [s.dropped_attributes for s in steps],
        [version] * n,
    ]


def insert_steps(store: Store, steps: Sequence[Step], *, version: int, dedup_token: str) -> None:
    """One Native insert of a batch; the same (version, token) re-sent after a crash is dropped by ClickHouse."""
    if steps:
        store.insert("steps", step_columns(steps, version), STEP_COLUMNS, dedup_token=dedup_token)


# Reads decode DateTime64 to integer nanoseconds in SQL, so no timezone guessing happens in Python.
_READ_COLUMNS = ", ".join(
    {
        "start_time": "toUnixTimestamp64Nano(start_time) AS start_time_ns",
        "end_time": "toUnixTimestamp64Nano(end_time) AS end_time_ns",
        "events": "arrayMap(e -> (toUnixTimestamp64Nano(e.1), e.2, e.3), events) AS events",
    }.get(c, c)
    for c in STEP_COLUMNS
    if c not in ("duration_ns", "version")
)


def _row_to_step(row: dict[str, Any]) -> Step:
    row["status"] = Status(row["status"]) if row["status"] in Status._value2member_map_ else Status.UNSET
    step_type = row["step_type"]
    row["step_type"] = StepType(step_type) if step_type in StepType._value2member_map_ else StepType.OTHER
    row["events"] = [Event(time_ns=t, name=n, attributes=dict(a)) for t, n, a in row["events"]]
    row["links"] = [Link(trace_id=t, span_id=s) for t, s in row["links"]]
    row["tool_calls"] = [ToolCall(**c) if isinstance(c, dict) else ToolCall(*c) for c in row["tool_calls"]]
    row["own"] = dict(row["own"])
    row["finish_reasons"] = list(row["finish_reasons"])
    row["attributes"] = dict(row["attributes"])
    row["resource_attributes"] = dict(row["resource_attributes"])
    return Step(**row)


def get_trace_steps(
    store: Store, project_id: str, trace_id: str, *, around: tuple[datetime, datetime] | None = None
) -> list[Step]:
    """All steps of one trace, deduplicated (FINAL), in start order.

    `around` (the trace's start and end, from the summary) narrows the scan to the hours that hold the trace.
    """
    where = "project_id = {p:String} AND trace_id = {t:String}"
    params: dict[str, Any] = {"p": project_id, "t": trace_id}
    if around is not None:
        where += " AND start_time >= {lo:DateTime64(9, 'UTC')} AND start_time <= {hi:DateTime64(9, 'UTC')}"
        # The summary's times are datetimes (microseconds): widen by one so a sub-microsecond span stays inside.
        params["lo"], params["hi"] = around[0] - timedelta(microseconds=1), around[1] + timedelta(microseconds=1)
    rows = store.rows(
        f"SELECT {_READ_COLUMNS} FROM {{db}}.steps FINAL WHERE {where} ORDER BY start_time, span_id",
        params,
    )
    return [_row_to_step(r) for r in rows]


# -- reads for the dashboard: one step, an agent's top steps, filter facets -------------------------------------------

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
            start_time=as_utc(r["start_time"]),
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


def trace_steps_since(store: Store, project_id: str, trace_ids: Sequence[str], since: datetime) -> list[Step]:
    """Every column of the steps (FINAL) of several traces of one project, started at `since` or later."""
    if not trace_ids:
        return []
    rows = store.rows(
        f"SELECT {_READ_COLUMNS} FROM {{db}}.steps FINAL WHERE project_id = {{p:String}}"
        " AND trace_id IN {ids:Array(String)} AND start_time >= {since:DateTime64(9, 'UTC')}",
        {"p": project_id, "ids": list(trace_ids), "since": since},
    )
    return [_row_to_step(r) for r in rows]


# -- reads for a big trace: its shape first, then full rows for one page --------------------------------------------

# Attribute keys the trace analysis reads (hand-off reason/payload, router decision); the rest wait for the step panel.
ANALYSIS_ATTRIBUTE_KEYS: tuple[str, ...] = (
    "tracehouse.handoff.reason",
    "tracehouse.handoff.payload",
    "tracehouse.router.decision",
    "tracehouse.router.reason",
)
# What the trace analysis and the step tree read of every step (the step panel reads the rest, for one step).
_LIGHT_FIELDS: tuple[str, ...] = (
    "span_id",
    "parent_span_id",
    "start_time_ns",
    "end_time_ns",
    "name",
    "status",
    "error_type",
    "agent",
    "workflow",
    "operation",
    "step_type",
    "provider",
    "request_model",
    "response_model",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "tool_name",
    "tool_call_id",  # links a model's tool call to the step that ran it
    "handoff_source",
    "handoff_target",
    "retry_attempt",
    "attributes",
)
_LIGHT_COLUMNS = ", ".join(
    {
        "start_time_ns": "toUnixTimestamp64Nano(start_time)",
        "end_time_ns": "toUnixTimestamp64Nano(end_time)",
        "attributes": "mapFilter((k, v) -> has({keys:Array(String)}, k), attributes)",
    }.get(c, c)
    for c in _LIGHT_FIELDS
)


def _trace_where(
    project_id: str, trace_id: str, around: tuple[datetime, datetime] | None
) -> tuple[str, dict[str, Any]]:
    where = "project_id = {p:String} AND trace_id = {t:String}"
    params: dict[str, Any] = {"p": project_id, "t": trace_id}
    if around is not None:
        where += " AND start_time >= {lo:DateTime64(9, 'UTC')} AND start_time <= {hi:DateTime64(9, 'UTC')}"
        # The summary's times are datetimes (microseconds): widen by one so a sub-microsecond span stays inside.
        params["lo"], params["hi"] = around[0] - timedelta(microseconds=1), around[1] + timedelta(microseconds=1)
    return where, params


def get_trace_outline(
    store: Store, project_id: str, trace_id: str, *, around: tuple[datetime, datetime] | None = None
) -> list[Step]:
    """Every step of one trace with only what its tree needs (ids, parent, start, end, name); other fields keep
    their defaults. A 100k-step trace reads in a fraction of the time every column takes, so the tree order can be
    worked out before any page of full rows is read."""
    where, params = _trace_where(project_id, trace_id, around)
    result = store.query(
        "SELECT span_id, parent_span_id, toUnixTimestamp64Nano(start_time), toUnixTimestamp64Nano(end_time), name"
        f" FROM {{db}}.steps FINAL WHERE {where}",
        params,
    )
    # Step's first fields are (project_id, trace_id, span_id, parent_span_id, start_time_ns, end_time_ns, name).
    return [Step(project_id, trace_id, *row) for row in result.result_rows]


def get_trace_steps_light(
    store: Store, project_id: str, trace_id: str, *, around: tuple[datetime, datetime] | None = None
) -> list[Step]:
    """Every step of one trace with only the fields the trace analysis and the step tree use (`_LIGHT_FIELDS`; of
    `attributes`, only `ANALYSIS_ATTRIBUTE_KEYS`): no content, events, links or resource attributes. At 100k steps
    this is ~20x faster than reading every column, most of which only the step panel shows."""
    where, params = _trace_where(project_id, trace_id, around)
    params["keys"] = list(ANALYSIS_ATTRIBUTE_KEYS)
    result = store.query(f"SELECT {_LIGHT_COLUMNS} FROM {{db}}.steps FINAL WHERE {where}", params)
    statuses, types = Status._value2member_map_, StepType._value2member_map_
    out = []
    for row in result.result_rows:
        f = dict(zip(_LIGHT_FIELDS, row, strict=True))
        f["status"] = statuses.get(f["status"], Status.UNSET)
        f["step_type"] = types.get(f["step_type"], StepType.OTHER)
        f["attributes"] = dict(f["attributes"])
        out.append(Step(project_id=project_id, trace_id=trace_id, **f))
    return out


def get_steps_by_id(
    store: Store,
    project_id: str,
    trace_id: str,
    span_ids: Sequence[str],
    *,
    around: tuple[datetime, datetime] | None = None,
) -> dict[str, Step]:
    """Full rows (every column, FINAL) of some steps of one trace, by span id: one page of a big trace."""
    if not span_ids:
        return {}
    where, params = _trace_where(project_id, trace_id, around)
    params["ids"] = list(span_ids)
    rows = store.rows(
        f"SELECT {_READ_COLUMNS} FROM {{db}}.steps FINAL WHERE {where} AND span_id IN {{ids:Array(String)}}", params
    )
    return {r["span_id"]: _row_to_step(r) for r in rows}
