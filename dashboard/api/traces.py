"""`/api/traces`, `/api/traces/{trace_id}` and `/api/stats/*`: the trace list, one trace, and per-group aggregates."""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query

from tracehouse.collector.deps import Project, StoreDep
from tracehouse.collector.store import (
    TraceSummary,
    get_trace_steps,
    get_trace_summary,
    group_stats,
    linked_trace_ids,
    time_series,
)
from tracehouse.collector.store.stats import GroupBy
from tracehouse.dashboard import views
from tracehouse.dashboard.params import TraceQuery, api_trace_query
from tracehouse.dashboard.web import ApiRoute, PageError
from tracehouse.domain.model import Step

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
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")


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
    out["start_time"] = summary.start_time.isoformat().replace("+00:00", "Z")
    out["end_time"] = summary.end_time.isoformat().replace("+00:00", "Z")
    return out


TraceQueryDep = Annotated[TraceQuery, Depends(api_trace_query)]


@router.get("/traces")
def api_list_traces(project: Project, store: StoreDep, query: TraceQueryDep) -> dict[str, Any]:
    """The twin of the traces page: one page of trace summaries; `extra` holds findings per kind and the mean score."""
    view = views.trace_list(store, project, query.filter, has_finding=query.has_finding,
                            score_below=query.score_below, facets=False, linked_to=query.linked_to)  # fmt: skip
    return {"traces": [summary_json(t) for t in view.page.traces], "next_cursor": view.page.next_cursor}


def _trace_id(trace_id: str) -> str:
    tid = trace_id.strip().lower()
    if not re.fullmatch(TRACE_ID_PATTERN, tid):
        raise PageError(400, f"trace id must be 32 hexadecimal characters (got {trace_id[:80]!r})")
    return tid


@router.get("/traces/{trace_id}")
def api_get_trace(trace_id: str, project: Project, store: StoreDep) -> dict[str, Any]:
    trace_id = _trace_id(trace_id)
    summary = get_trace_summary(store, project, trace_id)
    if summary is None:
        raise HTTPException(status_code=404, detail=f"no trace {trace_id} in this project")
    steps = get_trace_steps(store, project, trace_id, around=(summary.start_time, summary.end_time))
    return {
        "trace_id": trace_id,
        "summary": summary_json(summary),
        "linked_trace_ids": linked_trace_ids(store, project, trace_id),
        "steps": [step_json(s) for s in steps],
    }


@router.get("/traces/{trace_id}/analysis")
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
                {"span_id": g.span_id, "category": g.category, "start_time": rfc3339_ns(g.start_ns),
                 "duration_ms": g.duration_ns / 1e6} for g in a.path
            ],
            "critical_span_ids": a.path_span_ids,
        },
        "agent_graph": views.to_jsonable(view.graph),
        "cost_by_agent": views.to_jsonable(view.cost_by_agent),
        "cost_by_model": views.to_jsonable(view.cost_by_model),
        "handoffs": [
            {"span_id": s.span_id, "source": s.handoff_source or s.agent, "target": s.handoff_target,
             "reason": s.attributes.get("tracehouse.handoff.reason", ""), "start_time": rfc3339_ns(s.start_time_ns)}
            for s in view.handoffs
        ],
        "findings": views.to_jsonable(view.findings),
        "scores": views.to_jsonable(view.trace_scores + view.step_scores),
    }  # fmt: skip


@router.get("/traces/{trace_id}/steps/{span_id}")
def api_step(trace_id: str, span_id: str, project: Project, store: StoreDep) -> dict[str, Any]:
    """One step with why it ran (parent, previous sibling, hand-off, router decision), its findings and scores."""
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
    }


def default_window(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    until = until or datetime.now(UTC)
    return since or until - timedelta(hours=24), until


@router.get("/stats/{group_by}")
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
    lo, hi = default_window(since, until)
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
