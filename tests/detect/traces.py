"""A small builder of crafted traces for the detector tests: steps with real parent links and times."""

from __future__ import annotations

import itertools
import uuid

from tracehouse.domain.model import Status, Step, StepType
from tracehouse.sdk import semconv

_ids = itertools.count(1)


class TraceBuilder:
    """`b.step(...)` appends a step; times advance 1 ms per step unless given; returns the Step for parenting."""

    def __init__(self, project_id: str = "p", trace_id: str | None = None, t0_ns: int = 1_700_000_000_000_000_000):
        self.project_id = project_id
        self.trace_id = trace_id or uuid.uuid4().hex
        self.t = t0_ns
        self.steps: list[Step] = []

    def step(
        self,
        step_type: StepType,
        agent: str = "",
        parent: Step | None = None,
        *,
        name: str = "",
        tool: str = "",
        model: str = "",
        content_hash: str = "",
        tokens: int | None = None,
        cost: float | None = None,
        error: bool = False,
        attempt: int = 0,
        start: int | None = None,
        duration: int = 1_000_000,
        attributes: dict[str, str] | None = None,
        handoff: tuple[str, str] | None = None,
        output: str = "",
    ) -> Step:
        start_ns = self.t if start is None else start
        wrapper = step_type in (StepType.AGENT, StepType.WORKFLOW, StepType.HANDOFF)
        self.t = start_ns + (1000 if wrapper else duration + 1000)  # a wrapper's children start inside it
        operation = {
            StepType.LLM: "chat",
            StepType.TOOL: "execute_tool",
            StepType.HANDOFF: "execute_tool",
            StepType.AGENT: "invoke_agent",
            StepType.WORKFLOW: "invoke_workflow",
            StepType.RETRIEVAL: "retrieval",
            StepType.EMBEDDING: "embeddings",
        }.get(step_type, "")
        if handoff:
            tool = tool or f"{semconv.HANDOFF_TOOL_PREFIX}{handoff[1]}"
        s = Step(
            project_id=self.project_id,
            trace_id=self.trace_id,
            span_id=f"{next(_ids):016x}",
            parent_span_id=parent.span_id if parent else "",
            start_time_ns=start_ns,
            end_time_ns=start_ns + duration,
            name=name or f"{operation} {tool or model or agent}".strip(),
            status=Status.ERROR if error else Status.OK,
            agent=agent,
            operation=operation,
            step_type=step_type,
            request_model=model or ("gpt-4o-mini" if step_type == StepType.LLM else ""),
            provider="openai" if step_type == StepType.LLM else "",
            input_tokens=None if tokens is None else tokens // 2,
            output_tokens=None if tokens is None else tokens - tokens // 2,
            cost_usd=cost,
            tool_name=tool,
            handoff_source=handoff[0] if handoff else "",
            handoff_target=handoff[1] if handoff else "",
            retry_attempt=attempt,
            content_hash=content_hash,
            error_type="RateLimitError" if error else "",
            attributes=attributes or {},
            output_preview=output,
        )
        self.steps.append(s)
        return s

    def llm(self, agent: str, parent: Step | None = None, **kw: object) -> Step:
        kw.setdefault("tokens", 100)
        kw.setdefault("cost", 0.001)
        return self.step(StepType.LLM, agent, parent, **kw)  # type: ignore[arg-type]

    def agent(self, agent: str, parent: Step | None = None, **kw: object) -> Step:
        return self.step(StepType.AGENT, agent, parent, duration=kw.pop("duration", 50_000_000), **kw)  # type: ignore[arg-type]
