"""`/api/traces`, `/api/traces/{trace_id}` (its steps in pages), a step's children, a trace's analysis, and
`/api/stats/*`: the trace list, one trace, and per-group aggregates."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query

from tracehouse.dashboard import views
from tracehouse.dashboard.api.trace_models import (
    AnalysisOut,
    ChildrenOut,
    StatsOut,
    StepDetailOut,
    TraceListOut,
    TraceOut,
)
from tracehouse.dashboard.format import duration_ns
from tracehouse.dashboard.params import TraceQuery, api_trace_query
from tracehouse.dashboard.web import ApiRoute, PageError
from tracehouse.domain.messages import Message
from tracehouse.domain.model import Step
from tracehouse.domain.tree import TraceTree
from tracehouse.store import (
    Store,
    TraceSummary,
    get_trace_steps,
    get_trace_summary,
    group_stats,
    linked_trace_ids,
    time_series,
)
from tracehouse.store.client import iso_z
from tracehouse.store.stats import GroupBy
from tracehouse.store.steps import get_steps_by_id
from tracehouse.web.deps import Project, StoreDep, window_or_default

router = APIRouter(prefix="/api", tags=["traces"], route_class=ApiRoute)

TRACE_ID_PATTERN = r"[0-9a-f]{32}"
StatsGroup = Literal["agents", "models", "operations", "services", "providers"]
# the URL's plural -> the store's grouping column
_GROUP_KEYS: dict[StatsGroup, GroupBy] = {
    "agents": "agent",
    "models": "model",
    "operations": "operation",
    "services": "service",
    "providers": "provider",
}


def rfc3339_ns(ns: int) -> str:
    """Nanosecond epoch as RFC 3339 with microseconds (what JavaScript and most parsers read)."""
    return iso_z(datetime.fromtimestamp(ns / 1e9, UTC))


def step_json(step: Step) -> dict[str, Any]:
    out = asdict(step)
    out["status"] = str(step.status)
    out["step_type"] = str(step.step_type)
    out["start_time"] = rfc3339_ns(step.start_time_ns)
    out["end_time"] = rfc3339_ns(step.end_time_ns)
    out["duration_ms"] = step.duration_ns / 1e6
    out["events"] = [{"time": rfc3339_ns(e.time_ns), "name": e.name, "attributes": e.attributes} for e in step.events]
    del out["own"]  # the rules' bookkeeping, not part of the answer
    return out


def summary_json(summary: TraceSummary) -> dict[str, Any]:
    out = asdict(summary)
    out["start_time"], out["end_time"] = iso_z(summary.start_time), iso_z(summary.end_time)
    return out


TraceQueryDep = Annotated[TraceQuery, Depends(api_trace_query)]


@router.get("/traces", response_model=TraceListOut)
def api_list_traces(project: Project, store: StoreDep, query: TraceQueryDep) -> dict[str, Any]:
    """The twin of the traces page: one page of trace summaries; `extra` holds findings per kind and the mean score."""
    view = views.trace_list(
        store,
        project,
        query.filter,
        has_finding=query.has_finding,
        score_below=query.score_below,
        facets=False,
        linked_to=query.linked_to,
    )
    return {"traces": [summary_json(t) for t in view.page.traces], "next_cursor": view.page.next_cursor}


def _trace_id(trace_id: str) -> str:
    tid = trace_id.strip().lower()
    if not re.fullmatch(TRACE_ID_PATTERN, tid):
        raise PageError(400, f"trace id must be 32 hexadecimal characters (got {trace_id[:80]!r})")
    return tid


STEPS_PAGE_DEFAULT = 2000
STEPS_PAGE_MAX = 10000
CHILDREN_PAGE_DEFAULT = 500
CHILDREN_PAGE_MAX = 2000


def encode_position(after: str | int) -> str:
    """An opaque cursor: the last span id (or offset) a page ended at."""
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def decode_position(cursor: str, kind: type[str] | type[int]) -> str | int:
    """The position a cursor from `encode_position` holds; anything else is a 400 naming the cursor."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["after"]
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise PageError(400, "cursor: not a cursor this server issued") from None
    if kind is int and type(value) is int and 0 < value < 2**31:
        return value
    if kind is str and isinstance(value, str) and re.fullmatch(r"[0-9a-f]{1,32}", value):
        return value
    raise PageError(400, "cursor: not a cursor this server issued")


