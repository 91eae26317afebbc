"""The trace list and one trace's summary, read from the `traces` summary table (kept by a materialized view).

The summary is an AggregatingMergeTree keyed by (project, day, trace): a query merges the partial states of each
trace within the days it asks for, so a time window reads only its days' parts.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from tracehouse.errors import BadInput
from tracehouse.store.client import Store, as_utc
from tracehouse.store.scope import Scope, project_filter

SortKey = Literal["start_time", "duration", "cost", "spans", "errors"]
SORT_KEYS: tuple[str, ...] = ("start_time", "duration", "cost", "spans", "errors")
MAX_PAGE = 500


class BadFilter(BadInput, ValueError):
    """A filter or cursor that cannot be used (named in the message)."""


@dataclass(frozen=True)
class TraceFilter:
    """What the trace list may be narrowed by; every field is optional."""

    since: datetime | None = None
    until: datetime | None = None
    agent: str | None = None
    model: str | None = None
    status: Literal["ok", "error"] | None = None
    service: str | None = None
    q: str | None = None  # free text: root name, workflow, agents, service, trace id
    trace_ids: tuple[str, ...] | None = None  # restrict to these (used by joins from findings / scores)
    sort: SortKey = "start_time"
    descending: bool = True
    limit: int = 50
    cursor: str | None = None


@dataclass
class TraceSummary:
    trace_id: str
    start_time: datetime
    end_time: datetime
    duration_ms: float
    root_name: str
    service: str
    workflow: str
    services: list[str]
    agents: list[str]
    models: list[str]
    spans: int
    errors: int
    llm_calls: int
    retries: int
    unpriced: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None  # None when nothing in the trace was priced
    extra: dict[str, Any] = field(default_factory=dict)  # what other parts attach (scores, findings)


@dataclass
class TracePage:
    traces: list[TraceSummary]
    next_cursor: str | None


_SORT_EXPR = {
    "start_time": "start_ns",
    "duration": "duration_ns",
    "cost": "cost_usd",
    "spans": "spans",
    "errors": "errors",
}

# The summary keeps one fact tuple per (span, version) (schema v2): the newest version of each span is the one
# `steps FINAL` shows, so counts and usage read from `latest` agree with it after re-deliveries and corrections.
# Fact fields: 1 span, 2 version, 3 agent, 4 model call, 5 failed, 6 unpriced, 7 in, 8 out, 9 cost, 10 cost known.
_LATEST = {
    "sorted_facts": "arrayReverseSort(f -> (f.1, f.2), groupUniqArrayMerge(facts))",
    "latest": (
        "arrayFilter((f, i) -> i = 1 OR f.1 != sorted_facts[i - 1].1, sorted_facts, arrayEnumerate(sorted_facts))"
    ),
}
_SUMMARY_SELECT = f"""
SELECT
    trace_id,
    min(start_time) AS start_at,
    max(end_time) AS end_at,
    toInt64(toUnixTimestamp64Nano(min(start_time))) AS start_ns,
    toInt64(toUnixTimestamp64Nano(max(end_time)) - toUnixTimestamp64Nano(min(start_time))) AS duration_ns,
    argMinMerge(root) AS root_info,
    groupUniqArrayArray(services) AS services,
    groupUniqArrayArray(models) AS models,
    uniqExactMerge(spans) AS spans,
    uniqExactIfMerge(retries) AS retries,
    {_LATEST["sorted_facts"]} AS sorted_facts,
    {_LATEST["latest"]} AS latest,
    arrayDistinct(arrayFilter(a -> a != '', arrayMap(f -> f.3, latest))) AS agents,
    arrayCount(f -> f.5 = 1, latest) AS errors,
    arrayCount(f -> f.4 = 1, latest) AS llm_calls,
    arrayCount(f -> f.6 = 1, latest) AS unpriced,
    arraySum(f -> f.7, latest) AS input_tokens,
    arraySum(f -> f.8, latest) AS output_tokens,
    arraySum(f -> f.9, latest) AS cost_usd,
    arrayExists(f -> f.10 = 1, latest) AS priced
FROM {{db}}.traces
"""


def _encode_cursor(value: float | int, trace_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, trace_id]).encode()).decode().rstrip("=")


_INT64 = (-(2**63), 2**63 - 1)


def _decode_cursor(cursor: str, sort_expr: str) -> tuple[float | int, str]:
    """The (sort value, trace id) of a cursor `_encode_cursor` made for this sort: the cost sort's value is a finite
    float, every other sort's an Int64, so a forged value is a 400 here and never a parse error in the store."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, trace_id = json.loads(raw)
    except (ValueError, binascii.Error, TypeError):
        raise BadFilter("cursor: not a cursor this server issued") from None
    if not isinstance(trace_id, str) or isinstance(value, bool):
        raise BadFilter("cursor: not a cursor this server issued")
    if sort_expr == "cost_usd":
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise BadFilter("cursor: not a cursor this server issued for this sort (a finite number is expected)")
        return float(value), trace_id
    if not isinstance(value, int) or not _INT64[0] <= value <= _INT64[1]:
        raise BadFilter("cursor: not a cursor this server issued for this sort (a 64-bit integer is expected)")
    return value, trace_id


