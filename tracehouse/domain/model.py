"""The records every part shares: a `Step` is one span, normalised; field names are the ClickHouse `steps` columns
and the JSON API's keys, so a reader maps one onto the other at a glance."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class StepType(StrEnum):
    LLM = "llm"
    TOOL = "tool"
    AGENT = "agent"
    WORKFLOW = "workflow"
    RETRIEVAL = "retrieval"
    EMBEDDING = "embedding"
    HANDOFF = "handoff"
    OTHER = "other"


class Status(StrEnum):
    UNSET = "unset"
    OK = "ok"
    ERROR = "error"


@dataclass(slots=True)
class Event:
    time_ns: int
    name: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Link:
    trace_id: str
    span_id: str


@dataclass(slots=True, frozen=True)
class ToolCall:
    """A tool the model asked for in its answer (whether or not a span executed it)."""

    id: str
    name: str


@dataclass(slots=True)
class Step:
    """One span as tracehouse understands it.

    Token and cost fields are None when the span did not say (unknown is not zero). Usage sits only on the innermost
    LLM step: a wrapper whose LLM child reports the same call keeps its raw numbers in `attributes` only.
    `retry_attempt` is 0 when the span carries no attempt number, else 1 for the first attempt, 2 for the first retry.

    Some fields are decided by the whole trace, not by the span alone (`tracehouse.domain.attribution`): the agent, the
    step type of a call that made no request, usage on a wrapper, hand-off ends. Where those rules changed what the
    span itself said, `own` keeps the span's own value (field name -> value as text), so the rules can be applied
    again to the whole trace, by the finaliser, with the same result whatever the order the spans arrived in.
    """

    project_id: str
    trace_id: str  # 32 lowercase hex
    span_id: str  # 16 lowercase hex
    parent_span_id: str  # "" for a root
    start_time_ns: int
    end_time_ns: int
    name: str
    span_kind: str = "INTERNAL"  # INTERNAL / SERVER / CLIENT / PRODUCER / CONSUMER / UNSPECIFIED
    status: Status = Status.UNSET
    status_message: str = ""
    service: str = ""
    scope: str = ""  # instrumentation scope name: which library emitted the span
    agent: str = ""
    agent_id: str = ""
    workflow: str = ""
    operation: str = ""
    step_type: StepType = StepType.OTHER
    provider: str = ""
    request_model: str = ""
    response_model: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: float | None = None
    finish_reasons: list[str] = field(default_factory=list)
    tool_name: str = ""
    tool_call_id: str = ""
    handoff_source: str = ""
    handoff_target: str = ""
    conversation_id: str = ""
    retry_attempt: int = 0
    content_hash: str = ""
    input_preview: str = ""
    output_preview: str = ""
    error_type: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    resource_attributes: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    own: dict[str, str] = field(default_factory=dict)
    dropped_attributes: int = 0  # attributes cut by tracehouse's bounds (not the sender's own drop count)

    @property
    def duration_ns(self) -> int:
        return max(self.end_time_ns - self.start_time_ns, 0)
