"""What each dashboard page shows, assembled from the store and the trace analysis: one function per page returning
dataclasses, used both by the HTML page and by its JSON twin (so the two can never disagree)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, Literal

from tracehouse.collector.store import (
    GroupStats,
    Store,
    TraceFilter,
    TracePage,
    TraceSummary,
    get_trace_steps,
    get_trace_summary,
    group_stats,
    linked_counts,
    linked_trace_ids,
    list_traces,
    time_series,
)
from tracehouse.collector.store.alerts import AlertEventRow, AlertState, alert_history, alert_states
from tracehouse.collector.store.costs import CostPoint, UnpricedModel, costs
from tracehouse.collector.store.findings import (
    FindingRow,
    finding_counts,
    findings_by_agent,
    recent_findings,
    trace_findings,
    traces_with_findings,
)
from tracehouse.collector.store.scores import (
    EvalRunRow,
    Score,
    ScoreGroup,
    agent_mean_scores,
    eval_runs,
    failing_scores,
    mean_scores,
    score_groups,
    score_trend,
    trace_scores,
    traces_scored_below,
)
from tracehouse.collector.store.steps import (
    Facets,
    StepRow,
    TopBy,
    project_has_data,
    top_steps,
    trace_facets,
)
from tracehouse.dashboard import analysis
from tracehouse.dashboard.web import PageError, Window
from tracehouse.domain.model import Step
from tracehouse.evals.alerting.rules import DEFAULT_RULES
from tracehouse.evals.alerting.service import AlertService

BIG_TRACE = 300  # above this many steps, only the top tree levels that fit in ROW_BUDGET start expanded
ROW_BUDGET = 250
TRACE_ID_LEN = 32


def to_jsonable(value: Any) -> Any:
    """Dataclasses, datetimes and enums as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        v = value if value.tzinfo else value.replace(tzinfo=UTC)
        return v.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    return value


_QUERIES = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tracehouse-page")


def concurrently(*queries: Callable[[], Any]) -> list[Any]:
    """Run a page's independent store queries at once: ClickHouse releases the GIL while it works, and each
    thread has its own client, so a page costs about its slowest query rather than their sum."""
    return [future.result() for future in [_QUERIES.submit(q) for q in queries]]


# -- traces list --------------------------------------------------------------------------------------------------


@dataclass
class TraceListView:
    page: TracePage
    facets: Facets
    has_data: bool


def trace_list(
    store: Store,
    project: str,
    flt: TraceFilter,
    *,
    has_finding: bool = False,
    score_below: float | None = None,
    facets: bool = True,
    linked_to: str | None = None,
) -> TraceListView:
    """One page of traces with each trace's findings per kind, mean eval score and linked traces in `extra`."""
    ids: set[str] | None = None
    if linked_to is not None:
        ids = {linked_to, *linked_trace_ids(store, project, linked_to)}
    if has_finding:
        with_findings = set(traces_with_findings(store, project, flt.since))
        ids = with_findings if ids is None else ids & with_findings
    if score_below is not None:
        below = set(traces_scored_below(store, project, score_below))
        ids = below if ids is None else ids & below
    if ids is not None:
        if flt.trace_ids is not None:
            ids &= set(flt.trace_ids)
        flt = dataclasses.replace(flt, trace_ids=tuple(sorted(ids)))
    empty_set = ids is not None and not ids
    page = TracePage(traces=[], next_cursor=None) if empty_set else list_traces(store, project, flt)
    trace_ids = [t.trace_id for t in page.traces]
    found = finding_counts(store, project, trace_ids)
    scores = mean_scores(store, project, trace_ids)
    links = linked_counts(store, project, trace_ids)
    for t in page.traces:
        t.extra["findings"] = found.get(t.trace_id, {})
        t.extra["score"] = scores.get(t.trace_id)
        t.extra["linked"] = links.get(t.trace_id, 0)
    has_data = bool(page.traces) or project_has_data(store, project)
    empty = Facets([], [], [])
    return TraceListView(page=page, facets=trace_facets(store, project, flt.since, flt.until) if facets else empty,
                         has_data=has_data)  # fmt: skip


