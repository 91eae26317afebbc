"""What each dashboard page shows, assembled from the store and the trace analysis: one function per page returning
dataclasses, used both by the HTML page and by its JSON twin (so the two can never disagree)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, Literal

from tracehouse.dashboard import analysis
from tracehouse.dashboard.content import ChatView, chat_view
from tracehouse.dashboard.web import PageError, Window
from tracehouse.domain.messages import CONTENT_EVENTS, Transcript, is_content_attribute, transcript
from tracehouse.domain.model import Step
from tracehouse.evals.alerting.service import AlertService
from tracehouse.store import (
    GroupStats,
    Store,
    TraceFilter,
    TracePage,
    TraceSummary,
    get_trace_summary,
    group_stats,
    linked_counts,
    linked_trace_ids,
    list_traces,
    time_series,
)
from tracehouse.store.alerts import AlertEventRow, AlertState, alert_history, alert_states
from tracehouse.store.client import iso_z
from tracehouse.store.costs import CostPoint, UnpricedModel, costs
from tracehouse.store.findings import (
    Finding,
    finding_counts,
    findings_by_agent,
    recent_findings,
    trace_findings,
    traces_with_findings,
)
from tracehouse.store.interrupts import InterruptRecord, list_interrupts
from tracehouse.store.scores import (
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
from tracehouse.store.steps import (
    Facets,
    StepRow,
    TopBy,
    get_steps_by_id,
    get_trace_outline,
    get_trace_steps_light,
    project_has_data,
    top_steps,
    trace_facets,
)

BIG_TRACE = 300  # above this many steps, only the top tree levels that fit in ROW_BUDGET start expanded
ROW_BUDGET = 250
MAX_ROWS = 2000  # a big trace's page never sends more rows than this, whatever a deep link opens
TRACE_ID_LEN = 32


def to_jsonable(value: Any) -> Any:
    """Dataclasses, datetimes and enums as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return iso_z(value)
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
    return TraceListView(
        page=page, facets=trace_facets(store, project, flt.since, flt.until) if facets else empty, has_data=has_data
    )


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
    findings: list[Finding]
    scores: list[Score]
    self_ns: int
    attributes: list[tuple[str, str]]  # less the message content, which `messages` shows
    resource_attributes: list[tuple[str, str]]
    messages: Transcript
    chat: ChatView
    content_attributes: int  # attributes left out of `attributes` because `messages` shows them
    content_events: frozenset[str] = CONTENT_EVENTS


@dataclass
class TraceView:
    summary: TraceSummary
    rows: list[RowView]
    attribution: analysis.Attribution
    graph: analysis.AgentGraph
    cost_by_agent: list[analysis.CostRow]
    cost_by_model: list[analysis.CostRow]
    findings: list[Finding]
    trace_scores: list[Score]
    step_scores: list[Score]
    handoffs: list[Step]
    names: dict[str, str]  # span id -> display name, for links
    collapsed_by_default: bool
    selected: StepDetail | None = None
    ticks: list[tuple[float, str]] = field(default_factory=list)
    linked_trace_ids: list[str] = field(default_factory=list)  # joined by span links, either direction
    step_count: int = 0  # steps in the trace (a big trace sends fewer rows)
    truncated: bool = False  # rows stopped at MAX_ROWS


def _check_trace_id(trace_id: str) -> str:
    tid = trace_id.strip().lower()
    if len(tid) != TRACE_ID_LEN or any(c not in "0123456789abcdef" for c in tid):
        raise PageError(400, f"trace id must be 32 hexadecimal characters (got {trace_id[:80]!r})")
    return tid


def _full_step(store: Store, project: str, summary: TraceSummary, span_id: str) -> Step | None:
    return get_steps_by_id(
        store, project, summary.trace_id, [span_id], around=(summary.start_time, summary.end_time)
    ).get(span_id)