@router.get("/traces/{trace_id}", response_model=TraceOut)
def api_get_trace(
    trace_id: str,
    project: Project,
    store: StoreDep,
    limit: int = Query(STEPS_PAGE_DEFAULT, ge=1, le=STEPS_PAGE_MAX, description="steps per page"),
    cursor: str | None = Query(None, max_length=200, description="`next_cursor` of the previous page"),
) -> dict[str, Any]:
    """One trace: its summary, linked traces and one page of its steps (every field), in tree order: depth-first,
    children by start time, as the trace page shows them.

    At most `limit` steps (default 2000, at most 10000) come back; when more remain, `next_cursor` is set and
    `?cursor=<next_cursor>` fetches the next page (a cursor is opaque; one this server did not issue is a 400).
    Pages together hold every step of the trace exactly once. A big trace's order is worked out from its steps'
    ids, parents and start times alone, and only the page's steps are read in full.
    """
    trace_id = _trace_id(trace_id)
    summary = get_trace_summary(store, project, trace_id)
    if summary is None:
        raise HTTPException(status_code=404, detail=f"no trace {trace_id} in this project")
    around = (summary.start_time, summary.end_time)
    after = decode_position(cursor, str) if cursor is not None else None
    if after is None and summary.spans <= limit:  # the common case: one read of every column, ordered here
        steps = TraceTree(get_trace_steps(store, project, trace_id, around=around)).steps
        if len(steps) <= limit:
            return _trace_json(store, project, summary, steps, None)
    order = views.step_order(store, project, summary)
    start = 0
    if after is not None:
        try:
            start = order.index(str(after)) + 1
        except ValueError:
            raise PageError(400, "cursor: not a cursor for this trace") from None
    page_ids = order[start : start + limit]
    full = get_steps_by_id(store, project, trace_id, page_ids, around=around)
    steps = [full[sid] for sid in page_ids if sid in full]
    more = start + limit < len(order)
    return _trace_json(store, project, summary, steps, encode_position(page_ids[-1]) if more else None)


def _trace_json(
    store: Store, project: str, summary: TraceSummary, steps: list[Step], next_cursor: str | None
) -> dict[str, Any]:
    return {
        "trace_id": summary.trace_id,
        "summary": summary_json(summary),
        "linked_trace_ids": linked_trace_ids(store, project, summary.trace_id),
        "steps": [step_json(s) for s in steps],
        "next_cursor": next_cursor,
    }


def row_json(r: views.RowView) -> dict[str, Any]:
    """A row of the step tree as trace.js draws it (the same fields the page's own rows carry)."""
    s = r.step
    return {
        "span_id": s.span_id,
        "parent_span_id": s.parent_span_id,
        "depth": r.depth,
        "name": s.name,
        "step_type": str(s.step_type),
        "status": str(s.status),
        "agent": s.agent,
        "operation": s.operation,
        "request_model": s.request_model,
        "tool_name": s.tool_name,
        "handoff_target": s.handoff_target,
        "retry_attempt": s.retry_attempt,
        "duration_ms": s.duration_ns / 1e6,
        "duration": duration_ns(s.duration_ns),
        "category": r.category,
        "left": r.left,
        "width": r.width,
        "children": r.children,
        "descendants": r.descendants,
        "critical": r.critical,
        "finding_kinds": r.finding_kinds,
        "score_count": r.score_count,
    }


@router.get("/traces/{trace_id}/children/{span_id}", response_model=ChildrenOut)
def api_trace_children(
    trace_id: str,
    span_id: str,
    project: Project,
    store: StoreDep,
    limit: int = Query(CHILDREN_PAGE_DEFAULT, ge=1, le=CHILDREN_PAGE_MAX, description="children per page"),
    cursor: str | None = Query(None, max_length=200, description="`next_cursor` of the previous page"),
) -> dict[str, Any]:
    """The direct children of one step, in tree order, as rows of the trace page's step tree (with their own child
    counts, waterfall offsets in thousandths of the trace's wall time, critical-path mark and finding kinds). The
    trace page calls it when a collapsed row of a big trace is opened. `next_cursor` pages through a step with more
    than `limit` children."""
    if not re.fullmatch(r"[0-9a-fA-F]{1,32}", span_id):
        raise PageError(400, "span id must be 1-32 hexadecimal characters")
    offset = int(decode_position(cursor, int)) if cursor is not None else 0
    view = views.trace_children(store, project, _trace_id(trace_id), span_id.lower(), offset=offset, limit=limit)
    return {
        "trace_id": view.trace_id,
        "span_id": view.span_id,
        "total": view.total,
        "remaining": view.remaining,
        "children": [row_json(r) for r in view.rows],
        "next_cursor": encode_position(view.next_offset) if view.next_offset is not None else None,
    }