# -- one trace ----------------------------------------------------------------------------------------------------


@dataclass
class RowView:
    """One row of the step tree and its waterfall bar (offsets in thousandths of the trace's wall time)."""

    step: Step
    depth: int
    category: str
    self_ns: int
    left: float
    width: float
    children: int
    descendants: int
    expanded: bool
    visible: bool
    critical: bool
    finding_kinds: list[str]
    finding_ids: list[str]
    score_count: int


@dataclass
class StepDetail:
    step: Step
    why: analysis.Why
    findings: list[FindingRow]
    scores: list[Score]
    self_ns: int
    attributes: list[tuple[str, str]]
    resource_attributes: list[tuple[str, str]]


@dataclass
class TraceView:
    summary: TraceSummary
    rows: list[RowView]
    attribution: analysis.Attribution
    graph: analysis.AgentGraph
    cost_by_agent: list[analysis.CostRow]
    cost_by_model: list[analysis.CostRow]
    findings: list[FindingRow]
    trace_scores: list[Score]
    step_scores: list[Score]
    handoffs: list[Step]
    names: dict[str, str]  # span id -> display name, for links
    collapsed_by_default: bool
    selected: StepDetail | None = None
    ticks: list[tuple[float, str]] = field(default_factory=list)
    linked_trace_ids: list[str] = field(default_factory=list)  # joined by span links, either direction


def _check_trace_id(trace_id: str) -> str:
    tid = trace_id.strip().lower()
    if len(tid) != TRACE_ID_LEN or any(c not in "0123456789abcdef" for c in tid):
        raise PageError(400, f"trace id must be 32 hexadecimal characters (got {trace_id[:80]!r})")
    return tid


def load_trace(store: Store, project: str, trace_id: str) -> tuple[TraceSummary, list[Step]]:
    tid = _check_trace_id(trace_id)
    summary = get_trace_summary(store, project, tid)
    if summary is None:
        raise PageError(404, f"no trace {tid} in this project (it may be older than the retention, or not sent yet)")
    return summary, get_trace_steps(store, project, tid, around=(summary.start_time, summary.end_time))


def step_detail(
    tree: analysis.Tree, span_id: str, findings: list[FindingRow], scores: list[Score], self_ns: int
) -> StepDetail:
    s = tree.by_id[span_id]
    return StepDetail(
        step=s,
        why=analysis.why(tree, span_id),
        findings=[f for f in findings if span_id in f.span_ids],
        scores=[x for x in scores if x.span_id == span_id],
        self_ns=self_ns,
        attributes=sorted(s.attributes.items()),
        resource_attributes=sorted(s.resource_attributes.items()),
    )


