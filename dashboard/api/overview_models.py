"""The JSON shapes of the agents, models / cost, evals and alerts overviews, so `/docs` documents them.

Field for field what `overview.py` writes from the page views: times as ISO 8601 UTC strings ("...Z"), charts as
series on a shared axis of epoch seconds. The store's records (`GroupStats`, `StepRow`, `ScoreGroup`, `AlertState`,
`AlertEventRow`, `UnpricedModel`, a `Finding`) and the page's `Spend` are used as they are, not restated.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from tracehouse.dashboard.views import Spend
from tracehouse.evals.alerting.api_models import Evaluation, RuleStatus, SilenceOut
from tracehouse.evals.api_models import EvalRunOut, ScoreOut
from tracehouse.store import GroupStats
from tracehouse.store.alerts import AlertEventRow, AlertState
from tracehouse.store.costs import UnpricedModel
from tracehouse.store.findings import Finding
from tracehouse.store.scores import ScoreGroup
from tracehouse.store.steps import StepRow


class WindowOut(BaseModel):
    """The time window the answer covers; `range` is the preset's name, or "custom" when since/until were given."""

    since: str
    until: str
    range: str


class ChartSeries(BaseModel):
    """One line of a chart: a value per bucket of the chart's axis (null: no score in that bucket)."""

    label: str
    values: list[float | None]


class Chart(BaseModel):
    """A chart: series keyed by name over a shared time axis `x` (epoch seconds, one per bucket)."""

    title: str
    unit: str
    x: list[int]
    series: list[ChartSeries]


@dataclass
class AgentStats(GroupStats):
    """One agent's numbers over the window (the store's group stats) with its findings, waste and mean score."""

    findings: int
    wasted_cost_usd: float
    mean_score: float | None


class AgentsOverview(BaseModel):
    """Per agent over the window, with series; with `agent`, also its top steps (`by`) and recent findings.

    `agent`, `by`, `steps` and `findings` are present only when an agent was asked for."""

    window: WindowOut
    agents: list[AgentStats]
    charts: list[Chart]
    agent: str | None = None
    by: str | None = None
    steps: list[StepRow] | None = None
    findings: list[Finding] | None = None


class TopTrace(BaseModel):
    """One of the window's most expensive traces."""

    trace_id: str
    root_name: str
    cost_usd: float | None
    start_time: str


class ModelsOverview(BaseModel):
    """Spend over the window by model and agent, unpriced calls per model, the most expensive traces, and series."""

    window: WindowOut
    project: str
    total_cost_usd: float
    total_tokens: int
    unpriced_calls: int
    models: list[GroupStats]
    agents: list[Spend]
    unpriced: list[UnpricedModel]
    top_traces: list[TopTrace]
    charts: list[Chart]


class EvalRunRowOut(EvalRunOut):
    """An eval run with its scores counted."""

    scores: int
    failed: int
    mean: float | None


class ProjectScore(ScoreOut):
    """A score with its project."""

    project_id: str


class EvalsOverview(BaseModel):
    """Eval runs, scores per suite / scorer / agent, the mean-score trend and the failing cases."""

    window: WindowOut
    suite: str | None
    runs: list[EvalRunRowOut]
    groups: list[ScoreGroup]
    failing: list[ProjectScore]
    charts: list[Chart]


class NoEvaluation(BaseModel):
    """An empty object: alert evaluation does not run in this server."""

    model_config = ConfigDict(extra="forbid")


class AlertsPageOverview(BaseModel):
    """Every alert rule with its state and source, the active silences and the evaluation status (all empty when
    alert evaluation does not run here), the state of each instance, and the firing history in the window."""

    window: WindowOut
    running: bool
    rules: list[RuleStatus]
    silences: list[SilenceOut]
    evaluation: Evaluation | NoEvaluation
    states: list[AlertState]
    history: list[AlertEventRow]