def _summary(row: dict[str, Any]) -> TraceSummary:
    root_name, service, workflow = row["root_info"] if row["root_info"] else ("", "", "")
    return TraceSummary(
        trace_id=row["trace_id"],
        start_time=as_utc(row["start_at"]),
        end_time=as_utc(row["end_at"]),
        duration_ms=row["duration_ns"] / 1e6,
        root_name=root_name,
        service=service,
        workflow=workflow,
        services=sorted(s for s in row["services"] if s),
        agents=sorted(row["agents"]),
        models=sorted(row["models"]),
        spans=int(row["spans"]),
        errors=int(row["errors"]),
        llm_calls=int(row["llm_calls"]),
        retries=int(row["retries"]),
        unpriced=int(row["unpriced"]),
        input_tokens=int(row["input_tokens"]),
        output_tokens=int(row["output_tokens"]),
        cost_usd=float(row["cost_usd"]) if row["priced"] else None,
    )


# Phase one of the list computes only what the filters and the sort need; the full summaries (the costly merges of
# every aggregate state) are then computed for the one page of ids alone.
_PHASE_ONE_EXPR: dict[str, str] = {
    "start_at": "min(start_time)",
    "start_ns": "toInt64(toUnixTimestamp64Nano(min(start_time)))",
    "duration_ns": "toInt64(toUnixTimestamp64Nano(max(end_time)) - toUnixTimestamp64Nano(min(start_time)))",
    "agents": "groupUniqArrayArray(agents)",
    "models": "groupUniqArrayArray(models)",
    "services": "groupUniqArrayArray(services)",
    "errors": "arrayCount(f -> f.5 = 1, latest)",
    "spans": "uniqExactMerge(spans)",
    "root_info": "argMinMerge(root)",
    "cost_usd": "arraySum(f -> f.9, latest)",
    **_LATEST,
}
_NEEDS_FACTS = ("errors", "cost_usd")


def _cost_ranking(flt: TraceFilter) -> str:
    """Phase one for "most expensive first" with no other filter: summing `steps` FINAL (one row per span) is exact
    and cheaper than merging every trace's usage set; the (project, hour) key prunes the window."""
    where = ["project_id = {p:String}"]
    if flt.since is not None:
        where.append("start_time >= {since:DateTime64(9, 'UTC')}")
    if flt.until is not None:
        where.append("start_time < {until:DateTime64(9, 'UTC')}")
    return (
        "SELECT trace_id, sum(ifNull(cost_usd, 0)) AS cost_usd, min(start_time) AS start_at,"
        " toInt64(toUnixTimestamp64Nano(min(start_time))) AS start_ns"
        " FROM {db}.steps FINAL WHERE " + " AND ".join(where)
    )


