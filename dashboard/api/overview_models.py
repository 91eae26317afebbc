"""The JSON shapes of the agents, models / cost, evals and alerts overviews, so `/docs` documents them.

Field for field what `overview.py` writes from the page views: times as ISO 8601 UTC strings ("...Z"), charts as
series on a shared axis of epoch seconds. Records that are already exactly their JSON (the store's `GroupStats`,
`UnpricedModel`, the page's `Spend`) are used as they are.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from tracehouse.dashboard.views import Spend
from tracehouse.evals.alerting.api_models import Evaluation, RuleStatus, SilenceOut
from tracehouse.evals.api_models import ScoreOut
from tracehouse.evals.detect.api import FindingOut
from tracehouse.store import GroupStats
from tracehouse.store.costs import UnpricedModel


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


class AgentStats(BaseModel):
    """One agent's numbers over the window (the store's group stats) with its findings, waste and mean score."""

    key: str
    steps: int
    calls: int
    call_steps: int
    errors: int
    error_rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    input_tokens: int
    output_tokens: int
    cost_usd: float
    unpriced: int
    retries: int
    retry_rate: float
    findings: int
    wasted_cost_usd: float
    mean_score: float | None


class StepRowOut(BaseModel):
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
    start_time: str
    duration_ms: float
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None


class AgentsOverview(BaseModel):
    """Per agent over the window, with series; with `agent`, also its top steps (`by`) and recent findings.

    `agent`, `by`, `steps` and `findings` are present only when an agent was asked for."""

    window: WindowOut
    agents: list[AgentStats]
    charts: list[Chart]
    agent: str | None = None
    by: str | None = None
    steps: list[StepRowOut] | None = None
    findings: list[FindingOut] | None = None


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


class EvalRunRowOut(BaseModel):
    """An eval run with its scores counted (`summary` is the stored JSON text)."""

    eval_run_id: str
    suite: str
    started_at: str
    finished_at: str | None
    status: str
    summary: str
    scores: int
    failed: int
    mean: float | None


class ScoreGroupOut(BaseModel):
    """The scores of one (suite, scorer, agent) over the window."""

    suite: str
    name: str
    agent: str
    count: int
    mean: float | None
    passed: int
    failed: int
    pass_rate: float | None
    last_at: str


class ProjectScore(ScoreOut):
    """A score with its project."""

    project_id: str


class EvalsOverview(BaseModel):
    """Eval runs, scores per suite / scorer / agent, the mean-score trend and the failing cases."""

    window: WindowOut
    suite: str | None
    runs: list[EvalRunRowOut]
    groups: list[ScoreGroupOut]
    failing: list[ProjectScore]
    charts: list[Chart]


class NoEvaluation(BaseModel):
    """An empty object: alert evaluation does not run in this server."""

    model_config = ConfigDict(extra="forbid")


class AlertStateOut(BaseModel):
    """The current state of one alert instance, as stored."""

    rule: str
    instance: str
    state: str
    severity: str
    value: float | None
    labels: dict[str, str]
    since: str | None
    updated_at: str | None


class AlertFiring(BaseModel):
    """One entry of the firing history in the window."""

    id: str
    rule: str
    instance: str
    state: str
    severity: str
    value: float | None
    message: str
    notified: list[str]
    notify_error: str
    at: str | None


class AlertsPageOverview(BaseModel):
    """Every alert rule with its state and source, the active silences and the evaluation status (all empty when
    alert evaluation does not run here), the state of each instance, and the firing history in the window."""

    window: WindowOut
    running: bool
    rules: list[RuleStatus]
    silences: list[SilenceOut]
    evaluation: Evaluation | NoEvaluation
    states: list[AlertStateOut]
    history: list[AlertFiring]
