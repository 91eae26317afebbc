"""The evals JSON API: scores (read and attach your own), eval runs, and quality attribution per agent.

`GET /api/scores?trace_id=&name=&since=` → `{"scores": [...]}`; `POST /api/scores` takes one score or a list (a bad
field is a 400 naming it); `GET|POST /api/eval-runs`; `GET /api/quality/agents` and `GET /api/quality/failures`.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tracehouse.evals.api_models import (
    AgentsQuality,
    EvalRunAccepted,
    EvalRunOut,
    EvalRuns,
    FailureShares,
    Scores,
    ScoresAccepted,
)
from tracehouse.evals.suite import explain
from tracehouse.store.client import as_utc, iso_z
from tracehouse.store.scores import (
    MAX_SCORES,
    EvalRun,
    Score,
    agent_quality,
    failure_shares,
    insert_scores,
    list_eval_runs,
    list_scores,
    upsert_eval_run,
)
from tracehouse.web.deps import Project, StoreDep, is_json, window_or_default

router = APIRouter(prefix="/api", tags=["evals"])

HEX = "0123456789abcdef"


class ScoreIn(BaseModel):
    """A score as the API takes it: on a trace, or on one step of it (`span_id`)."""

    model_config = ConfigDict(extra="forbid")

    trace_id: str
    span_id: str = ""
    name: str = Field(min_length=1, max_length=200)
    value: float | None = None
    label: str = Field("", max_length=200)
    source: str = Field("api", min_length=1, max_length=64)  # e.g. "human", "thumbs", "api", "eval"
    eval_run_id: str = Field("", max_length=200)
    suite: str = Field("", max_length=200)
    agent: str = Field("", max_length=200)
    agent_version: str = Field("", max_length=200)
    passed: bool | None = None
    comment: str = Field("", max_length=10_000)
    created_at: datetime | None = None

    @field_validator("trace_id")
    @classmethod
    def _trace(cls, value: str) -> str:
        value = value.lower()
        if len(value) != 32 or any(c not in HEX for c in value):
            raise ValueError("must be 32 hex characters")
        return value

    @field_validator("span_id")
    @classmethod
    def _span(cls, value: str) -> str:
        value = value.lower()
        if value and (len(value) != 16 or any(c not in HEX for c in value)):
            raise ValueError("must be 16 hex characters or empty")
        return value

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @model_validator(mode="after")
    def _something(self) -> ScoreIn:
        if self.value is None and not self.label and self.passed is None:
            raise ValueError("value: a score needs a value, a label or passed")
        return self

    def to_score(self, project: str, now: datetime) -> Score:
        fields = self.model_dump()
        created = fields.pop("created_at") or now
        return Score(project_id=project, created_at=as_utc(created), **fields)


class EvalRunIn(BaseModel):
    """An eval run as the API takes it: created, or updated when the id exists (its end, status and summary)."""

    model_config = ConfigDict(extra="forbid")

    eval_run_id: str = Field(min_length=1, max_length=200)
    suite: str = Field(min_length=1, max_length=200)
    started_at: datetime
    finished_at: datetime | None = None
    status: str = Field("running", pattern=r"^(running|passed|failed|error)$")
    summary: dict[str, Any] = Field(default_factory=dict)


async def _json_body(request: Request) -> Any:
    """The body as JSON, only when it says it is: a `text/plain` body (what a cross-site form can send) is refused."""
    if not is_json(request):
        raise HTTPException(status_code=415, detail="content-type: must be application/json")
    try:
        return await request.json()
    except ValueError:
        raise HTTPException(status_code=400, detail="body: not valid JSON") from None


def _validate(model: type[BaseModel], item: Any, prefix: str) -> Any:
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        raise HTTPException(status_code=400, detail=f"{prefix}{explain(exc)}") from None


@router.get("/scores", response_model=Scores)
def api_list_scores(
    project: Project,
    store: StoreDep,
    trace_id: str | None = Query(None, max_length=64),
    name: str | None = Query(None, max_length=200),
    since: datetime | None = None,
    until: datetime | None = None,
    suite: str | None = Query(None, max_length=200),
    eval_run_id: str | None = Query(None, max_length=200),
    source: str | None = Query(None, max_length=64),
    limit: int = Query(1000, ge=1, le=MAX_SCORES),
) -> dict[str, Any]:
    """Scores of the project matching every filter given, newest first."""
    scores = list_scores(
        store,
        project,
        trace_id=trace_id.lower() if trace_id else None,
        name=name,
        since=since,
        until=until,
        suite=suite,
        eval_run_id=eval_run_id,
        source=source,
        limit=limit,
    )
    return {"scores": [s.to_json() for s in scores]}


@router.post("/scores", response_model=ScoresAccepted)
async def api_post_scores(request: Request, project: Project, store: StoreDep) -> dict[str, Any]:
    """Attach one score or a list of them; a bad field is a 400 naming it (and nothing is stored)."""
    body = await _json_body(request)
    items = body if isinstance(body, list) else [body]
    if not items:
        raise HTTPException(status_code=400, detail="body: an empty list")
    if len(items) > MAX_SCORES:
        raise HTTPException(status_code=400, detail=f"body: at most {MAX_SCORES} scores per request")
    now = datetime.now(UTC)
    scores = [
        _validate(ScoreIn, item, f"[{i}]." if isinstance(body, list) else "").to_score(project, now)
        for i, item in enumerate(items)
    ]
    insert_scores(store, scores)
    return {"accepted": len(scores)}


@router.get("/eval-runs", response_model=EvalRuns)
def api_list_eval_runs(
    project: Project,
    store: StoreDep,
    suite: str | None = Query(None, max_length=200),
    limit: int = Query(50, ge=1, le=1000),
) -> dict[str, Any]:
    """The project's eval runs, newest first."""
    return {"eval_runs": [r.to_json() for r in list_eval_runs(store, project, suite=suite, limit=limit)]}


