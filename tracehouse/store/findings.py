"""SQL for the detectors: their traces' steps in bulk, the `findings` table and its one record (`Finding`), and retry
rates over a window. Which traces finished recently is `traces.traces_ended` (the online evaluator reads it too)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tracehouse.domain.model import Status, Step, StepType
from tracehouse.domain.rates import RETRY_RATE, ratio
from tracehouse.store.client import Store, as_utc, iso_z
from tracehouse.store.scope import Scope, project_filter

FINDING_COLUMNS: tuple[str, ...] = (
    "project_id",
    "id",
    "kind",
    "severity",
    "trace_id",
    "span_ids",
    "agents",
    "wasted_tokens",
    "wasted_cost_usd",
    "explanation",
    "details",
    "detected_at",
)


@dataclass(slots=True)
class Finding:
    """One detected waste pattern, the one shape of a finding everywhere: what the detectors produce, the `findings`
    table stores (these are its columns) and every endpoint returns (`to_json`, `details` a JSON object).

    `id` is a hash of (kind, trace, the pattern's anchor), so detecting the same thing again replaces the row
    (the table is a ReplacingMergeTree keyed by project, kind and id) instead of adding a second one.
    """

    id: str
    kind: str  # loop | duplicate_work | retry_storm
    severity: str  # info | warning | critical
    trace_id: str
    span_ids: list[str]
    agents: list[str]
    wasted_tokens: int
    wasted_cost_usd: float
    explanation: str
    details: dict[str, Any] = field(default_factory=dict)
    detected_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": str(self.kind),
            "severity": str(self.severity),
            "trace_id": self.trace_id,
            "span_ids": list(self.span_ids),
            "agents": list(self.agents),
            "wasted_tokens": int(self.wasted_tokens),
            "wasted_cost_usd": float(self.wasted_cost_usd),
            "explanation": self.explanation,
            "details": self.details,
            "detected_at": iso_z(self.detected_at),
        }


def write_findings(store: Store, project_id: str, findings: Sequence[Finding]) -> None:
    """One insert; a finding with an id already stored replaces it (ReplacingMergeTree(detected_at) keyed by
    project, kind, id)."""
    if not findings:
        return
    rows = [
        [
            project_id,
            f.id,
            str(f.kind),
            str(f.severity),
            f.trace_id,
            list(f.span_ids),
            list(f.agents),
            max(int(f.wasted_tokens), 0),
            float(f.wasted_cost_usd),
            f.explanation,
            json.dumps(f.details, sort_keys=True, default=str),
            as_utc(f.detected_at),
        ]
        for f in findings
    ]
    columns = [list(c) for c in zip(*rows, strict=True)]
    store.insert("findings", columns, FINDING_COLUMNS)


def list_findings(
    store: Store,
    project_id: str,
    *,
    kind: str | None = None,
    trace_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[Finding]:
    """Newest first, one row per finding id (the latest detection).

    The table's ORDER BY (project_id, kind, id) serves a kind filter; a trace filter uses the trace-id bloom index.
    `LIMIT 1 BY id` keeps the latest detection even before a merge (and across monthly partitions).
    """
    where = ["project_id = {p:String}"]
    params: dict[str, Any] = {"p": project_id, "limit": limit}
    if kind:
        where.append("kind = {kind:String}")
        params["kind"] = kind
    if trace_id:
        where.append("trace_id = {t:String}")
        params["t"] = trace_id
    if since is not None:
        where.append("detected_at >= {since:DateTime64(3, 'UTC')}")
        params["since"] = as_utc(since)
    if until is not None:
        where.append("detected_at < {until:DateTime64(3, 'UTC')}")
        params["until"] = as_utc(until)
    rows = store.rows(
        f"""
        SELECT {_COLUMNS}
        FROM {{db}}.findings
        WHERE {" AND ".join(where)}
        ORDER BY detected_at DESC, id
        LIMIT 1 BY id
        LIMIT {{limit:UInt32}}
        """,
        params,
    )
    return [_row(r) for r in rows]


# The detectors need no events, links, previews of input or resource attributes: leave them out of the read.
_DETECT_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "status",
    "agent",
    "operation",
    "step_type",
    "provider",
    "request_model",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "tool_name",
    "handoff_source",
    "handoff_target",
    "retry_attempt",
    "content_hash",
    "output_preview",
    "error_type",
    "attributes",
)


def steps_for_traces(
    store: Store, project_id: str, trace_ids: Sequence[str], lo: datetime, hi: datetime
) -> dict[str, list[Step]]:
    """The steps of many traces of one project in one query (FINAL: a re-delivered span counts once).

    [lo, hi] bounds the steps' start times, so the (project_id, toStartOfHour(start_time), ...) ORDER BY prunes
    to the hours that hold these traces; the trace-id bloom index narrows further.
    """
    if not trace_ids:
        return {}
    rows = store.query(
        f"""
        SELECT project_id, toUnixTimestamp64Nano(start_time) AS start_ns, toUnixTimestamp64Nano(end_time) AS end_ns,
               {", ".join(_DETECT_COLUMNS)}
        FROM {{db}}.steps FINAL
        WHERE project_id = {{p:String}} AND trace_id IN {{ids:Array(String)}}
          AND start_time >= {{lo:DateTime64(9, 'UTC')}} AND start_time <= {{hi:DateTime64(9, 'UTC')}}
        ORDER BY trace_id, start_time, span_id
        """,
        {"p": project_id, "ids": list(trace_ids), "lo": as_utc(lo), "hi": as_utc(hi)},
    ).result_rows
    out: dict[str, list[Step]] = {}
    for r in rows:
        (
            project,
            start_ns,
            end_ns,
            trace_id,
            span_id,
            parent,
            name,
            status,
            agent,
            operation,
            step_type,
            provider,
            model,
            in_tok,
            out_tok,
            cost,
            tool,
            h_src,
            h_tgt,
            attempt,
            chash,
            out_prev,
            err,
            attrs,
        ) = r
        out.setdefault(trace_id, []).append(
            Step(
                project_id=project,
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent,
                start_time_ns=int(start_ns),
                end_time_ns=int(end_ns),
                name=name,
                status=Status(status) if status in Status._value2member_map_ else Status.UNSET,
                agent=agent,
                operation=operation,
                step_type=StepType(step_type) if step_type in StepType._value2member_map_ else StepType.OTHER,
                provider=provider,
                request_model=model,
                input_tokens=in_tok,
                output_tokens=out_tok,
                cost_usd=cost,
                tool_name=tool,
                handoff_source=h_src,
                handoff_target=h_tgt,
                retry_attempt=int(attempt),
                content_hash=chash,
                output_preview=out_prev,
                error_type=err,
                attributes=dict(attrs),
            )
        )
    return out


@dataclass(frozen=True)
class RetryRate:
    project_id: str
    key: str
    calls: int
    retries: int

    @property
    def rate(self) -> float:
        return ratio(self.retries, self.calls)


_RETRY_GROUP = {"agent": "agent", "provider": "provider", "project": "''"}


def retry_rates(store: Store, since: datetime, until: datetime, group_by: str, *, scope: Scope) -> list[RetryRate]:
    """Per project and group: calls and retries as `tracehouse.domain.rates.RETRY_RATE` counts them, read `FINAL` as
    the alert engine's `retry_rate` is. The leading (project_id, hour) of the steps' ORDER BY prunes to the window."""
    col = _RETRY_GROUP[group_by]
    where = [
        "start_time >= {since:DateTime64(9, 'UTC')}",
        "start_time < {until:DateTime64(9, 'UTC')}",
        RETRY_RATE.over_sql,
    ]
    params: dict[str, Any] = {"since": as_utc(since), "until": as_utc(until)}
    where.append(project_filter(scope, params))
    rows = store.rows(
        f"""
        SELECT project_id, {col} AS key, count() AS calls, countIf({RETRY_RATE.counted_sql}) AS retries
        FROM {{db}}.steps FINAL
        WHERE {" AND ".join(where)}
        GROUP BY project_id, key
        """,
        params,
    )
    return [RetryRate(r["project_id"], r["key"], int(r["calls"]), int(r["retries"])) for r in rows]


# -- reads for the dashboard and the evals ---------------------------------------------------------------------
_COLUMNS = ", ".join(FINDING_COLUMNS[1:])  # a finding's fields


def _details(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _row(r: dict[str, Any]) -> Finding:
    return Finding(
        id=r["id"],
        kind=r["kind"],
        severity=r["severity"],
        trace_id=r["trace_id"],
        span_ids=list(r["span_ids"]),
        agents=list(r["agents"]),
        wasted_tokens=int(r["wasted_tokens"]),
        wasted_cost_usd=float(r["wasted_cost_usd"]),
        explanation=r["explanation"],
        details=_details(r["details"]),
        detected_at=as_utc(r["detected_at"]),
    )


def trace_findings(store: Store, project_id: str, trace_id: str) -> list[Finding]:
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
        "SELECT trace_id, max(detected_at) AS last FROM {db}.findings FINAL WHERE "
        + " AND ".join(where)
        + " GROUP BY trace_id ORDER BY last DESC LIMIT {limit:UInt32}",
        params,
    )
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
) -> list[Finding]:
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


def findings_as_dicts(store: Store, project_id: str, trace_id: str) -> list[dict[str, Any]]:
    """One trace's findings as `GET /api/findings` gives them (what the evals' behavioural scorers read)."""
    return [f.to_json() for f in trace_findings(store, project_id, trace_id)]