@router.get("/traces/{trace_id}/analysis", response_model=AnalysisOut)
def api_trace_analysis(trace_id: str, project: Project, store: StoreDep) -> dict[str, Any]:
    """The twin of the trace page's analysis: latency attribution and critical path, agent graph, cost by agent and
    by model, hand-offs, findings and scores."""
    view = views.trace_view(store, project, _trace_id(trace_id))
    a = view.attribution
    return {
        "trace_id": view.summary.trace_id,
        "summary": summary_json(view.summary),
        "latency": {
            "wall_ms": a.wall_ns / 1e6,
            "critical_path_ms": {k: v / 1e6 for k, v in a.critical.items()},
            "work_ms": {k: v / 1e6 for k, v in a.work.items()},
            "gap_ms": a.gap_ns / 1e6,
            "critical_path": [
                {
                    "span_id": g.span_id,
                    "category": g.category,
                    "start_time": rfc3339_ns(g.start_ns),
                    "duration_ms": g.duration_ns / 1e6,
                }
                for g in a.path
            ],
            "critical_span_ids": a.path_span_ids,
        },
        "agent_graph": views.to_jsonable(view.graph),
        "cost_by_agent": views.to_jsonable(view.cost_by_agent),
        "cost_by_model": views.to_jsonable(view.cost_by_model),
        "handoffs": [
            {
                "span_id": s.span_id,
                "source": s.handoff_source or s.agent,
                "target": s.handoff_target,
                "reason": s.attributes.get("tracehouse.handoff.reason", ""),
                "start_time": rfc3339_ns(s.start_time_ns),
            }
            for s in view.handoffs
        ],
        "findings": views.to_jsonable(view.findings),
        "scores": views.to_jsonable(view.trace_scores + view.step_scores),
    }


@router.get("/traces/{trace_id}/steps/{span_id}", response_model=StepDetailOut)
def api_step(trace_id: str, span_id: str, project: Project, store: StoreDep) -> dict[str, Any]:
    """One step with why it ran (parent, previous sibling, hand-off, router decision), its findings and scores, and
    its messages in one shape for every convention (`tracehouse.domain.messages`)."""
    if not re.fullmatch(r"[0-9a-fA-F]{1,32}", span_id):
        raise PageError(400, "span id must be 1-32 hexadecimal characters")
    d = views.step_view(store, project, _trace_id(trace_id), span_id.lower())
    w = d.why
    return {
        "step": step_json(d.step),
        "self_time_ms": d.self_ns / 1e6,
        "why": {
            "parent_span_id": w.parent.span_id if w.parent else None,
            "previous_span_id": w.previous.span_id if w.previous else None,
            "handoff_span_id": w.handoff.span_id if w.handoff else None,
            "handoff_reason": w.handoff_reason,
            "handoff_payload": w.handoff_payload,
            "router_span_id": w.router_step.span_id if w.router_step else None,
            "router_decision": w.router_decision,
        },
        "findings": views.to_jsonable(d.findings),
        "scores": views.to_jsonable(d.scores),
        "input_messages": [message_json(m) for m in d.messages.input],
        "output_messages": [message_json(m) for m in d.messages.output],
    }


def message_json(m: Message) -> dict[str, Any]:
    calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in m.tool_calls]
    return {"role": m.role, "content": m.content, "tool_calls": calls, "tool_call_id": m.tool_call_id}


@router.get("/stats/{group_by}", response_model=StatsOut)
def api_stats(
    group_by: StatsGroup,
    project: Project,
    store: StoreDep,
    since: datetime | None = None,
    until: datetime | None = None,
    series: bool = False,
    bucket_seconds: int | None = Query(None, ge=1, le=86400 * 31),
) -> dict[str, Any]:
    key = _GROUP_KEYS[group_by]
    lo, hi = window_or_default(since, until, timedelta(hours=24))
    out: dict[str, Any] = {
        "since": lo.isoformat(),
        "until": hi.isoformat(),
        "group_by": key,
        group_by: [asdict(g) for g in group_stats(store, project, lo, hi, key)],
    }
    if series:
        points = time_series(store, project, lo, hi, key, bucket_seconds=bucket_seconds)
        out["series"] = [{**asdict(p), "bucket": p.bucket.isoformat()} for p in points]
    return out
