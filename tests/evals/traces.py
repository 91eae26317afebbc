"""Crafted traces for the evals tests: `step(...)` builds one Step, `trace(...)` a TraceData with its summary."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from tracehouse.domain.model import Status, Step, StepType
from tracehouse.evals.experiments import summarise
from tracehouse.evals.model import TraceData

T0 = 1_764_000_000_000_000_000  # a fixed start, in ns
_ids = itertools.count(1)


def new_trace_id() -> str:
    return uuid.uuid4().hex


def step(
    name: str,
    *,
    trace_id: str = "",
    span_id: str = "",
    parent: str = "",
    agent: str = "",
    operation: str = "",
    step_type: StepType = StepType.OTHER,
    start_ms: float = 0,
    duration_ms: float = 10,
    output: str = "",
    input: str = "",
    status: Status = Status.OK,
    retry_attempt: int = 0,
    content_hash: str = "",
    cost_usd: float | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    attributes: dict[str, str] | None = None,
    project_id: str = "p",
    **extra: Any,
) -> Step:
    start = T0 + int(start_ms * 1e6)
    return Step(
        project_id=project_id,
        trace_id=trace_id,
        span_id=span_id or f"{next(_ids):016x}",
        parent_span_id=parent,
        start_time_ns=start,
        end_time_ns=start + int(duration_ms * 1e6),
        name=name,
        agent=agent,
        operation=operation,
        step_type=step_type,
        output_preview=output,
        input_preview=input,
        status=status,
        retry_attempt=retry_attempt,
        content_hash=content_hash,
        cost_usd=cost_usd,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        attributes=attributes or {},
        **extra,
    )


def trace(
    *steps: Step, trace_id: str | None = None, expected: Any = None, findings: list[dict[str, Any]] | None = None
) -> TraceData:
    tid = trace_id or new_trace_id()
    for s in steps:
        s.trace_id = tid
    return TraceData(summary=summarise(tid, list(steps)), steps=list(steps), findings=findings or [], expected=expected)


def simple(
    output: str = "The answer is 42. Source: wiki", *, input: str = "what is the answer?", **root: Any
) -> TraceData:
    """A root workflow with one agent and one LLM call under it; the root carries the final output."""
    r = step(
        "invoke_workflow qa",
        operation="invoke_workflow",
        step_type=StepType.WORKFLOW,
        agent="qa",
        duration_ms=root.pop("duration_ms", 100),
        output=output,
        input=input,
        **root,
    )
    a = step(
        "invoke_agent writer",
        parent=r.span_id,
        agent="writer",
        operation="invoke_agent",
        step_type=StepType.AGENT,
        start_ms=1,
        duration_ms=80,
        output=output,
        attributes={"gen_ai.agent.version": "2"},
    )
    llm = step(
        "chat gpt-4o-mini",
        parent=a.span_id,
        agent="writer",
        operation="chat",
        step_type=StepType.LLM,
        start_ms=2,
        duration_ms=70,
        output=output,
        input_tokens=100,
        output_tokens=20,
        cost_usd=0.001,
    )
    return trace(r, a, llm)