def list_traces(store: Store, project_id: str, flt: TraceFilter) -> TracePage:
    """One page of traces matching `flt`, newest first by default; `next_cursor` fetches the next page."""
    if flt.sort not in _SORT_EXPR:
        raise BadFilter(f"sort: must be one of {', '.join(SORT_KEYS)}")
    if not 1 <= flt.limit <= MAX_PAGE:
        raise BadFilter(f"limit: must be between 1 and {MAX_PAGE}")
    params: dict[str, Any] = {"p": project_id, "limit": flt.limit + 1}
    where = ["project_id = {p:String}"]
    having: list[str] = []
    needed = {_SORT_EXPR[flt.sort], "start_ns"}
    if flt.since is not None:
        params["since"] = as_utc(flt.since)
        where.append("day >= toDate({since:DateTime64(9, 'UTC')})")
        having.append("start_at >= {since:DateTime64(9, 'UTC')}")
        needed.add("start_at")
    if flt.until is not None:
        params["until"] = as_utc(flt.until)
        where.append("day <= toDate({until:DateTime64(9, 'UTC')})")
        having.append("start_at < {until:DateTime64(9, 'UTC')}")
        needed.add("start_at")
    if flt.trace_ids is not None:
        params["ids"] = list(flt.trace_ids)
        where.append("trace_id IN {ids:Array(String)}")
    for name, wanted in (("agent", flt.agent), ("model", flt.model), ("service", flt.service)):
        if wanted:
            params[name] = wanted
            having.append(f"has({name}s, {{{name}:String}})")
            needed.add(f"{name}s")
    if flt.status == "error":
        having.append("errors > 0")
    elif flt.status == "ok":
        having.append("errors = 0")
    elif flt.status is not None:
        raise BadFilter("status: must be 'ok' or 'error'")
    if flt.status is not None:
        needed.add("errors")
    if flt.q:
        params["q"] = flt.q.lower()
        having.append(
            "(positionCaseInsensitiveUTF8(root_info.1, {q:String}) > 0"
            " OR positionCaseInsensitiveUTF8(root_info.3, {q:String}) > 0"
            " OR arrayExists(a -> positionCaseInsensitiveUTF8(a, {q:String}) > 0, agents)"
            " OR startsWith(trace_id, {q:String}))"
        )
        needed.update(("root_info", "agents"))
    sort_expr = _SORT_EXPR[flt.sort]
    direction = "DESC" if flt.descending else "ASC"
    if flt.cursor:
        cursor_value, last_id = _decode_cursor(flt.cursor, sort_expr)
        params["cv"], params["ct"] = cursor_value, last_id
        cmp = "<" if flt.descending else ">"
        # A cursor is the (sort value, trace id) of the last row shown: rows strictly after it in the sort order.
        cursor_type = "Float64" if flt.sort == "cost" else "Int64"
        cv = f"{{cv:{cursor_type}}}"
        having.append(f"({sort_expr} {cmp} {cv} OR ({sort_expr} = {cv} AND trace_id {cmp} {{ct:String}}))")
    if needed.intersection(_NEEDS_FACTS):
        needed.update(_LATEST)
    if flt.sort == "cost" and needed <= {"cost_usd", "start_ns", "start_at", *_LATEST} and flt.trace_ids is None:
        source = _cost_ranking(flt)
    else:
        select = ", ".join(f"{_PHASE_ONE_EXPR[name]} AS {name}" for name in sorted(needed))
        source = f"SELECT trace_id, {select} FROM {{db}}.traces WHERE " + " AND ".join(where)
    page = store.rows(
        source
        + " GROUP BY trace_id"
        + (" HAVING " + " AND ".join(having) if having else "")
        + f" ORDER BY {sort_expr} {direction}, trace_id {direction} LIMIT {{limit:UInt32}}",
        params,
    )
    more = len(page) > flt.limit
    page = page[: flt.limit]
    if not page:
        return TracePage(traces=[], next_cursor=None)
    ids = [r["trace_id"] for r in page]
    # A trace's summary rows are keyed by the days its spans started, none before the trace's own start: bounding
    # the day lets the primary key (project, day, trace) find the page's granules instead of scanning states.
    first_day = datetime.fromtimestamp(min(r["start_ns"] for r in page) / 1e9, UTC).date()
    full = store.rows(
        _SUMMARY_SELECT
        + " WHERE project_id = {p:String} AND day >= {d:Date} AND trace_id IN {ids:Array(String)} GROUP BY trace_id",
        {"p": project_id, "d": first_day, "ids": ids},
    )
    by_id = {r["trace_id"]: _summary(r) for r in full}
    traces = [by_id[i] for i in ids if i in by_id]
    next_cursor = None
    if more:
        last = page[-1]
        value = float(last["cost_usd"]) if sort_expr == "cost_usd" else last[sort_expr]
        next_cursor = _encode_cursor(value, last["trace_id"])
    return TracePage(traces=traces, next_cursor=next_cursor)


def trace_days(store: Store, project_id: str, trace_id: str) -> list[date]:
    """The days a trace has steps on (usually one), from the `trace_days` point lookup ordered by trace id."""
    rows = store.rows(
        "SELECT DISTINCT day FROM {db}.trace_days WHERE project_id = {p:String} AND trace_id = {t:String}",
        {"p": project_id, "t": trace_id},
    )
    return sorted(r["day"] for r in rows)


def get_trace_summary(store: Store, project_id: str, trace_id: str) -> TraceSummary | None:
    """The summary of one trace, or None when this project has no such trace. Its days come first, so the summary
    is read from those days' granules only instead of every day of retention."""
    days = trace_days(store, project_id, trace_id)
    if not days:
        return None
    rows = store.rows(
        _SUMMARY_SELECT
        + " WHERE project_id = {p:String} AND day IN {days:Array(Date)} AND trace_id = {t:String} GROUP BY trace_id",
        {"p": project_id, "t": trace_id, "days": days},
    )
    return _summary(rows[0]) if rows else None


def linked_trace_ids(store: Store, project_id: str, trace_id: str) -> list[str]:
    """Traces joined to this one by span links, in either direction (`trace_links`, kept by two views of `steps`)."""
    rows = store.rows(
        "SELECT DISTINCT linked_trace_id FROM {db}.trace_links"
        " WHERE project_id = {p:String} AND trace_id = {t:String} ORDER BY linked_trace_id LIMIT 1000",
        {"p": project_id, "t": trace_id},
    )
    return [r["linked_trace_id"] for r in rows]