def step_detail(
    tree: analysis.Tree,
    span_id: str,
    findings: list[Finding],
    scores: list[Score],
    self_ns: int,
    full: Step | None = None,
) -> StepDetail:
    """The step panel; `full` is the step with every column (the tree may hold it without content and maps)."""
    s = full or tree.by_id[span_id]
    messages = transcript(s)
    asked = {c.id for m in messages.output for c in m.tool_calls if c.id}
    ran_by = {
        t.tool_call_id: sid for sid, t in tree.by_id.items() if asked and t.tool_call_id in asked and sid != span_id
    }
    return StepDetail(
        step=s,
        why=analysis.why(tree, span_id),
        findings=[f for f in findings if span_id in f.span_ids],
        scores=[x for x in scores if x.span_id == span_id],
        self_ns=self_ns,
        attributes=sorted((k, v) for k, v in s.attributes.items() if not is_content_attribute(k)),
        content_attributes=sum(1 for k in s.attributes if is_content_attribute(k)),
        resource_attributes=sorted(s.resource_attributes.items()),
        messages=messages,
        chat=chat_view(messages, s.span_id, ran_by),
    )


def _ticks(wall_ns: int) -> list[tuple[float, str]]:
    from tracehouse.dashboard.format import duration_ns

    if wall_ns <= 0:
        return []
    return [(i * 250.0, duration_ns(wall_ns * i // 4)) for i in range(5)]


def self_ns(tree: analysis.Tree, span_id: str) -> int:
    """One step's own time (`analysis.self_times` over the step and its children only): a page needs it for the
    rows it sends, not for every step of a 100k-step trace."""
    step = tree.by_id[span_id]
    return analysis.self_times(analysis.build_tree([step, *tree.child_steps(step)]))[span_id]


@dataclass
class _TraceShape:
    """One trace analysed once: what every row of its step tree is drawn from."""

    summary: TraceSummary
    steps: list[Step]
    tree: analysis.Tree
    attribution: analysis.Attribution
    descendants: dict[str, int]
    on_path: set[str]
    findings: list[Finding]
    scores: list[Score]
    findings_by_span: dict[str, list[Finding]]
    score_counts: dict[str, int]
    t0: int
    wall: int

    def row(self, sid: str, depth: int, *, expanded: bool, visible: bool) -> RowView:
        s = self.tree.by_id[sid]
        fs = self.findings_by_span.get(sid, [])
        return RowView(
            step=s,
            depth=depth,
            category=analysis.category(s),
            self_ns=self_ns(self.tree, sid),
            left=round((s.start_time_ns - self.t0) * 1000 / self.wall, 2),
            width=round(max(s.duration_ns * 1000 / self.wall, 0.5), 2),
            children=len(self.tree.children.get(sid, [])),
            descendants=self.descendants[sid],
            expanded=expanded,
            visible=visible,
            critical=sid in self.on_path,
            finding_kinds=sorted({f.kind for f in fs}),
            finding_ids=[f.id for f in fs],
            score_count=self.score_counts.get(sid, 0),
        )


@dataclass
class _Analysed:
    """What a trace's steps alone decide (the costly part of its page): kept a short while for a big trace, so
    opening its subtrees and steps does not analyse all of it again."""

    steps: list[Step]
    tree: analysis.Tree
    attribution: analysis.Attribution
    descendants: dict[str, int]
    at: float


_ANALYSED: dict[tuple[Any, ...], _Analysed] = {}
_ANALYSED_LOCK = threading.Lock()
ANALYSED_TTL_S = 120.0  # a big trace's analysis is reused this long, while its summary (span count, end) is unchanged
ANALYSED_MAX = 1  # big traces kept at once (~150-250 MB each at 100k steps)


_ORDERS: dict[tuple[Any, ...], tuple[float, list[str]]] = {}
ORDERS_MAX = 8  # ~8 MB each at 100k steps


def _summary_key(project: str, summary: TraceSummary) -> tuple[Any, ...]:
    """What changes when a trace gains or changes steps: a kept result is used only while this stays the same."""
    return (project, summary.trace_id, summary.spans, summary.end_time, summary.errors)


def step_order(store: Store, project: str, summary: TraceSummary) -> list[str]:
    """A trace's span ids in tree order (`TraceTree.order`), from its steps' ids, parents and start times. Kept for
    `ANALYSED_TTL_S` like the analysis, so a client paging through a 100k-step trace works the order out once."""
    key, now = _summary_key(project, summary), time.monotonic()
    with _ANALYSED_LOCK:
        for k in [k for k, (at, _) in _ORDERS.items() if now - at > ANALYSED_TTL_S]:
            del _ORDERS[k]
        if key in _ORDERS:
            return _ORDERS[key][1]
        analysed = _ANALYSED.get(key)
    if analysed is not None:
        order = [sid for sid, _ in analysed.tree.order]
    else:
        around = (summary.start_time, summary.end_time)
        outline = get_trace_outline(store, project, summary.trace_id, around=around)
        order = [sid for sid, _ in analysis.build_tree(outline).order]
    with _ANALYSED_LOCK:
        while len(_ORDERS) >= ORDERS_MAX:
            del _ORDERS[min(_ORDERS, key=lambda k: _ORDERS[k][0])]
        _ORDERS[key] = (now, order)
    return order


def _analyse(store: Store, project: str, trace_id: str) -> tuple[TraceSummary, _Analysed]:
    tid = _check_trace_id(trace_id)
    summary = get_trace_summary(store, project, tid)
    if summary is None:
        raise PageError(404, f"no trace {tid} in this project (it may be older than the retention, or not sent yet)")
    key = _summary_key(project, summary)
    now = time.monotonic()
    with _ANALYSED_LOCK:
        for k in [k for k, v in _ANALYSED.items() if now - v.at > ANALYSED_TTL_S]:
            del _ANALYSED[k]
        hit = _ANALYSED.get(key)
    if hit is not None:
        return summary, hit
    steps = get_trace_steps_light(store, project, tid, around=(summary.start_time, summary.end_time))
    tree = analysis.build_tree(steps)
    done = _Analysed(
        steps=steps,
        tree=tree,
        attribution=analysis.latency_attribution(tree),
        descendants=analysis.descendants_count(tree),
        at=now,
    )
    if len(steps) > BIG_TRACE:
        with _ANALYSED_LOCK:
            while len(_ANALYSED) >= ANALYSED_MAX:
                del _ANALYSED[min(_ANALYSED, key=lambda k: _ANALYSED[k].at)]
            _ANALYSED[key] = done
    return summary, done


def _trace_shape(store: Store, project: str, trace_id: str) -> _TraceShape:
    summary, done = _analyse(store, project, trace_id)
    findings = trace_findings(store, project, summary.trace_id)
    scores = trace_scores(store, project, summary.trace_id)
    by_span_findings: dict[str, list[Finding]] = {}
    for f in findings:
        for sid in f.span_ids:
            by_span_findings.setdefault(sid, []).append(f)
    score_counts: dict[str, int] = {}
    for sc in scores:
        if sc.span_id:
            score_counts[sc.span_id] = score_counts.get(sc.span_id, 0) + 1
    return _TraceShape(
        summary=summary,
        steps=done.steps,
        tree=done.tree,
        attribution=done.attribution,
        descendants=done.descendants,
        on_path=set(done.attribution.path_span_ids),
        findings=findings,
        scores=scores,
        findings_by_span=by_span_findings,
        score_counts=score_counts,
        t0=min((s.start_time_ns for s in done.steps), default=0),
        wall=max(done.attribution.wall_ns, 1),
    )


def trace_view(store: Store, project: str, trace_id: str, *, span: str | None = None) -> TraceView:
    """The trace page. A big trace (> BIG_TRACE steps) sends only its shown rows, at most MAX_ROWS: the rows under a
    collapsed step are fetched when it is opened (`trace_children`), so the page's size does not grow with the
    trace."""
    shape = _trace_shape(store, project, trace_id)
    tree, summary = shape.tree, shape.summary
    if span is not None and span not in tree.by_id:
        raise PageError(404, f"no step {span[:40]!r} in trace {summary.trace_id}")
    big = len(tree.by_id) > BIG_TRACE
    expanded = analysis.expanded_rows(tree, budget=ROW_BUDGET if big else None, focus=[span] if span else [])
    rows: list[RowView] = []
    truncated = False
    for sid, depth in tree.order:
        pid = tree.parent.get(sid)
        visible = True
        while pid is not None:
            if pid not in expanded:
                visible = False
                break
            pid = tree.parent.get(pid)
        if big and not visible:
            continue  # not sent: trace.js fetches a subtree when its row is opened
        rows.append(shape.row(sid, depth, expanded=sid in expanded, visible=visible))
        if big and len(rows) >= MAX_ROWS:
            truncated = True
            break
    scores = shape.scores
    return TraceView(
        summary=summary,
        rows=rows,
        attribution=shape.attribution,
        graph=analysis.agent_graph(tree),
        cost_by_agent=analysis.cost_by(shape.steps, "agent"),
        cost_by_model=analysis.cost_by(shape.steps, "model"),
        findings=shape.findings,
        trace_scores=[x for x in scores if not x.span_id],
        step_scores=[x for x in scores if x.span_id],
        handoffs=[s for s in (tree.by_id[k] for k, _ in tree.order) if analysis.is_handoff(s)],
        names={sid: s.name for sid, s in tree.by_id.items()},
        collapsed_by_default=big,
        selected=_selected(store, project, shape, span),
        ticks=_ticks(shape.attribution.wall_ns),
        linked_trace_ids=linked_trace_ids(store, project, summary.trace_id),
        step_count=len(tree.by_id),
        truncated=truncated,
    )


def _selected(store: Store, project: str, shape: _TraceShape, span: str | None) -> StepDetail | None:
    """The step panel's step: the one asked for, else the trace's first root (what the whole run was given and
    answered)."""
    span = span or (shape.tree.order[0][0] if shape.tree.order else None)
    if span is None:
        return None
    full = _full_step(store, project, shape.summary, span)
    return step_detail(shape.tree, span, shape.findings, shape.scores, self_ns(shape.tree, span), full)


@dataclass
class ChildrenView:
    """The direct children of one step, as tree rows (each collapsed), for opening a subtree on the trace page."""

    trace_id: str
    span_id: str
    depth: int  # of the children
    total: int  # children in all
    remaining: int  # children after this page
    rows: list[RowView]
    next_offset: int | None


def trace_children(
    store: Store, project: str, trace_id: str, span_id: str, *, offset: int = 0, limit: int = 500
) -> ChildrenView:
    """Children `offset`..`offset + limit` of a step, in tree order (by start time)."""
    shape = _trace_shape(store, project, trace_id)
    tree = shape.tree
    if span_id not in tree.by_id:
        raise PageError(404, f"no step {span_id[:40]!r} in trace {shape.summary.trace_id}")
    depth = 0
    for _ in tree.ancestors(tree.by_id[span_id]):
        depth += 1
    kids = tree.children.get(span_id, [])
    page = kids[offset : offset + limit]
    return ChildrenView(
        trace_id=shape.summary.trace_id,
        span_id=span_id,
        depth=depth + 1,
        total=len(kids),
        remaining=max(len(kids) - offset - len(page), 0),
        rows=[shape.row(sid, depth + 1, expanded=False, visible=True) for sid in page],
        next_offset=offset + limit if offset + limit < len(kids) else None,
    )


def step_view(store: Store, project: str, trace_id: str, span_id: str) -> StepDetail:
    summary, done = _analyse(store, project, trace_id)
    if span_id not in done.tree.by_id:
        raise PageError(404, f"no step {span_id[:40]!r} in trace {summary.trace_id}")
    findings = trace_findings(store, project, summary.trace_id)
    scores = trace_scores(store, project, summary.trace_id)
    full = _full_step(store, project, summary, span_id)
    return step_detail(done.tree, span_id, findings, scores, self_ns(done.tree, span_id), full)


def graph_json(graph: analysis.AgentGraph) -> dict[str, Any]:
    """The agent graph as the static graph script reads it."""
    return {
        "nodes": [
            {
                "id": n.id,
                "label": n.label,
                "steps": n.steps,
                "errors": n.errors,
                "entry": n.entry,
                "cost_usd": n.cost_usd,
            }
            for n in graph.nodes
        ],
        "edges": [{"source": e.source, "target": e.target, "kind": e.kind, "count": e.count} for e in graph.edges],
    }


# -- charts -------------------------------------------------------------------------------------------------------

ChartUnit = Literal["usd", "ms", "count", "score"]


def chart(
    title: str,
    points: list[tuple[datetime, str, float]],
    *,
    unit: ChartUnit,
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
    findings: list[Finding] = field(default_factory=list)


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
        AgentRow(
            stats=g,
            findings=found.get(g.key, {}).get("findings", 0),
            wasted_cost_usd=found.get(g.key, {}).get("wasted_cost_usd", 0.0),
            mean_score=means.get(g.key),
        )
        for g in stats
    ]
    charts = [
        chart("Calls", [(p.bucket, p.key, p.calls) for p in series], unit="count", window=window, bucket=bucket),
        chart("Errors", [(p.bucket, p.key, p.errors) for p in series], unit="count", window=window, bucket=bucket),
        chart(
            "p95 step latency", [(p.bucket, p.key, p.p95_ms) for p in series], unit="ms", window=window, bucket=bucket
        ),
        chart("Cost", [(p.bucket, p.key, p.cost_usd) for p in series], unit="usd", window=window, bucket=bucket),
    ]
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
    specs: tuple[tuple[str, list[CostPoint], ChartUnit], ...] = (
        ("Spend by model", by_model, "usd"),
        ("Spend by agent", by_agent, "usd"),
        ("Tokens by model", by_model, "count"),
    )
    charts = [
        chart(
            title,
            [(p.bucket, p.key, p.tokens if unit == "count" else p.cost_usd) for p in points],
            unit=unit,
            window=window,
            bucket=bucket,
        )
        for title, points, unit in specs
    ]
    return ModelsView(
        window=window,
        project=project,
        models=models,
        agents=spend_by_key(by_agent),
        total_cost_usd=sum(m.cost_usd for m in models),
        total_tokens=sum(m.input_tokens + m.output_tokens for m in models),
        unpriced=unpriced,
        unpriced_calls=sum(u.calls for u in unpriced),
        top_traces=[t for t in top.traces if t.cost_usd],
        charts=charts,
    )


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
    points = [
        (p.bucket, f"{p.suite}/{p.name}" if p.suite else p.name, p.mean or 0.0) for p in trend if p.mean is not None
    ]
    return EvalsView(
        window=window,
        runs=eval_runs(store, project),
        groups=groups,
        failing=failing_scores(store, project, window.since, window.until, suite=suite),
        charts=[chart("Mean score", points, unit="score", window=window, bucket=bucket)] if points else [],
        suite=suite,
    )


# -- alerts ---------------------------------------------------------------------------------------------------------


@dataclass
class AlertsView:
    window: Window
    states: list[AlertState]
    history: list[AlertEventRow]
    running: bool  # alert evaluation runs in this server (rules can be listed and edited)
    rules: list[dict[str, Any]] = field(default_factory=list)  # every rule with state, instances, origin
    silences: list[dict[str, Any]] = field(default_factory=list)  # the active ones
    evaluation: dict[str, Any] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)


def alerts_view(store: Store, project: str, window: Window, service: AlertService | None) -> AlertsView:
    """Rule states and firings from the store; with the alert service, every rule of the project and the silences."""
    states, history = concurrently(
        lambda: alert_states(store, project), lambda: alert_history(store, project, window.since)
    )
    view = AlertsView(window=window, states=states, history=history, running=service is not None)
    if service is not None:
        overview = service.overview(project)
        view.rules = overview["rules"]
        view.silences, view.evaluation, view.metrics = overview["silences"], overview["evaluation"], overview["metrics"]
    return view


def interrupt_json(record: InterruptRecord) -> dict[str, Any]:
    """One interrupt for the API and the page: the record's fields, its status, the schema under `answer_schema`."""
    out = {k: v for k, v in dataclasses.asdict(record).items() if k != "schema"}
    return {**out, "status": record.status, "answer_schema": record.schema}


def interrupt_list(store: Store, project: str, trace_id: str | None = None) -> list[dict[str, Any]]:
    """The Interrupts page and `GET /api/interrupts`: runs paused for a person, newest first."""
    return [interrupt_json(r) for r in list_interrupts(store, project, trace_id=trace_id)]
