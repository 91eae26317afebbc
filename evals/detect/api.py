"""`GET /api/findings` (the detectors' findings) and `POST /api/detect/run` (detect over a window now)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from tracehouse.evals.detect.service import run_window
from tracehouse.store.findings import Finding, list_findings
from tracehouse.web.deps import Project, StoreDep

router = APIRouter(prefix="/api", tags=["findings"])


class Findings(BaseModel):
    """The project's findings, newest first."""

    findings: list[Finding]


class DetectReport(BaseModel):
    """One detection pass over a window: what it read, how long it took, and the findings it wrote, by kind."""

    since: str
    until: str
    traces: int
    steps: int
    seconds: float
    by_kind: dict[str, int]
    findings: list[Finding]


@router.get("/findings", response_model=Findings)
def api_findings(
    project: Project,
    store: StoreDep,
    kind: Literal["loop", "duplicate_work", "retry_storm"] | None = None,
    trace_id: str | None = Query(None, pattern=r"^[0-9a-fA-F]{32}$"),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(200, ge=1, le=1000),
) -> dict[str, Any]:
    """Findings newest first; `since`/`until` bound the detection time."""
    rows = list_findings(
        store,
        project,
        kind=kind,
        trace_id=trace_id.lower() if trace_id else None,
        since=since,
        until=until,
        limit=limit,
    )
    return {"findings": [f.to_json() for f in rows]}


class DetectRun(BaseModel):
    """A detection request: the window (default the last hour) and whether to compare traces with each other."""

    since: datetime | None = Field(None, description="Start of the window (default: an hour ago).")
    until: datetime | None = None
    cross_trace: bool = Field(False, description="Also look for duplicate work across the window's traces.")


@router.post("/detect/run", response_model=DetectReport)
def api_detect_run(project: Project, store: StoreDep, body: DetectRun | None = None) -> dict[str, Any]:
    """Run every detector over the project's traces that ended in the window; findings are written and returned."""
    body = body or DetectRun.model_validate({})
    until = body.until or datetime.now(UTC)
    since = body.since or until - timedelta(hours=1)
    report = run_window(store, project, since, until, cross_trace=body.cross_trace)
    return {"since": since.isoformat(), "until": until.isoformat(), **report.to_json()}
