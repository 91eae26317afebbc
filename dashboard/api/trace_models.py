"""The JSON the trace API answers, declared: what `/docs` shows and what outside checks rely on. Field names are the
`Step` / `TraceSummary` fields (the `steps` columns), plus the RFC 3339 times the routes add; a trace's summary is
the store's `TraceSummary` itself (its times serialised as RFC 3339)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from tracehouse.store.findings import Finding
from tracehouse.store.traces import TraceSummary


class EventOut(BaseModel):
    """A span event (an exception, a content event), its time in RFC 3339."""

    time: str
    name: str
    attributes: dict[str, str]


class LinkOut(BaseModel):
    """A span link: the span (often in another trace) this one follows from."""

    trace_id: str
    span_id: str


class ToolCallOut(BaseModel):
    """A tool the model asked for in this step, whether or not a span ran it."""

    id: str
    name: str


class StepOut(BaseModel):
    """One span as tracehouse understands it; `agent`, `step_type`, usage and hand-off ends are the trace rules'
    final answer (`tracehouse.domain.attribution`)."""

    project_id: str
    trace_id: str
    span_id: str
    parent_span_id: str
    start_time_ns: int
    end_time_ns: int
    start_time: str
    end_time: str
    duration_ms: float
    name: str
    span_kind: str
    status: str
    status_message: str
    service: str
    scope: str
    agent: str
    agent_id: str
    workflow: str
    operation: str
    step_type: str
    provider: str
    request_model: str
    response_model: str
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    cost_usd: float | None
    finish_reasons: list[str]
    tool_name: str
    tool_call_id: str
    handoff_source: str
    handoff_target: str
    conversation_id: str
    retry_attempt: int
    content_hash: str
    input_preview: str
    output_preview: str
    error_type: str
    attributes: dict[str, str]
    resource_attributes: dict[str, str]
    events: list[EventOut]
    links: list[LinkOut]
    tool_calls: list[ToolCallOut]
    dropped_attributes: int


class TraceListOut(BaseModel):
    """One page of the trace list; `next_cursor` fetches the next."""

    traces: list[TraceSummary]
    next_cursor: str | None


class TraceOut(BaseModel):
    """One trace: its summary, the traces joined to it by span links, and one page of its steps in tree order."""

    trace_id: str
    summary: TraceSummary
    linked_trace_ids: list[str]
    steps: list[StepOut]
    next_cursor: str | None


class RowOut(BaseModel):
    """A row of the trace page's step tree (waterfall offsets in thousandths of the trace's wall time)."""

    span_id: str
    parent_span_id: str
    depth: int
    name: str
    step_type: str
    status: str
    agent: str
    operation: str
    request_model: str
    tool_name: str
    handoff_target: str
    retry_attempt: int
    duration_ms: float
    duration: str
    category: str
    left: float
    width: float
    children: int
    descendants: int
    critical: bool
    finding_kinds: list[str]
    score_count: int


class ChildrenOut(BaseModel):
    """A page of one step's children."""

    trace_id: str
    span_id: str
    total: int
    remaining: int
    children: list[RowOut]
    next_cursor: str | None


class SegmentOut(BaseModel):
    """A stretch of the critical path spent in one step's own time."""

    span_id: str
    category: str
    start_time: str
    duration_ms: float


class LatencyOut(BaseModel):
    """Where the trace's time went: along the critical path (sums to the wall time) and as all work."""

    wall_ms: float
    critical_path_ms: dict[str, float]
    work_ms: dict[str, float]
    gap_ms: float
    critical_path: list[SegmentOut]
    critical_span_ids: list[str]


class HandoffOut(BaseModel):
    """One hand-off (each once), with the reason the SDK recorded."""

    span_id: str
    source: str
    target: str
    reason: str
    start_time: str


class AnalysisOut(BaseModel):
    """The trace page's analysis: latency, the agent graph, cost by agent and model, hand-offs, findings, scores."""

    trace_id: str
    summary: TraceSummary
    latency: LatencyOut
    agent_graph: dict[str, Any]
    cost_by_agent: list[dict[str, Any]]
    cost_by_model: list[dict[str, Any]]
    handoffs: list[HandoffOut]
    findings: list[Finding]
    scores: list[dict[str, Any]]


class WhyOut(BaseModel):
    """Why a step ran: its parent, the previous step beside it, the hand-off and the router decision that led to it."""

    parent_span_id: str | None
    previous_span_id: str | None
    handoff_span_id: str | None
    handoff_reason: str
    handoff_payload: str
    router_span_id: str | None
    router_decision: str


class MessageToolCallOut(BaseModel):
    """A tool call a message carries; `arguments` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str


class MessageOut(BaseModel):
    """One message, the same shape whichever convention the span spoke: `role` is system / user / assistant / tool
    (or "" when the span named none), `content` its text (media as `[image image/png]`-style placeholders), and a
    tool result carries the `tool_call_id` of the call it answers."""

    role: str
    content: str
    tool_calls: list[MessageToolCallOut]
    tool_call_id: str


class StepDetailOut(BaseModel):
    """One step with why it ran, its own time, findings, scores, and its messages (`input_messages`: what it was
    given, `output_messages`: what it answered; both empty when content was not captured)."""

    step: StepOut
    self_time_ms: float
    why: WhyOut
    findings: list[Finding]
    scores: list[dict[str, Any]]
    input_messages: list[MessageOut]
    output_messages: list[MessageOut]


class StatsOut(BaseModel):
    """Per-group numbers over the window, under the group's plural (`agents`, `models`, ...), and the time series
    when asked for."""

    model_config = ConfigDict(extra="allow")

    since: str
    until: str
    group_by: str