@router.get("/eval-runs/{eval_run_id}", response_model=EvalRunOut)
def api_get_eval_run(eval_run_id: str, project: Project, store: StoreDep) -> dict[str, Any]:
    """One eval run of the project (404 when there is none)."""
    runs = list_eval_runs(store, project, eval_run_id=eval_run_id, limit=1)
    if not runs:
        raise HTTPException(status_code=404, detail=f"no eval run {eval_run_id[:200]!r} in this project")
    return runs[0].to_json()


@router.post("/eval-runs", response_model=EvalRunAccepted)
async def api_post_eval_run(request: Request, project: Project, store: StoreDep) -> dict[str, Any]:
    """Create an eval run, or update the one with that id."""
    run = _validate(EvalRunIn, await _json_body(request), "")
    upsert_eval_run(store, EvalRun(project_id=project, **run.model_dump()))
    return {"eval_run_id": run.eval_run_id}


@router.get("/quality/agents", response_model=AgentsQuality)
def api_quality_agents(
    project: Project,
    store: StoreDep,
    since: datetime | None = None,
    until: datetime | None = None,
    suite: str | None = Query(None, max_length=200),
    name: str | None = Query(None, max_length=200),
    bucket_seconds: int = Query(86400, ge=60, le=86400 * 31),
) -> dict[str, Any]:
    """Per agent and version: mean score, pass rate, failures and trend (default window: the last 7 days)."""
    lo, hi = window_or_default(since, until, timedelta(days=7))
    rows = agent_quality(store, project, lo, hi, suite=suite, name=name, bucket_seconds=bucket_seconds)
    return {"since": iso_z(lo), "until": iso_z(hi), "agents": [asdict(r) for r in rows]}


@router.get("/quality/failures", response_model=FailureShares)
def api_quality_failures(
    project: Project,
    store: StoreDep,
    since: datetime | None = None,
    until: datetime | None = None,
    suite: str | None = Query(None, max_length=200),
) -> dict[str, Any]:
    """Which agents the failing traces' low scores sit on, most to blame first."""
    lo, hi = window_or_default(since, until, timedelta(days=7))
    return {
        "since": iso_z(lo),
        "until": iso_z(hi),
        "agents": [asdict(f) for f in failure_shares(store, project, lo, hi, suite=suite)],
    }