def linked_counts(store: Store, project_id: str, trace_ids: list[str]) -> dict[str, int]:
    """How many traces each of these is joined to by span links."""
    if not trace_ids:
        return {}
    rows = store.rows(
        "SELECT trace_id, uniqExact(linked_trace_id) AS n FROM {db}.trace_links"
        " WHERE project_id = {p:String} AND trace_id IN {ids:Array(String)} GROUP BY trace_id",
        {"p": project_id, "ids": trace_ids},
    )
    return {r["trace_id"]: int(r["n"]) for r in rows}


@dataclass(frozen=True)
class EndedTrace:
    project_id: str
    trace_id: str
    start_time: datetime
    end_time: datetime
    spans: int
    last_version: int = 0  # the newest row version of the trace (store/versions.py): when it was last written
    written_at: datetime | None = None  # the engine's clock at the trace's last insert (the detectors' cursor)


def traces_ended(
    store: Store, since: datetime, until: datetime, *, scope: Scope, limit: int = 10_000
) -> list[EndedTrace]:
    """Traces whose last span ended in [since, until), oldest end first: what the detectors and the online
    evaluator pick up once a trace is done.

    Reads the `traces` summary (ORDER BY project_id, day, trace_id): the day range bounds the scan to the days
    that can hold such traces; a trace that started more than a day before `since`'s day is not seen.
    """
    where = ["day >= toDate({lo:DateTime64(9, 'UTC')}) - 1", "day <= toDate({hi:DateTime64(9, 'UTC')})"]
    params: dict[str, Any] = {"lo": as_utc(since), "hi": as_utc(until), "limit": limit}
    where.append(project_filter(scope, params))
    rows = store.rows(
        f"""
        SELECT project_id, trace_id, min(start_time) AS start_at, max(end_time) AS end_at,
               uniqExactMerge(spans) AS n, max(last_version) AS v
        FROM {{db}}.traces
        WHERE {" AND ".join(where)}
        GROUP BY project_id, trace_id
        HAVING end_at >= {{lo:DateTime64(9, 'UTC')}} AND end_at < {{hi:DateTime64(9, 'UTC')}}
        ORDER BY end_at, trace_id
        LIMIT {{limit:UInt32}}
        """,
        params,
    )
    return [
        EndedTrace(r["project_id"], r["trace_id"], as_utc(r["start_at"]), as_utc(r["end_at"]), int(r["n"]), int(r["v"]))
        for r in rows
    ]


@dataclass(frozen=True)
class WrittenPosition:
    """A position in the order traces were last written: (insert time, project, trace), exclusive."""

    written_at: datetime
    project_id: str = ""
    trace_id: str = ""


def traces_written_between(
    store: Store, after: WrittenPosition, upto: datetime, *, scope: Scope, limit: int = 5000
) -> list[EndedTrace]:
    """Traces whose last insert is after `after` and at or before `upto`, in that order (key-set paging: pass the
    last one back as `after`). A trace written again later comes back again, at its new place.

    The inner read finds the traces written since `after` by the minmax index on `written_at`; the outer one merges
    each such trace's whole summary. Only traces started within two days of `after` are seen.
    """
    params: dict[str, Any] = {
        "after": as_utc(after.written_at),
        "ap": after.project_id,
        "at": after.trace_id,
        "upto": as_utc(upto),
        "limit": limit,
    }
    scoped = project_filter(scope, params)
    rows = store.rows(
        f"""
        SELECT project_id, trace_id, min(start_time) AS start_at, max(end_time) AS end_at,
               uniqExactMerge(spans) AS n, max(last_version) AS v, max(written_at) AS w
        FROM {{db}}.traces
        WHERE day >= toDate({{after:DateTime64(6, 'UTC')}}) - 2 AND {scoped} AND (project_id, trace_id) IN (
            SELECT project_id, trace_id FROM {{db}}.traces
            WHERE day >= toDate({{after:DateTime64(6, 'UTC')}}) - 2 AND {scoped}
              AND written_at >= {{after:DateTime64(6, 'UTC')}}
        )
        GROUP BY project_id, trace_id
        HAVING w <= {{upto:DateTime64(6, 'UTC')}} AND (w, project_id, trace_id) > ({{after:DateTime64(6, 'UTC')}},
               {{ap:String}}, {{at:String}})
        ORDER BY w, project_id, trace_id
        LIMIT {{limit:UInt32}}
        """,
        params,
    )
    return [
        EndedTrace(
            r["project_id"],
            r["trace_id"],
            as_utc(r["start_at"]),
            as_utc(r["end_at"]),
            int(r["n"]),
            int(r["v"]),
            as_utc(r["w"]),
        )
        for r in rows
    ]
