"""The JSON shapes the evals API answers with (scores, eval runs, quality attribution), so `/docs` documents them.

Field for field what `evals/api.py` writes: the `scores` / `eval_runs` columns without `project_id` (the key says the
project), times as ISO 8601 UTC strings ("...Z"). The quality rows are the store's own records.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tracehouse.store.scores import AgentQuality, FailureShare


class ScoreOut(BaseModel):
    """One score on a trace (`span_id` "") or on one step of it."""

    trace_id: str
    name: str
    span_id: str
    value: float | None
    label: str
    source: str
    eval_run_id: str
    suite: str
    agent: str
    agent_version: str
    passed: bool | None
    comment: str
    created_at: str | None


class Scores(BaseModel):
    """Scores matching the filters, newest first."""

    scores: list[ScoreOut]


class ScoresAccepted(BaseModel):
    """How many scores were stored."""

    accepted: int


class EvalRunOut(BaseModel):
    """One run of a suite: when, how it ended, and its summary (per-scorer numbers, thresholds, totals)."""

    eval_run_id: str
    suite: str
    started_at: str | None
    finished_at: str | None
    status: str
    summary: dict[str, Any]


class EvalRuns(BaseModel):
    """The project's eval runs, newest first."""

    eval_runs: list[EvalRunOut]


class EvalRunAccepted(BaseModel):
    """The id of the eval run stored (created or updated)."""

    eval_run_id: str


class AgentsQuality(BaseModel):
    """Per agent and version over the window: mean score, pass rate, failures and trend."""

    since: str | None
    until: str | None
    agents: list[AgentQuality]


class FailureShares(BaseModel):
    """Which agents the failing traces' low scores sit on over the window, most to blame first."""

    since: str | None
    until: str | None
    agents: list[FailureShare]
