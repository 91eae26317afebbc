"""`/api/traces`, `/api/traces/{trace_id}` and `/api/stats/*`: the trace list, one trace, and per-group aggregates."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query

from tracehouse.collector.deps import Project, StoreDep
from tracehouse.collector.model import Step
from tracehouse.collector.store import (
    TraceFilter,
    TraceSummary,
    get_trace_steps,
    get_trace_summary,
    group_stats,
    list_traces,
    time_series,
)

router = APIRouter(prefix="/api", tags=["traces"])

TRACE_ID_PATTERN = r"^[0-9a-f]{32}$"


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
    return out


def summary_json(summary: TraceSummary) -> dict[str, Any]:
    out = asdict(summary)
    out["start_time"] = summary.start_time.isoformat().replace("+00:00", "Z")
    out["end_time"] = summary.end_time.isoformat().replace("+00:00", "Z")
    return out


def trace_filter(
    since: datetime | None = None,
    until: datetime | None = None,
    agent: str | None = Query(None, max_length=200),
    model: str | None = Query(None, max_length=200),
    status: Literal["ok", "error"] | None = None,
    service: str | None = Query(None, max_length=200),
    q: str | None = Query(None, max_length=200),
    sort: Literal["start_time", "duration", "cost", "spans", "errors"] = "start_time",
    order: Literal["asc", "desc"] = "desc",
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=500),
) -> TraceFilter:
    return TraceFilter(
        since=since, until=until, agent=agent or None, model=model or None, status=status,
        service=service or None, q=q or None, sort=sort, descending=order == "desc", limit=limit, cursor=cursor,
    )  # fmt: skip


TraceFilterDep = Annotated[TraceFilter, Depends(trace_filter)]


@router.get("/traces")
def api_list_traces(project: Project, store: StoreDep, flt: TraceFilterDep) -> dict[str, Any]:
    page = list_traces(store, project, flt)
    return {"traces": [summary_json(t) for t in page.traces], "next_cursor": page.next_cursor}


@router.get("/traces/{trace_id}")
def api_get_trace(trace_id: str, project: Project, store: StoreDep) -> dict[str, Any]:
    trace_id = trace_id.lower()
    summary = get_trace_summary(store, project, trace_id) if len(trace_id) == 32 else None
    if summary is None:
        raise HTTPException(status_code=404, detail=f"no trace {trace_id[:64]!r} in this project")
    steps = get_trace_steps(store, project, trace_id, around=(summary.start_time, summary.end_time))
    return {"trace_id": trace_id, "summary": summary_json(summary), "steps": [step_json(s) for s in steps]}


def default_window(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    until = until or datetime.now(UTC)
    return since or until - timedelta(hours=24), until


@router.get("/stats/{group_by}")
def api_stats(
    group_by: Literal["agents", "models", "operations", "services", "providers"],
    project: Project,
    store: StoreDep,
    since: datetime | None = None,
    until: datetime | None = None,
    series: bool = False,
    bucket_seconds: int | None = Query(None, ge=1, le=86400 * 31),
) -> dict[str, Any]:
    key = group_by[:-1] if group_by != "models" else "model"
    lo, hi = default_window(since, until)
    out: dict[str, Any] = {
        "since": lo.isoformat(),
        "until": hi.isoformat(),
        "group_by": key,
        group_by: [asdict(g) for g in group_stats(store, project, lo, hi, key)],  # type: ignore[arg-type]
    }
    if series:
        points = time_series(store, project, lo, hi, key, bucket_seconds=bucket_seconds)  # type: ignore[arg-type]
        out["series"] = [{**asdict(p), "bucket": p.bucket.isoformat()} for p in points]
    return out