def _ticks(wall_ns: int) -> list[tuple[float, str]]:
    from tracehouse.dashboard.format import duration_ns

    if wall_ns <= 0:
        return []
    return [(i * 250.0, duration_ns(wall_ns * i // 4)) for i in range(5)]


def trace_view(store: Store, project: str, trace_id: str, *, span: str | None = None) -> TraceView:
    summary, steps = load_trace(store, project, trace_id)
    tree = analysis.build_tree(steps)
    if span is not None and span not in tree.by_id:
        raise PageError(404, f"no step {span[:40]!r} in trace {summary.trace_id}")
    attribution = analysis.latency_attribution(tree)
    selftimes = analysis.self_times(tree)
    findings = trace_findings(store, project, summary.trace_id)
    scores = trace_scores(store, project, summary.trace_id)
    big = len(tree.by_id) > BIG_TRACE
    focus = [span] if span else []
    expanded = analysis.expanded_rows(tree, budget=ROW_BUDGET if big else None, focus=focus)
    desc = analysis.descendants_count(tree)
    on_path = set(attribution.path_span_ids)
    by_span_findings: dict[str, list[FindingRow]] = {}
    for f in findings:
        for sid in f.span_ids:
            by_span_findings.setdefault(sid, []).append(f)
    score_counts: dict[str, int] = {}
    for sc in scores:
        if sc.span_id:
            score_counts[sc.span_id] = score_counts.get(sc.span_id, 0) + 1
    t0 = min((s.start_time_ns for s in steps), default=0)
    wall = max(attribution.wall_ns, 1)
    rows: list[RowView] = []
    for sid, depth in tree.order:
        s = tree.by_id[sid]
        pid = tree.parent.get(sid)
        visible = True
        while pid is not None:
            if pid not in expanded:
                visible = False
                break
            pid = tree.parent.get(pid)
        left = (s.start_time_ns - t0) * 1000 / wall
        fs = by_span_findings.get(sid, [])
        rows.append(
            RowView(
                step=s,
                depth=depth,
                category=analysis.category(s),
                self_ns=selftimes[sid],
                left=round(left, 2),
                width=round(max(s.duration_ns * 1000 / wall, 0.5), 2),
                children=len(tree.children.get(sid, [])),
                descendants=desc[sid],
                expanded=sid in expanded,
                visible=visible,
                critical=sid in on_path,
                finding_kinds=sorted({f.kind for f in fs}),
                finding_ids=[f.id for f in fs],
                score_count=score_counts.get(sid, 0),
            )
        )
    return TraceView(
        summary=summary,
        rows=rows,
        attribution=attribution,
        graph=analysis.agent_graph(tree),
        cost_by_agent=analysis.cost_by(steps, "agent"),
        cost_by_model=analysis.cost_by(steps, "model"),
        findings=findings,
        trace_scores=[x for x in scores if not x.span_id],
        step_scores=[x for x in scores if x.span_id],
        handoffs=[s for s in (tree.by_id[k] for k, _ in tree.order) if analysis.is_handoff(s)],
        names={sid: s.name for sid, s in tree.by_id.items()},
        collapsed_by_default=big,
        selected=step_detail(tree, span, findings, scores, selftimes[span]) if span else None,
        ticks=_ticks(attribution.wall_ns),
        linked_trace_ids=linked_trace_ids(store, project, summary.trace_id),
    )


def step_view(store: Store, project: str, trace_id: str, span_id: str) -> StepDetail:
    summary, steps = load_trace(store, project, trace_id)
    tree = analysis.build_tree(steps)
    if span_id not in tree.by_id:
        raise PageError(404, f"no step {span_id[:40]!r} in trace {summary.trace_id}")
    findings = trace_findings(store, project, summary.trace_id)
    scores = trace_scores(store, project, summary.trace_id)
    return step_detail(tree, span_id, findings, scores, analysis.self_times(tree)[span_id])


def graph_json(graph: analysis.AgentGraph) -> dict[str, Any]:
    """The agent graph as the static graph script reads it."""
    return {
        "nodes": [{"id": n.id, "label": n.label, "steps": n.steps, "errors": n.errors, "entry": n.entry,
                   "cost_usd": n.cost_usd} for n in graph.nodes],
        "edges": [{"source": e.source, "target": e.target, "kind": e.kind, "count": e.count} for e in graph.edges],
    }  # fmt: skip


# -- charts -------------------------------------------------------------------------------------------------------


def chart(
    title: str,
    points: list[tuple[datetime, str, float]],
    *,
    unit: Literal["usd", "ms", "count", "score"],
    window: Window,
    bucket: int,
    max_series: int = 8,
) -> dict[str, Any]:
    """Series keyed by name on a shared time axis (epoch seconds), missing buckets as 0 (null for scores); the
    biggest `max_series` keys by total, the rest summed as "other"."""
    totals: dict[str, float] = {}
    for _, key, v in points:
        totals[key or "(none)"] = totals.get(key or "(none)", 0.0) + abs(v)
    keep = [k for k, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:max_series]]
    lo = int(window.since.timestamp()) // bucket * bucket
    hi = int(min(window.until, datetime.now(UTC)).timestamp())
    xs = list(range(lo, hi + 1, bucket))
    index = {x: i for i, x in enumerate(xs)}
    fill: float | None = None if unit == "score" else 0.0
    series: dict[str, list[float | None]] = {k: [fill] * len(xs) for k in keep}
    for at, key, v in points:
        k = key or "(none)"
        x = int(at.timestamp()) // bucket * bucket
        if x not in index:
            continue
        if k not in series:
            k = "other"
            series.setdefault(k, [fill] * len(xs))
        cur = series[k][index[x]]
        series[k][index[x]] = v if cur is None or unit == "score" else cur + v
    return {"title": title, "unit": unit, "x": xs, "series": [{"label": k, "values": v} for k, v in series.items()]}


# -- agents -------------------------------------------------------------------------------------------------------


@dataclass
class AgentRow:
    stats: GroupStats
    findings: int
    wasted_cost_usd: float
    mean_score: float | None


@dataclass
class AgentsView:
    window: Window
    agents: list[AgentRow]
    charts: list[dict[str, Any]]
    agent: str | None = None
    by: str = "slowest"
    steps: list[StepRow] = field(default_factory=list)
    findings: list[FindingRow] = field(default_factory=list)


def agents_view(
    store: Store, project: str, window: Window, *, agent: str | None = None, by: TopBy = "slowest"
) -> AgentsView:
    bucket = window.bucket_seconds()
    stats, found, means, series = concurrently(
        lambda: group_stats(store, project, window.since, window.until, "agent", key=agent),
        lambda: findings_by_agent(store, project, window.since, window.until),
        lambda: agent_mean_scores(store, project, window.since, window.until),
        lambda: time_series(store, project, window.since, window.until, "agent", bucket_seconds=bucket, key=agent),
    )
    rows = [
        AgentRow(stats=g, findings=found.get(g.key, {}).get("findings", 0),
                 wasted_cost_usd=found.get(g.key, {}).get("wasted_cost_usd", 0.0), mean_score=means.get(g.key))
        for g in stats
    ]  # fmt: skip
    charts = [
        chart("Calls", [(p.bucket, p.key, p.calls) for p in series], unit="count", window=window, bucket=bucket),
        chart("Errors", [(p.bucket, p.key, p.errors) for p in series], unit="count", window=window, bucket=bucket),
        chart("p95 step latency", [(p.bucket, p.key, p.p95_ms) for p in series], unit="ms", window=window,
              bucket=bucket),
        chart("Cost", [(p.bucket, p.key, p.cost_usd) for p in series], unit="usd", window=window, bucket=bucket),
    ]  # fmt: skip
    view = AgentsView(window=window, agents=rows, charts=charts, agent=agent, by=by)
    if agent:
        view.steps = top_steps(store, project, window.since, window.until, agent=agent, by=by)
        view.findings = recent_findings(store, project, window.since, window.until, agent=agent)
    return view


# -- models / cost ------------------------------------------------------------------------------------------------


@dataclass
class Spend:
    """Tokens and cost of one key (an agent) over the window."""

    key: str
    tokens: int
    cost_usd: float


def spend_by_key(points: list[CostPoint]) -> list[Spend]:
    """A cost series folded into totals per key, most expensive first (the page's spend-by-agent table)."""
    totals: dict[str, Spend] = {}
    for p in points:
        spend = totals.setdefault(p.key, Spend(p.key, 0, 0.0))
        spend.tokens += p.tokens
        spend.cost_usd += p.cost_usd
    return sorted(totals.values(), key=lambda s: (-s.cost_usd, s.key))


@dataclass
class ModelsView:
    window: Window
    project: str
    models: list[GroupStats]
    agents: list[Spend]
    total_cost_usd: float
    total_tokens: int
    unpriced: list[UnpricedModel]
    unpriced_calls: int
    top_traces: list[TraceSummary]
    charts: list[dict[str, Any]]


def models_view(store: Store, project: str, window: Window) -> ModelsView:
    bucket = window.bucket_seconds()
    models, spend, top = concurrently(
        lambda: group_stats(store, project, window.since, window.until, "model"),
        lambda: costs(store, project, window.since, window.until, bucket_seconds=bucket),
        lambda: list_traces(store, project, TraceFilter(since=window.since, until=window.until, sort="cost", limit=10)),
    )
    by_model, by_agent, unpriced = spend.by_model, spend.by_agent, spend.unpriced
    charts = [
        chart("Spend by model", [(p.bucket, p.key, p.cost_usd) for p in by_model], unit="usd", window=window,
              bucket=bucket),
        chart("Spend by agent", [(p.bucket, p.key, p.cost_usd) for p in by_agent], unit="usd", window=window,
              bucket=bucket),
        chart("Tokens by model", [(p.bucket, p.key, p.tokens) for p in by_model], unit="count", window=window,
              bucket=bucket),
    ]  # fmt: skip
    return ModelsView(
        window=window, project=project, models=models, agents=spend_by_key(by_agent),
        total_cost_usd=sum(m.cost_usd for m in models),
        total_tokens=sum(m.input_tokens + m.output_tokens for m in models),
        unpriced=unpriced, unpriced_calls=sum(u.calls for u in unpriced),
        top_traces=[t for t in top.traces if t.cost_usd], charts=charts,
    )  # fmt: skip


# -- evals ----------------------------------------------------------------------------------------------------------


@dataclass
class EvalsView:
    window: Window
    runs: list[EvalRunRow]
    groups: list[ScoreGroup]
    failing: list[Score]
    charts: list[dict[str, Any]]
    suite: str | None = None


def evals_view(store: Store, project: str, window: Window, *, suite: str | None = None) -> EvalsView:
    bucket = window.bucket_seconds()
    groups = score_groups(store, project, window.since, window.until)
    trend = score_trend(store, project, window.since, window.until, bucket_seconds=bucket)
    if suite:
        groups = [g for g in groups if g.suite == suite]
        trend = [p for p in trend if p.suite == suite]
    points = [(p.bucket, f"{p.suite}/{p.name}" if p.suite else p.name, p.mean or 0.0) for p in trend
              if p.mean is not None]  # fmt: skip
    return EvalsView(
        window=window, runs=eval_runs(store, project), groups=groups,
        failing=failing_scores(store, project, window.since, window.until, suite=suite),
        charts=[chart("Mean score", points, unit="score", window=window, bucket=bucket)] if points else [],
        suite=suite,
    )  # fmt: skip


# -- alerts ---------------------------------------------------------------------------------------------------------


@dataclass
class AlertsView:
    window: Window
    states: list[AlertState]
    history: list[AlertEventRow]
    running: bool  # alert evaluation runs in this server (rules can be listed and edited)
    rules: list[dict[str, Any]] = field(default_factory=list)  # every rule with state, instances, origin, source
    silences: list[dict[str, Any]] = field(default_factory=list)  # the active ones
    evaluation: dict[str, Any] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)


def _rule_source(service: AlertService, name: str, origin: str) -> str:
    """'file', 'default' or 'api' (an API rule replacing a file / default rule says so)."""
    in_file = name in {r.name for r in service.engine.config.rules}
    shipped = service.engine.config.include_defaults and name in {r.name for r in DEFAULT_RULES}
    if origin == "api":
        return "api (replaces file rule)" if in_file else "api (replaces default)" if shipped else "api"
    return "file" if in_file or not shipped else "default"


def alerts_view(store: Store, project: str, window: Window, service: AlertService | None) -> AlertsView:
    """Rule states and firings from the store; with the alert service, every rule of the project and the silences."""
    states, history = concurrently(
        lambda: alert_states(store, project), lambda: alert_history(store, project, window.since)
    )
    view = AlertsView(window=window, states=states, history=history, running=service is not None)
    if service is not None:
        overview = service.overview(project)
        view.rules = [{**r, "source": _rule_source(service, r["name"], r["origin"])} for r in overview["rules"]]
        view.silences, view.evaluation, view.metrics = overview["silences"], overview["evaluation"], overview["metrics"]
    return view
